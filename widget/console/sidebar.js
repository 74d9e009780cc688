/*
 * The dialog lists in the sidebar: offered to me, mine, the queue, closed, and for admins every open dialog
 * (whoever has it, with its state and operator). What belongs where, live updates, rendering.
 */

import { api } from "./api.js";
import { renderHeader, reloadSelected, selectDialog } from "./dialog.js";
import { h } from "./dom.js";
import { countdown, relative, toDate, truncate } from "./format.js";
import { onLanguage, t } from "./i18n.js";
import { loadLead } from "./lead.js";
import { onFrame } from "./socket.js";
import { dialogName, isAdmin, isGuest, LISTS, myLogin, operatorName, PLACES, state, subscribe } from "./store.js";
import { toast } from "./toast.js";
import { customerTyping } from "./typing.js";
import { markSeen, setUnread, unreadOf, updateTitle } from "./unread.js";

const CLOSED_LIMIT = 50; // GET /api/dialogs?state=closed returns the latest 50; keep the live list the same size
const PREVIEW_CHARS = 90;

let refreshSeq = 0;
let ticks = 0;
// What the frames said while a refresh was on its way: the server's snapshot may predate them, so they are put
// back over it (dialog id -> {seq, d, list} or {seq, gone: lists}).
let liveSeq = 0;
const liveMoves = new Map();
// The closed list's older pages ("Show more"): the dialogs they brought (kept over each refresh, which fetches the
// first page only) and the cursor of the page after them (null: no more).
const olderClosed = new Map();
let closedNext = null;
let loadingMore = false;

const activity = (d) => toDate(d.last_message && d.last_message.ts) || toDate(d.closed_at) || toDate(d.created_at) || new Date(0);
const inMyLines = (d) => isAdmin() || ((state.me && state.me.lines) || []).includes(d.line_id);
const QUERY = { all: "open" }; // the REST list behind each sidebar list, when its name differs

/** The lists this operator has: "all" is an admin's. */
const myLists = () => (isAdmin() ? LISTS : [...PLACES, "invited"]);

/** Replace every list with the server's view (on sign-in, on each websocket hello, every 30 s). */
export async function refreshLists() {
  if (!state.running) return;
  const seq = ++refreshSeq;
  const since = liveSeq;
  const lists = myLists();
  let results;
  try {
    results = await Promise.all(lists.map((n) => api("GET", `/api/dialogs?state=${QUERY[n] || n}`)));
  } catch (e) {
    if (e.status !== 401 && e.status !== 0) toast(t("list.load_failed", { message: e.message }), e.code);
    return;
  }
  if (seq !== refreshSeq || !state.running) return; // a newer refresh is on its way
  LISTS.forEach((n) => state.lists[n].clear());
  const closedAt = lists.indexOf("closed");
  // once older pages are on screen, their cursor stays the way on; else the first page's says if there are more
  if (closedAt >= 0 && !olderClosed.size) closedNext = results[closedAt].next || null;
  lists.forEach((n, i) => {
    for (const d of results[i].dialogs || []) {
      const old = state.dialogs.get(d.id);
      if (old && old.last_message && !d.last_message) d.last_message = old.last_message;
      state.dialogs.set(d.id, d);
      state.lists[n].add(d.id);
      if (typeof d.unread === "number") setUnread(d.id, d.unread);
    }
  });
  for (const [id, d] of olderClosed) {
    if (!state.dialogs.has(id)) state.dialogs.set(id, d);
    if (state.dialogs.get(id).state === "closed") state.lists.closed.add(id);
  }
  for (const [id, move] of liveMoves) {
    if (move.seq <= since) liveMoves.delete(id); // the snapshot knows it
    else if (move.gone) move.gone.forEach((n) => state.lists[n].delete(id));
    else put(move.d, move.list);
  }
  for (const id of state.fresh) if (!state.lists.offered.has(id)) state.fresh.delete(id);
  renderLists();
  if (state.selectedId && state.dialogs.has(state.selectedId)) {
    state.selected = { ...state.selected, ...state.dialogs.get(state.selectedId) };
    renderHeader();
  }
  markSeen();
}

// ---- live updates

/** The dialog a frame carries, or our cached copy patched with what the frame implies. */
function dialogOf(f, patch) {
  if (f.dialog && f.dialog.id) return f.dialog;
  const cached = state.dialogs.get(f.dialog_id) || (state.selected && state.selected.id === f.dialog_id && state.selected);
  return cached ? { ...cached, ...patch } : null;
}

/** Which of my lists a dialog belongs to, judged by its own state (an admin is sent every dialog's frames). */
function listFor(d) {
  if (!d) return null;
  if (d.state === "closed") return isAdmin() || d.operator === myLogin() ? "closed" : null;
  if (d.state === "assigned") return d.operator === myLogin() ? "mine" : null;
  if (d.state === "offered") return (d.offered_to || []).includes(myLogin()) ? "offered" : null;
  if (d.state === "queued") return inMyLines(d) ? "queued" : null;
  return null;
}

