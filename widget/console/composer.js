/* The reply box: text, the internal-note switch, attached files, and each reply's way to its ack (or refusal). */

import { sessionLost, upload } from "./api.js";
import { $, h } from "./dom.js";
import { isReady, onFrame, sendFrame } from "./socket.js";
import { state } from "./store.js";
import { appendPending, findMessage, findPending } from "./thread.js";
import { toast } from "./toast.js";

const PLACEHOLDER = "Reply… (Enter sends, Shift+Enter for a new line)";

/** Files uploaded for the next reply (as the upload answered them). */
let replyFiles = [];

/** The selected dialog's header decides whether it can be answered, and why not. */
export function allowReply(canReply, hint) {
  $("reply-text").disabled = !canReply;
  $("reply-send").disabled = !canReply;
  $("reply-internal").disabled = !canReply;
  $("reply-hint").textContent = hint;
}

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

function renderReplyFiles() {
  $("reply-files").replaceChildren(...replyFiles.map((f, i) =>
    h("span", { class: "chip", "data-file": f.ref },
      h("span", { text: f.name }),
      h("button", { type: "button", class: "chip-x", "aria-label": `Remove ${f.name}`, text: "×",
        onclick: () => { replyFiles.splice(i, 1); renderReplyFiles(); } }))));
}

$("reply-file").addEventListener("change", async (e) => {
  const input = e.target;
  const file = input.files && input.files[0];
  input.value = "";
  if (!file || !state.selectedId) return;
  try {
    const { ok, data } = await upload(state.selectedId, file);
    if (!ok) { toast(data.message || "Upload failed", "upload"); return; }
    replyFiles.push(data);
    renderReplyFiles();
  } catch { toast("Cannot reach the server", "upload"); }
});

function sendReply() {
  const id = state.selectedId;
  const box = $("reply-text");
  const text = box.value;
  if (!id || (!text.trim() && !replyFiles.length) || box.disabled) return;
  const cid = uuid();
  const frame = { type: "reply", dialog_id: id, client_msg_id: cid, text };
  if (replyFiles.length) { frame.attachments = replyFiles; replyFiles = []; renderReplyFiles(); }
  if ($("reply-internal").checked) frame.visibility = "internal";
  state.pendingReplies.set(cid, frame);
  appendPending(cid, frame);
  box.value = "";
  // Not connected: it stays pending and goes out after the next hello (same client_msg_id, so no duplicates).
  sendFrame(frame, true);
  if (!isReady()) toast("Not connected — the reply will be sent when the connection is back.", "offline");
}

$("reply-form").addEventListener("submit", (e) => { e.preventDefault(); sendReply(); $("reply-text").focus(); });
$("reply-text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendReply(); }
});
$("reply-internal").addEventListener("change", () => {
  const internal = $("reply-internal").checked;
  $("reply-form").classList.toggle("is-internal", internal);
  $("reply-text").placeholder = internal ? "Internal note — only operators see it" : PLACEHOLDER;
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

// Error frames answer any command; those about a reply carry its client_msg_id.
function onError(f) {
  if (f.code === "unauthorized") { sessionLost(); return; }
  if (f.code === "unavailable" && f.client_msg_id && state.pendingReplies.has(f.client_msg_id)) {
    // the server's queue was briefly away: the reply was not taken; the same one again in a second (deduped)
    const frame = state.pendingReplies.get(f.client_msg_id);
    setTimeout(() => { if (state.pendingReplies.get(f.client_msg_id) === frame) sendFrame(frame, true); }, 1000);
    return;
  }
  if (f.client_msg_id) {
    state.pendingReplies.delete(f.client_msg_id); // refused for good: re-sending would fail the same way
    const node = findPending(f.client_msg_id);
    if (node) {
      node.removeAttribute("data-pending");
      node.dataset.failed = "1";
      const st = node.querySelector(".m-state");
      if (st) st.textContent = `Not sent: ${f.message || f.code}`;
    }
  }
  toast(f.message || f.code, f.code);
}

onFrame("ack", onAck);
onFrame("error", onError);
