/* The selected dialog: opening it, reloading it, its header and its actions (take, skip, transfer, close). */

import { api } from "./api.js";
import { allowReply } from "./composer.js";
import { $, h } from "./dom.js";
import { loadLead } from "./lead.js";
import { sendFrame } from "./socket.js";
import { myLogin, notify, state, subscribe } from "./store.js";
import { clearThread, redrawThread, renderThread, showLoadError, showLoading } from "./thread.js";
import { toast } from "./toast.js";

let selectSeq = 0;

export function showNoDialog() {
  $("dialog-view").hidden = true;
  $("no-dialog").hidden = false;
  clearThread();
}

export async function selectDialog(id) {
  const seq = ++selectSeq;
  state.selectedId = id;
  state.fresh.delete(id);
  state.unread.delete(id);
  state.selected = state.dialogs.get(id) || { id };
  notify("lists");
  $("no-dialog").hidden = true;
  $("dialog-view").hidden = false;
  renderHeader();
  showLoading();
  if (state.selected.lead && state.selected.lead.id) loadLead(state.selected.lead.id);
  try {
    const [d, res] = await Promise.all([
      api("GET", `/api/dialogs/${encodeURIComponent(id)}`),
      api("GET", `/api/dialogs/${encodeURIComponent(id)}/messages`),
    ]);
    if (seq !== selectSeq) return;
    state.selected = d;
    if (state.dialogs.has(id)) state.dialogs.set(id, { ...state.dialogs.get(id), ...d });
    renderHeader();
    renderThread(res.messages || []);
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
    const res = await api("GET", `/api/dialogs/${encodeURIComponent(id)}/messages`);
    if (id === state.selectedId) redrawThread(res.messages || []);
  } catch (e) {
    // Not ours to see any more (403/404): leave the thread on screen but offer no actions.
    if (id === state.selectedId && (e.status === 403 || e.status === 404)) {
      state.selected = { ...state.selected, state: "unavailable" };
      renderHeader();
    }
  }
}

export function renderHeader() {
  const d = state.selected;
  if (!d) return;
  const me = myLogin();
  $("dlg-customer").textContent = d.customer_name || (d.lead && d.lead.name) || "Customer";
  $("dlg-line").textContent = d.line_name || d.line_id || "";
  $("dlg-channel").textContent = d.channel || "";
  const st = $("dlg-state");
  st.textContent = d.state || "";
  st.dataset.state = d.state || "";
  $("dlg-operator").textContent = d.operator ? `with ${operatorName(d.operator)}` : "";

  const offeredToMe = state.lists.offered.has(d.id) || (d.state === "offered" && (d.offered_to || []).includes(me));
  const open = d.state !== "closed" && d.state !== "unavailable";
  $("btn-take").hidden = !(offeredToMe || d.state === "queued");
  $("btn-skip").hidden = !offeredToMe;
  $("transfer-box").hidden = !open;
  $("btn-close").hidden = !open;
  allowReply(open, d.state === "closed" ? "This dialog is closed."
    : offeredToMe ? "Answering takes the dialog." : "");
}

function operatorName(login) {
  const op = state.meta.operators.find((o) => o.login === login);
  return (op && op.name) || login;
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
  if (!v) { toast("Choose an operator or a line to transfer to."); $("transfer-target").focus(); return; }
  const [kind, ...rest] = v.split(":");
  const target = rest.join(":"); // ids may contain ':'
  dialogCommand("transfer", kind === "op" ? { to_operator: target } : { to_line: target });
  $("transfer-target").value = "";
});

/** The transfer menu: every other operator, then every line (from /api/meta). */
export function renderTransferTargets() {
  const sel = $("transfer-target");
  const keep = sel.value;
  const ops = state.meta.operators.filter((o) => o.login !== myLogin());
  sel.replaceChildren(
    h("option", { value: "", text: "Transfer to…" }),
    h("optgroup", { label: "Operators" }, ops.map((o) =>
      h("option", { value: `op:${o.login}`, text: o.presence ? `${o.name || o.login} (${o.presence})` : (o.name || o.login) }))),
    h("optgroup", { label: "Lines" }, state.meta.lines.map((l) =>
      h("option", { value: `line:${l.id}`, text: l.name || l.id }))),
  );
  sel.value = keep;
  if (sel.value !== keep) sel.value = "";
}

subscribe("resync", () => { if (state.selectedId) reloadSelected(); });
