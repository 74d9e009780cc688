/* The dialog lists in the sidebar (offered, mine, queue, closed): what belongs where, live updates, rendering. */

import { api } from "./api.js";
import { renderHeader, reloadSelected, selectDialog } from "./dialog.js";
import { h } from "./dom.js";
import { countdown, relative, toDate, truncate } from "./format.js";
import { loadLead } from "./lead.js";
import { onFrame } from "./socket.js";
import { BASE_TITLE, LISTS, myLogin, state, subscribe } from "./store.js";
import { toast } from "./toast.js";

const CLOSED_LIMIT = 50; // GET /api/dialogs?state=closed returns the latest 50; keep the live list the same size
const PREVIEW_CHARS = 90;

let refreshSeq = 0;
let ticks = 0;

const activity = (d) => toDate(d.last_message && d.last_message.ts) || toDate(d.closed_at) || toDate(d.created_at) || new Date(0);
const isAdmin = () => state.me && state.me.role === "admin";
const inMyLines = (d) => isAdmin() || ((state.me && state.me.lines) || []).includes(d.line_id);

/** Replace every list with the server's view (on sign-in, on each websocket hello, every 30 s). */
export async function refreshLists() {
  if (!state.running) return;
  const seq = ++refreshSeq;
  let results;
  try {
    results = await Promise.all(LISTS.map((n) => api("GET", `/api/dialogs?state=${n}`)));
  } catch (e) {
    if (e.status !== 401 && e.status !== 0) toast(`Could not load dialogs: ${e.message}`, e.code);
    return;
  }
  if (seq !== refreshSeq || !state.running) return; // a newer refresh is on its way
  LISTS.forEach((n, i) => {
    state.lists[n].clear();
    for (const d of results[i].dialogs || []) {
      const old = state.dialogs.get(d.id);
      if (old && old.last_message && !d.last_message) d.last_message = old.last_message;
      state.dialogs.set(d.id, d);
      state.lists[n].add(d.id);
    }
  });
  for (const id of state.fresh) if (!state.lists.offered.has(id)) state.fresh.delete(id);
  renderLists();
  if (state.selectedId && state.dialogs.has(state.selectedId)) {
    state.selected = { ...state.selected, ...state.dialogs.get(state.selectedId) };
    renderHeader();
  }
}

// ---- live updates

/** The dialog a frame carries, or our cached copy patched with what the frame implies. */
function dialogOf(f, patch) {
  if (f.dialog && f.dialog.id) return f.dialog;
  const cached = state.dialogs.get(f.dialog_id) || (state.selected && state.selected.id === f.dialog_id && state.selected);
  return cached ? { ...cached, ...patch } : null;
}

/** Which of my lists a dialog belongs to, judged by its own state. */
function listFor(d) {
  if (!d) return null;
  if (d.state === "closed") return "closed";
  if (d.state === "assigned") return d.operator === myLogin() ? "mine" : null;
  if (d.state === "offered") return (d.offered_to || []).includes(myLogin()) ? "offered" : null;
  if (d.state === "queued") return inMyLines(d) ? "queued" : null;
  return null;
}

function onOffered(f) {
  const d = dialogOf(f, { state: "offered" });
  if (!d) return;
  placeDialog(d, "offered");
  state.fresh.add(d.id);
  renderLists();
}

function onAssigned(f) {
  const d = dialogOf(f, { state: "assigned", operator: f.operator });
  if (!d) { removeEverywhere(f.dialog_id, ["offered", "queued"]); return; }
  placeDialog(d, f.operator === myLogin() ? "mine" : null);
  // Taking a dialog may make its taker the lead's responsible: show the card as it is now.
  if (f.dialog_id === state.selectedId && d.lead && d.lead.id) loadLead(d.lead.id);
}

function onWithdrawn(f) {
  removeEverywhere(f.dialog_id, ["offered"]);
  // Someone else took it, it timed out or we skipped it: refresh the header so the buttons tell the truth.
  if (f.dialog_id === state.selectedId) reloadSelected();
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
  let changed = false;
  for (const n of lists) changed = state.lists[n].delete(id) || changed;
  state.fresh.delete(id);
  if (changed) renderLists();
}

