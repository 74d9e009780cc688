/*
 * The reply box: text, the internal-note switch, attached files and the length counter. What is typed and attached
 * belongs to the dialog it was typed for (its draft, kept while the operator looks at other dialogs, forgotten at
 * sign-out); each reply goes its way to its ack, and a refused one comes back into its dialog's draft.
 */

import { sessionLost, upload } from "./api.js";
import { $, h } from "./dom.js";
import { errorText, num, onLanguage, t } from "./i18n.js";
import { closeQuick, quickKeydown } from "./quick-popup.js";
import { isReady, onFrame, sendFrame } from "./socket.js";
import { maxMessageLength, state } from "./store.js";
import { guestRefused } from "./guests.js";
import { reopenRefused } from "./reopen.js";
import { appendPending, findMessage, findPending } from "./thread.js";
import { toast } from "./toast.js";
import { stopTyping } from "./typing.js";

const COUNT_FROM = 0.9; // the counter shows once the text is this close to the limit

let allowed = false; // the selected dialog may be answered by us now
let hint = ""; // why not, or what answering does

/** The draft of a dialog: {text, files (as their upload answered, or {uploading, name} meanwhile), internal}. */
function draftOf(id) {
  let d = state.drafts.get(id);
  if (!d) { d = { text: "", files: [], internal: false }; state.drafts.set(id, d); }
  return d;
}

const selectedDraft = () => (state.selectedId ? state.drafts.get(state.selectedId) : null);

/** The selected dialog's header decides whether it can be answered, and why not. */
export function allowReply(canReply, why) {
  allowed = !!canReply;
  hint = why || "";
  $("reply-text").disabled = !allowed;
  $("reply-internal").disabled = !allowed;
  $("reply-file").disabled = !allowed;
  $("reply-attach").classList.toggle("is-disabled", !allowed);
  $("reply-attach").setAttribute("aria-disabled", allowed ? "false" : "true");
  $("reply-files").querySelectorAll("button").forEach((b) => { b.disabled = !allowed; });
  if (!allowed) { closeQuick(); stopTyping(); }
  updateCount();
}

const guestNoted = new Set(); // dialogs whose reply box was switched to "Internal note" for me as a guest

/**
 * A guest's reply box (after allowReply): "notes" writes internal notes only (the switch held on), "replies" starts
 * on "Internal note" once per dialog and lets the guest switch it off, null leaves the box as it is.
 */
export function guestReply(mode) {
  const id = state.selectedId;
  const box = $("reply-internal");
  if (!id || !mode) return;
  if (mode === "notes" || !guestNoted.has(id)) {
    guestNoted.add(id);
    draftOf(id).internal = true;
    box.checked = true;
    showInternal();
  }
  if (mode === "notes") box.disabled = true;
}

/** Put the selected dialog's draft into the box (after selecting a dialog; empty when none, or after sign-out). */
export function showDraft() {
  const d = selectedDraft();
  closeQuick(); // the popup listed the previous dialog's answers
  stopTyping(); // whatever we were typing was for the previous dialog
  $("reply-text").value = d ? d.text : "";
  $("reply-internal").checked = !!(d && d.internal);
  showInternal();
  renderReplyFiles();
  updateCount();
}

/** Sign-out: no text, file or note switch is left for whoever signs in next on this tab. */
export function resetComposer() {
  state.drafts.clear();
  guestNoted.clear();
  allowReply(false, "");
  showDraft();
}

// ---- the length limit: a counter near it, and Send held back past it (the text stays as typed)

// The server trims the text and counts characters (code points), not UTF-16 units.
const replyLength = (text) => [...text.trim()].length;

function updateCount() {
  const max = maxMessageLength();
  const n = replyLength($("reply-text").value);
  const over = n - max;
  const el = $("reply-count");
  el.hidden = n < Math.floor(max * COUNT_FROM);
  el.textContent = t("reply.count", { count: num(n), max: num(max) });
  el.classList.toggle("is-over", over > 0);
  $("reply-hint").textContent = over > 0 ? t("reply.too_long", { over: num(over) }) : hint;
  $("reply-hint").classList.toggle("is-over", over > 0);
  const d = selectedDraft();
  const uploading = !!(d && d.files.some((f) => f.uploading));
  $("reply-send").disabled = !allowed || over > 0 || uploading;
}

