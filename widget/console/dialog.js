/* The selected dialog: opening it, reloading it, its header and its actions (take, skip, transfer, close). */

import { api } from "./api.js";
import { allowReply, guestReply, showDraft } from "./composer.js";
import { $, h } from "./dom.js";
import { onLanguage, t } from "./i18n.js";
import { loadLead } from "./lead.js";
import { onFrame, sendFrame } from "./socket.js";
import { renderGuests } from "./guests.js";
import { dialogName, isAdmin, isGuest, myLogin, notify, operatorName, state, subscribe } from "./store.js";
import { clearThread, redrawThread, renderThread, showLoadError, showLoading } from "./thread.js";
import { forgetReopen, showReopen } from "./reopen.js";
import { renderHeaderRating } from "./rating.js";
import { loadEvents } from "./system-lines.js";
import { toast } from "./toast.js";
import { markSeen } from "./unread.js";

let selectSeq = 0;

export function showNoDialog() {
  $("dialog-view").hidden = true;
  $("no-dialog").hidden = false;
  clearThread();
}

export async function selectDialog(id) {
  const seq = ++selectSeq;
  if (id !== state.selectedId) forgetReopen();
  state.selectedId = id;
  state.fresh.delete(id);
  state.unread.delete(id);
  state.selected = state.dialogs.get(id) || { id };
  notify("lists");
  $("no-dialog").hidden = true;
  $("dialog-view").hidden = false;
  showDraft(); // what was typed and attached for this dialog, and only that
  renderHeader();
  showLoading();
  if (state.selected.lead && state.selected.lead.id) loadLead(state.selected.lead.id);
  try {
    const [d, res, events] = await Promise.all([
      api("GET", `/api/dialogs/${encodeURIComponent(id)}`),
      api("GET", `/api/dialogs/${encodeURIComponent(id)}/messages`),
      loadEvents(id),
    ]);
    if (seq !== selectSeq) return;
    state.selected = d;
    if (state.dialogs.has(id)) state.dialogs.set(id, { ...state.dialogs.get(id), ...d });
    renderHeader();
    renderThread(res.messages || [], events);
    markSeen();
    if (d.lead && d.lead.id && (!state.lead || state.lead.id !== d.lead.id)) loadLead(d.lead.id);
    if (window.matchMedia("(max-width: 900px)").matches) $("dialog-view").scrollIntoView({ block: "start" });
  } catch (e) {
    if (seq !== selectSeq) return;
    showLoadError(e.message);
  }
}

/** Fetch the selected dialog's current state again (after a withdraw, or a reconnect). */
export async function reloadSelected() {
  const id = state.selectedId;
  if (!id) return;
  try {
    const d = await api("GET", `/api/dialogs/${encodeURIComponent(id)}`);
    if (id !== state.selectedId) return;
    state.selected = d;
    renderHeader();
    // Messages may have arrived while the socket was down: redraw the thread from the server's copy.
    const [res, events] = await Promise.all([
      api("GET", `/api/dialogs/${encodeURIComponent(id)}/messages`), loadEvents(id)]);
    if (id === state.selectedId) { redrawThread(res.messages || [], events); markSeen(); }
  } catch (e) {
    // Not ours to see any more (403/404): leave the thread on screen but offer no actions.
    if (id === state.selectedId && (e.status === 403 || e.status === 404)) {
      state.selected = { ...state.selected, state: "unavailable" };
      renderHeader();
    }
  }
}

/**
 * What I may do with a dialog now (docs/protocol.md, Roles): an operator takes or answers what is offered to them
 * or waits in their lines, and transfers and closes their own; an admin may do anything with an open dialog (a take
 * or an answer of someone else's is a take over).
 */
export function allowedActions(d) {
  const me = myLogin();
  const admin = isAdmin();
  const open = d.state === "queued" || d.state === "offered" || d.state === "assigned";
  const mine = open && d.state === "assigned" && d.operator === me;
  const offeredToMe = d.state === "offered" && ((d.offered_to || []).includes(me) || state.lists.offered.has(d.id));
  const take = open && !mine && (admin || offeredToMe || d.state === "queued");
  // a colleague invited me in: notes always, public answers only when the dialog's operator allowed them
  const guest = open && isGuest(d);
  return {
    open, mine, offeredToMe, guest,
    notesOnly: guest && !take && !d.guests_reply,
    invite: open && d.state === "assigned" && (mine || admin),
    leave: guest,
    take,
    takeover: take && admin && d.state === "assigned",
    skip: offeredToMe,
    reply: mine || take || guest,
    transfer: open && (mine || admin),
    close: open && (mine || admin),
  };
}