function onOffered(f) {
  const d = dialogOf(f, { state: "offered" });
  if (!d) return;
  const list = f.dialog ? listFor(d) : "offered"; // a frame without its dialog can only be an offer to me
  placeDialog(d, list);
  if (list === "offered") state.fresh.add(d.id);
  renderLists();
}

function onAssigned(f) {
  const d = dialogOf(f, { state: "assigned", operator: f.operator });
  if (!d) { removeEverywhere(f.dialog_id, ["offered", "queued"]); return; }
  placeDialog(d, listFor(d));
  // Taking a dialog may make its taker the lead's responsible: show the card as it is now.
  if (f.dialog_id === state.selectedId && d.lead && d.lead.id) loadLead(d.lead.id);
}

function onWithdrawn(f) {
  // `operators`: whose offers went (an admin also hears of other operators' offers); older servers: mine
  const mineGone = !Array.isArray(f.operators) || f.operators.includes(myLogin());
  if (f.dialog && f.dialog.id) placeDialog(f.dialog, listFor(f.dialog));
  else if (mineGone) removeEverywhere(f.dialog_id, ["offered"]);
  // Someone else took it, it timed out or we skipped it: refresh the header so the buttons tell the truth.
  if (mineGone && f.dialog_id === state.selectedId) reloadSelected();
}

function onTransferred(f) {
  const d = dialogOf(f, {});
  if (!d) return;
  let target = listFor(d);
  if (!f.dialog || !f.dialog.state) target = f.to_operator === myLogin() ? "mine" : null;
  placeDialog(d, target);
  if (target === "offered") state.fresh.add(d.id);
}

function removeEverywhere(id, lists) {
  liveMoves.set(id, { seq: ++liveSeq, gone: lists });
  let changed = false;
  for (const n of lists) changed = state.lists[n].delete(id) || changed;
  state.fresh.delete(id);
  if (changed) renderLists();
}

/** Put a dialog into exactly one of my places (or none), into an admin's "all" while open. */
function put(d, list) {
  const old = state.dialogs.get(d.id);
  if (old && old.last_message && !d.last_message) d.last_message = old.last_message;
  state.dialogs.set(d.id, d);
  for (const n of PLACES) if (n !== list) state.lists[n].delete(d.id);
  if (list) state.lists[list].add(d.id);
  if (isAdmin() && d.state !== "closed") state.lists.all.add(d.id); else state.lists.all.delete(d.id);
  if (isGuest(d)) state.lists.invited.add(d.id); else state.lists.invited.delete(d.id);
  if (list !== "offered") state.fresh.delete(d.id);
  if (list !== "closed") olderClosed.delete(d.id); // reopened: no longer an old closed dialog
  if (list === "closed") trimClosed();
}

/** A frame moved a dialog: put it in its place and redraw whatever shows it. */
function placeDialog(d, list) {
  if (!d || !d.id) return;
  liveMoves.set(d.id, { seq: ++liveSeq, d, list });
  put(d, list);
  renderLists();
  if (d.id === state.selectedId) { state.selected = { ...state.selected, ...d }; renderHeader(); }
}

function trimClosed() {
  if (olderClosed.size) return; // the operator asked for older ones: the list grows instead
  const ids = [...state.lists.closed].sort((a, b) => activity(state.dialogs.get(b)) - activity(state.dialogs.get(a)));
  ids.slice(CLOSED_LIMIT).forEach((id) => state.lists.closed.delete(id));
}

onFrame("dialog.offered", onOffered);
onFrame("dialog.assigned", onAssigned);
onFrame("dialog.withdrawn", onWithdrawn);
onFrame("dialog.queued", (f) => { const d = dialogOf(f, { state: "queued" }); placeDialog(d, listFor(d)); });
onFrame("dialog.transferred", onTransferred);
// A guest is invited in or leaves (sent to the dialog's operator and to the guest): its "invited" list follows.
onFrame("dialog.invited", (f) => {
  const d = dialogOf(f, {});
  if (d && !(f.dialog && f.dialog.id) && f.guest) d.invited = [...new Set([...(d.invited || []), f.guest])];
  placeDialog(d, listFor(d));
});
onFrame("dialog.left", (f) => {
  const d = dialogOf(f, {});
  if (d && !(f.dialog && f.dialog.id) && f.guest) d.invited = (d.invited || []).filter((g) => g !== f.guest);
  placeDialog(d, listFor(d));
});
onFrame("dialog.closed", (f) => { const d = dialogOf(f, { state: "closed" }); placeDialog(d, listFor(d)); });

/** "Show more" under the closed list: the next page of older closed dialogs. */
async function loadMoreClosed() {
  if (!closedNext || loadingMore || !state.running) return;
  loadingMore = true;
  renderClosedMore();
  const cursor = closedNext;
  try {
    const res = await api("GET", `/api/dialogs?state=closed&cursor=${encodeURIComponent(cursor)}`);
    if (!state.running || cursor !== closedNext) return;
    for (const d of res.dialogs || []) {
      if (state.lists.closed.has(d.id)) continue;
      const old = state.dialogs.get(d.id);
      if (old && old.state !== "closed") continue; // reopened meanwhile: its live state wins
      state.dialogs.set(d.id, d);
      olderClosed.set(d.id, d);
      state.lists.closed.add(d.id);
      if (typeof d.unread === "number") setUnread(d.id, d.unread);
    }
    closedNext = res.next || null;
  } catch (e) {
    if (e.status !== 401) toast(t("list.closed.more_failed", { message: e.message }), e.code);
  } finally {
    loadingMore = false;
    renderLists();
  }
}