// ---- files

function renderReplyFiles() {
  const d = selectedDraft();
  const files = d ? d.files : [];
  $("reply-files").replaceChildren(...files.map((f) => f.uploading
    ? h("span", { class: "chip is-uploading" }, h("span", { text: t("reply.uploading", { name: f.name }) }))
    : h("span", { class: "chip", "data-file": f.ref },
      h("span", { text: f.name }),
      h("button", { type: "button", class: "chip-x", "aria-label": t("reply.remove_file", { name: f.name }), text: "×",
        disabled: !allowed,
        onclick: () => { const i = d.files.indexOf(f); if (i >= 0) d.files.splice(i, 1); renderReplyFiles(); } }))));
  updateCount();
}

$("reply-file").addEventListener("change", async (e) => {
  const input = e.target;
  const file = input.files && input.files[0];
  input.value = "";
  const id = state.selectedId; // the file belongs to this dialog, whichever is selected when the upload ends
  if (!file || !id || !allowed) return;
  const placeholder = { uploading: true, name: file.name };
  draftOf(id).files.push(placeholder);
  renderReplyFiles();
  let failure = null;
  let data = null;
  try {
    const res = await upload(id, file);
    if (res.ok) data = res.data;
    else failure = res.data.code || res.data.message ? errorText(res.data.code, res.data.message) : t("reply.upload_failed");
  } catch { failure = t("net.unreachable"); }
  const d = state.drafts.get(id); // gone after a sign-out
  const i = d ? d.files.indexOf(placeholder) : -1;
  if (i < 0) return;
  if (data) d.files[i] = data; else d.files.splice(i, 1);
  if (id === state.selectedId) renderReplyFiles();
  if (failure) toast(failure, "upload");
});

// ---- sending

