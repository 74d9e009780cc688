/*
 * Typing indicators (docs/protocol.md, `typing`): the operator's own typing, told to the customer of the dialog they
 * answer (never the text), and the customer's, shown below the open thread's last message and on the dialog's row
 * in the lists.
 */

import { $, h } from "./dom.js";
import { onLanguage, t } from "./i18n.js";
import { onFrame, sendFrame } from "./socket.js";
import { dialogName, myLogin, state, subscribe } from "./store.js";

const REPEAT_MS = 2500; // "still typing" again this often while keys are pressed
const IDLE_MS = 5000; // no keystroke for this long: stopped
// The customer's indicator goes this long after their last "typing" (the server passes a repeat on at most every
// 3 s, so one comes about every 5 s while they type).
const SHOWN_MS = 6000;

// ---- ours: the reply box of a dialog assigned to us, not an internal note

let sentFor = null; // the dialog we told we are typing, until we tell it we stopped
let sentAt = 0;
let idleTimer = null;

/** We stopped typing (sent, emptied the box, another dialog, a note, quiet for IDLE_MS): tell that dialog once. */
export function stopTyping() {
  clearTimeout(idleTimer);
  idleTimer = null;
  if (sentFor) sendFrame({ type: "typing", dialog_id: sentFor, active: false }, true);
  sentFor = null;
}

function typed() {
  const id = state.selectedId;
  const d = state.selected;
  const mine = !!(id && d && d.state === "assigned" && d.operator === myLogin());
  if (!mine || $("reply-internal").checked || !$("reply-text").value.trim()) { stopTyping(); return; }
  if (sentFor && sentFor !== id) stopTyping();
  const now = performance.now(); // monotonic: a change of the wall clock neither stops nor floods the indicator
  if ((sentFor !== id || now - sentAt >= REPEAT_MS) && sendFrame({ type: "typing", dialog_id: id, active: true }, true)) {
    sentFor = id;
    sentAt = now;
  }
  clearTimeout(idleTimer);
  idleTimer = setTimeout(stopTyping, IDLE_MS);
}

$("reply-text").addEventListener("input", typed);
$("reply-internal").addEventListener("change", () => { if ($("reply-internal").checked) stopTyping(); });

// ---- the customer's

const customers = new Map(); // dialog id -> the timer that hides its indicator

/** "Maria is typing…", kept below the thread's last message by thread.js while it is shown. */
export const typingRow = h("div", { id: "typing", class: "typing", "aria-live": "polite", hidden: true },
  h("span", { class: "typing-dots", "aria-hidden": "true" }, h("span", {}), h("span", {}), h("span", {})),
  h("span", { class: "typing-text" }));

export const customerTyping = (id) => customers.has(id);

/** Show the selected dialog's indicator at the end of the thread, or take it away. */
export function showThreadTyping() {
  const thread = $("thread");
  if (!state.selectedId || !customers.has(state.selectedId)) {
    typingRow.hidden = true;
    typingRow.remove();
    return;
  }
  const stick = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 120;
  typingRow.lastChild.textContent = t("typing.customer", { name: dialogName(state.selected) });
  typingRow.hidden = false;
  if (thread.lastChild !== typingRow) thread.appendChild(typingRow);
  if (stick) thread.scrollTop = thread.scrollHeight;
}

function customerTyped(id, active) {
  clearTimeout(customers.get(id));
  if (active) customers.set(id, setTimeout(() => customerTyped(id, false), SHOWN_MS));
  else customers.delete(id);
  document.querySelectorAll(`.item[data-dialog-id="${CSS.escape(id)}"]`).forEach((n) => n.classList.toggle("is-typing", active));
  if (id === state.selectedId) showThreadTyping();
}

/** The customer's message is what they were typing: their indicator goes. */
export function customerWrote(id) {
  if (customers.has(id)) customerTyped(id, false);
}

/** Sign-out: tell the customer we stopped, and forget every indicator. */
export function resetTyping() {
  stopTyping();
  for (const timer of customers.values()) clearTimeout(timer);
  customers.clear();
  showThreadTyping();
}

onFrame("typing", (f) => {
  if (typeof f.dialog_id !== "string" || !f.dialog_id || (f.who != null && f.who !== "customer")) return;
  customerTyped(f.dialog_id, f.active === true);
});
subscribe("header", () => { if (typingRow.isConnected) showThreadTyping(); }); // the lead was renamed
onLanguage(() => { if (typingRow.isConnected) showThreadTyping(); });