/** Sign-out: the next operator starts from the first page. */
export function forgetClosedPages() {
  olderClosed.clear();
  closedNext = null;
  loadingMore = false;
}

const closedMore = h("button", { type: "button", class: "btn dlist-more", "data-more": "closed", onclick: loadMoreClosed });
document.querySelector('[data-list="closed"] .items').after(closedMore);

function renderClosedMore() {
  closedMore.hidden = !closedNext;
  closedMore.disabled = loadingMore;
  closedMore.textContent = loadingMore ? t("list.closed.loading") : t("list.closed.more");
}

// ---- rendering

export function renderLists() {
  for (const n of LISTS) {
    const section = document.querySelector(`[data-list="${n}"]`);
    section.hidden = n === "all" && !isAdmin();
    const dialogs = [...state.lists[n]].map((id) => state.dialogs.get(id)).filter(Boolean)
      .sort((a, b) => activity(b) - activity(a));
    section.querySelector(".items").replaceChildren(...dialogs.map((d) => renderItem(d, n)));
    section.querySelector(".count").textContent = String(dialogs.length);
    section.classList.toggle("is-empty", dialogs.length === 0);
    section.classList.toggle("has-fresh", n === "offered" && state.fresh.size > 0);
  }
  renderClosedMore();
  updateTitle();
}

/** Who has the dialog, for the admin's list of all: its operator, or whom it is offered to. */
function holder(d) {
  if (d.operator) return operatorName(d.operator);
  if (d.state === "offered") {
    return t("item.offered_to", { names: (d.offered_to || []).map(operatorName).join(", ") || t("item.nobody") });
  }
  return "";
}

function renderItem(d, list) {
  const lm = d.last_message;
  let preview = lm ? truncate(lm.text, PREVIEW_CHARS) : t("item.no_messages");
  if (lm && lm.visibility === "internal") preview = t("item.note", { text: preview });
  else if (lm && lm.author_kind && lm.author_kind !== "customer") preview = `↩ ${preview}`;
  const ts = (lm && lm.ts) || d.closed_at || d.created_at;
  const item = h("li", {
    class: "item" + (d.id === state.selectedId ? " is-selected" : "") + (state.fresh.has(d.id) ? " is-fresh" : "")
      + (unreadOf(d.id) ? " is-unread" : "") + (customerTyping(d.id) ? " is-typing" : ""),
    "data-dialog-id": d.id,
    "data-state": d.state || null,
    tabindex: "0",
    role: "button",
    "aria-current": d.id === state.selectedId ? "true" : null,
    onclick: () => selectDialog(d.id),
    onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); selectDialog(d.id); } },
  },
  h("div", { class: "item-row" },
    h("span", { class: "item-name", text: dialogName(d) }),
    unreadOf(d.id) ? h("span", { class: "unread-badge", title: t("item.unread", { n: unreadOf(d.id) }),
      "aria-label": t("item.unread", { n: unreadOf(d.id) }), text: String(unreadOf(d.id)) }) : null,
    h("time", { class: "item-time", "data-ts": ts || "", text: relative(ts) })),
  h("div", { class: "item-row item-sub" },
    h("span", { class: "item-line", text: d.line_name || d.line_id || "" }),
    h("span", { class: "chip", text: d.channel || "" }),
    list === "all" ? h("span", { class: "state-badge", "data-state": d.state || "", text: t(`state.${d.state}`) }) : null,
    list === "offered" && d.offer_deadline
      ? h("span", { class: "countdown", "data-deadline": d.offer_deadline, text: countdown(d.offer_deadline) }) : null),
  list === "all" && holder(d) ? h("div", { class: "item-holder", text: holder(d) }) : null,
  h("div", { class: "item-preview", text: preview }),
  h("div", { class: "item-typing", text: t("typing.short") })); // instead of the preview while the customer types
  return item;
}

/** Once a second: offer countdowns; every 30 s: the relative times. */
export function tick() {
  document.querySelectorAll(".countdown[data-deadline]").forEach((n) => {
    n.textContent = countdown(n.dataset.deadline);
    n.classList.toggle("is-urgent", (toDate(n.dataset.deadline) - Date.now()) < 15000);
  });
  if (++ticks % 30 === 0) {
    document.querySelectorAll("time[data-ts]").forEach((n) => { n.textContent = relative(n.dataset.ts); });
  }
}

document.querySelectorAll(".dlist-toggle").forEach((btn) => {
  btn.addEventListener("click", () => {
    const section = btn.closest(".dlist");
    const collapsed = section.classList.toggle("is-collapsed");
    btn.setAttribute("aria-expanded", collapsed ? "false" : "true");
  });
});

subscribe("lists", renderLists);
subscribe("resync", refreshLists);
onLanguage(renderLists);