// A client-made id lets the server dedupe a reply we send again after a reconnect.
function uuid() {
  const c = window.crypto;
  if (c && typeof c.randomUUID === "function") {
    try { return c.randomUUID(); } catch { /* insecure context: fall through */ }
  }
  const b = new Uint8Array(16);
  if (c && c.getRandomValues) c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = Array.from(b, (n) => n.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function sendReply() {
  const id = state.selectedId;
  const box = $("reply-text");
  if (!id || !allowed) return;
  const d = draftOf(id);
  const text = box.value;
  if (d.files.some((f) => f.uploading) || (!text.trim() && !d.files.length)) return;
  const over = replyLength(text) - maxMessageLength();
  if (over > 0) { // the server would refuse it: say so and keep it to shorten
    updateCount();
    toast(t("reply.too_long", { over: num(over) }), "message_too_long");
    return;
  }
  const cid = uuid();
  const frame = { type: "reply", dialog_id: id, client_msg_id: cid, text };
  if (d.files.length) frame.attachments = d.files;
  if ($("reply-internal").checked) frame.visibility = "internal";
  state.pendingReplies.set(cid, frame);
  appendPending(cid, frame);
  d.text = "";
  d.files = [];
  box.value = "";
  closeQuick();
  stopTyping();
  renderReplyFiles();
  // Not connected: it stays pending and goes out after the next hello (same client_msg_id, so no duplicates).
  sendFrame(frame, true);
  if (!isReady()) toast(t("reply.offline"), "offline");
}

/** A reply the server refused for good goes back into its dialog's draft, ahead of whatever was typed since. */
function restore(frame) {
  const d = draftOf(frame.dialog_id);
  const empty = !d.text.trim() && !d.files.length;
  if (frame.text) d.text = d.text.trim() ? `${frame.text}\n\n${d.text}` : frame.text;
  d.files = [...(frame.attachments || []), ...d.files];
  if (empty) d.internal = frame.visibility === "internal";
  if (frame.dialog_id === state.selectedId) showDraft();
}

function showInternal() {
  const internal = $("reply-internal").checked;
  $("reply-form").classList.toggle("is-internal", internal);
  $("reply-text").placeholder = internal ? t("reply.placeholder_internal") : t("reply.placeholder");
}

$("reply-form").addEventListener("submit", (e) => { e.preventDefault(); sendReply(); $("reply-text").focus(); });
$("reply-text").addEventListener("keydown", (e) => {
  if (quickKeydown(e)) return; // the quick answers popup is open: its keys choose, Enter inserts and never sends
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendReply(); }
});
$("reply-text").addEventListener("input", () => {
  if (state.selectedId) draftOf(state.selectedId).text = $("reply-text").value;
  updateCount();
});
$("reply-internal").addEventListener("change", () => {
  if (state.selectedId) draftOf(state.selectedId).internal = $("reply-internal").checked;
  showInternal();
});

// ---- the server's answers to our replies

function onAck(f) {
  state.pendingReplies.delete(f.client_msg_id);
  const node = findPending(f.client_msg_id);
  if (!node) return;
  if (findMessage(f.id)) { node.remove(); return; } // the message frame beat its ack
  node.removeAttribute("data-pending");
  node.dataset.msg = f.id;
  const st = node.querySelector(".m-state");
  if (st) st.textContent = "";
}

/*
 * The reply an error refuses. Those the router refuses carry its client_msg_id; a reply the console socket itself
 * finds too long is answered without it (router/web/console_ws.py): that one is the longest of our replies still
 * waiting, since a shorter one was taken. Its message also says the server's limit, which the counter then uses
 * when GET /api/meta did not say it.
 */
function refusedReply(f) {
  if (f.client_msg_id) return f.client_msg_id;
  if (f.code !== "message_too_long") return null;
  const said = /longer than (\d+)/.exec(f.message || "");
  if (said && !(state.meta.limits && state.meta.limits.max_message_length)) {
    state.meta.limits = { ...(state.meta.limits || {}), max_message_length: Number(said[1]) };
  }
  let longest = null;
  let most = -1;
  for (const [cid, frame] of state.pendingReplies) {
    const n = replyLength(frame.text || "");
    if (n > most) { longest = cid; most = n; }
  }
  return longest;
}

// Error frames answer any command; those about a reply carry its client_msg_id.
function onError(f) {
  if (f.code === "unauthorized") { sessionLost(); return; }
  if (reopenRefused(f)) return; // shown beside the "Write again" button
  if (guestRefused(f)) return; // shown in the dialog's header
  const cid = refusedReply(f);
  if (cid && !f.client_msg_id) f = { ...f, client_msg_id: cid };
  if (f.code === "unavailable" && f.client_msg_id && state.pendingReplies.has(f.client_msg_id)) {
    // the server's queue was briefly away: the reply was not taken; the same one again in a second (deduped)
    const frame = state.pendingReplies.get(f.client_msg_id);
    setTimeout(() => { if (state.pendingReplies.get(f.client_msg_id) === frame) sendFrame(frame, true); }, 1000);
    return;
  }
  const reason = errorText(f.code, f.message, { max: num(maxMessageLength()) });
  const frame = f.client_msg_id ? state.pendingReplies.get(f.client_msg_id) : null;
  if (f.client_msg_id) {
    state.pendingReplies.delete(f.client_msg_id); // refused for good: re-sending would fail the same way
    const node = findPending(f.client_msg_id);
    if (node && frame) node.remove(); // its text is back in the reply box, to change and send again
    else if (node) {
      node.removeAttribute("data-pending");
      node.dataset.failed = "1";
      const st = node.querySelector(".m-state");
      if (st) st.textContent = t("msg.not_sent", { reason });
    }
  }
  if (frame) {
    restore(frame);
    toast(t("reply.restored", { reason }), f.code);
    return;
  }
  toast(reason, f.code);
}

onFrame("ack", onAck);
onFrame("error", onError);
onLanguage(() => { showInternal(); renderReplyFiles(); });