function replyHint(d, can) {
  if (d.state === "closed") return t("hint.closed");
  if (d.state === "unavailable") return t("hint.unavailable");
  if (can.takeover) return t("hint.takeover_by_answer");
  if (can.take) return t("hint.take_by_answer");
  if (can.notesOnly) return t("guests.notes_only", { name: operatorName(d.operator) });
  if (can.reply) return "";
  if (d.state === "assigned" && d.operator) return t("hint.with_other", { name: operatorName(d.operator) });
  if (d.state === "offered") {
    return t("hint.offered_to_other", { names: (d.offered_to || []).map(operatorName).join(", ") || t("item.nobody") });
  }
  return "";
}

export function renderHeader() {
  const d = state.selected;
  if (!d) return;
  $("dlg-customer").textContent = dialogName(d);
  $("dlg-customer").title = dialogName(d);
  $("dlg-line").textContent = d.line_name || d.line_id || "";
  $("dlg-channel").textContent = d.channel || "";
  const st = $("dlg-state");
  st.textContent = d.state ? t(`state.${d.state}`) : "";
  st.dataset.state = d.state || "";
  $("dlg-operator").textContent = d.operator ? t("dialog.with", { name: operatorName(d.operator) }) : "";

  const can = allowedActions(d);
  $("btn-take").hidden = !can.take;
  $("btn-take").textContent = can.takeover ? t("dialog.takeover") : t("dialog.take");
  $("btn-skip").hidden = !can.skip;
  $("transfer-box").hidden = !can.transfer;
  $("btn-close").hidden = !can.close;
  allowReply(can.reply, replyHint(d, can));
  guestReply(can.guest && !can.take ? (can.notesOnly ? "notes" : "replies") : null);
  renderGuests(d, can);
  showReopen(d);
  renderHeaderRating(d);
}

// ---- actions: each is a frame; the server's dialog.* frames then move the dialog between lists

function dialogCommand(type, extra) {
  if (!state.selectedId) return;
  sendFrame({ type, dialog_id: state.selectedId, ...(extra || {}) });
}
$("btn-take").addEventListener("click", () => dialogCommand("take"));
$("btn-skip").addEventListener("click", () => dialogCommand("skip"));
$("btn-close").addEventListener("click", () => dialogCommand("close"));
$("btn-transfer").addEventListener("click", () => {
  const v = $("transfer-target").value;
  if (!v) { toast(t("transfer.choose")); $("transfer-target").focus(); return; }
  const [kind, ...rest] = v.split(":");
  const target = rest.join(":"); // ids may contain ':'
  const note = $("transfer-note").value.trim();
  dialogCommand("transfer", { ...(kind === "op" ? { to_operator: target } : { to_line: target }), ...(note ? { note } : {}) });
  $("transfer-target").value = "";
  $("transfer-note").value = "";
  $("transfer-note").hidden = true;
});
// the note field shows once a target is chosen: the row stays short until then
$("transfer-target").addEventListener("change", () => {
  $("transfer-note").hidden = !$("transfer-target").value;
  if ($("transfer-target").value) $("transfer-note").focus();
});
$("transfer-note").addEventListener("keydown", (e) => {
  if (e.key === "Enter") { e.preventDefault(); $("btn-transfer").click(); }
});
// a colleague passed me a dialog with a note: say it now, not only in the thread's history
onFrame("dialog.transferred", (f) => {
  if (!f.note || f.by === myLogin() || f.to_operator !== myLogin()) return;
  toast(t("transfer.note_received", { name: operatorName(f.by || f.from_operator), note: f.note }));
});

/** The transfer menu: every other operator, then every line (from /api/meta). */
export function renderTransferTargets() {
  const sel = $("transfer-target");
  const keep = sel.value;
  const ops = state.meta.operators.filter((o) => o.login !== myLogin());
  const label = (o) => (o.presence
    ? t("transfer.with_presence", { name: o.name || o.login, presence: t(`presence.${o.presence}`) })
    : (o.name || o.login));
  sel.replaceChildren(
    h("option", { value: "", text: t("transfer.placeholder") }),
    h("optgroup", { label: t("transfer.operators") }, ops.map((o) => h("option", { value: `op:${o.login}`, text: label(o) }))),
    h("optgroup", { label: t("transfer.lines") }, state.meta.lines.map((l) =>
      h("option", { value: `line:${l.id}`, text: l.name || l.id }))),
  );
  sel.value = keep;
  if (sel.value !== keep) sel.value = "";
}

subscribe("resync", () => { if (state.selectedId) reloadSelected(); });
subscribe("header", renderHeader);
subscribe("open", (id) => { if (id) selectDialog(id); }); // e.g. a previous dialog on the lead card
onLanguage(() => { renderTransferTargets(); renderHeader(); if (state.selectedId) reloadSelected(); });