/** Put a dialog into exactly one list (or none) and refresh whatever shows it. */
function placeDialog(d, list) {
  if (!d || !d.id) return;
  const old = state.dialogs.get(d.id);
  if (old && old.last_message && !d.last_message) d.last_message = old.last_message;
  state.dialogs.set(d.id, d);
  for (const n of LISTS) if (n !== list) state.lists[n].delete(d.id);
  if (list) state.lists[list].add(d.id);
  if (list !== "offered") state.fresh.delete(d.id);
  if (list === "closed") trimClosed();
  renderLists();
  if (d.id === state.selectedId) { state.selected = { ...state.selected, ...d }; renderHeader(); }
}

function trimClosed() {
  const ids = [...state.lists.closed].sort((a, b) => activity(state.dialogs.get(b)) - activity(state.dialogs.get(a)));
  ids.slice(CLOSED_LIMIT).forEach((id) => state.lists.closed.delete(id));
}

onFrame("dialog.offered", onOffered);
onFrame("dialog.assigned", onAssigned);
onFrame("dialog.withdrawn", onWithdrawn);
onFrame("dialog.queued", (f) => placeDialog(dialogOf(f, { state: "queued" }), "queued"));
onFrame("dialog.transferred", onTransferred);
onFrame("dialog.closed", (f) => placeDialog(dialogOf(f, { state: "closed" }), "closed"));

// ---- rendering

export function renderLists() {
  for (const n of LISTS) {
    const section = document.querySelector(`[data-list="${n}"]`);
    const dialogs = [...state.lists[n]].map((id) => state.dialogs.get(id)).filter(Boolean)
      .sort((a, b) => activity(b) - activity(a));
    section.querySelector(".items").replaceChildren(...dialogs.map((d) => renderItem(d, n)));
    section.querySelector(".count").textContent = String(dialogs.length);
    section.classList.toggle("is-empty", dialogs.length === 0);
    section.classList.toggle("has-fresh", n === "offered" && state.fresh.size > 0);
  }
  const offers = state.lists.offered.size;
  document.title = offers ? `(${offers}) ${BASE_TITLE}` : BASE_TITLE;
}

function renderItem(d, list) {
  const lm = d.last_message;
  const name = d.customer_name || (d.lead && d.lead.name) || "Customer";
  let preview = lm ? truncate(lm.text, PREVIEW_CHARS) : "No messages yet";
  if (lm && lm.visibility === "internal") preview = `Note: ${preview}`;
  else if (lm && lm.author_kind && lm.author_kind !== "customer") preview = `↩ ${preview}`;
  const ts = (lm && lm.ts) || d.closed_at || d.created_at;
  const item = h("li", {
    class: "item" + (d.id === state.selectedId ? " is-selected" : "") + (state.fresh.has(d.id) ? " is-fresh" : "")
      + (state.unread.has(d.id) ? " is-unread" : ""),
    "data-dialog-id": d.id,
    tabindex: "0",
    role: "button",
    "aria-current": d.id === state.selectedId ? "true" : null,
    onclick: () => selectDialog(d.id),
    onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); selectDialog(d.id); } },
  },
  h("div", { class: "item-row" },
    h("span", { class: "item-name", text: name }),
    h("time", { class: "item-time", "data-ts": ts || "", text: relative(ts) })),
  h("div", { class: "item-row item-sub" },
    h("span", { class: "item-line", text: d.line_name || d.line_id || "" }),
    h("span", { class: "chip", text: d.channel || "" }),
    list === "offered" && d.offer_deadline
      ? h("span", { class: "countdown", "data-deadline": d.offer_deadline, text: countdown(d.offer_deadline) }) : null),
  h("div", { class: "item-preview", text: preview }));
  return item;
}

/** Once a second: offer countdowns; every 30 s: the relative times. */
export function tick() {
  document.querySelectorAll(".countdown[data-deadline]").forEach((n) => {
    const text = countdown(n.dataset.deadline);
    n.textContent = text;
    n.classList.toggle("is-urgent", text === "expired" || (toDate(n.dataset.deadline) - Date.now()) < 15000);
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
