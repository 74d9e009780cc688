/* The thread: the selected dialog's messages, live additions, delivery states, and our replies awaiting their ack. */

import { $, h } from "./dom.js";
import { clock } from "./format.js";
import { t } from "./i18n.js";
import { onFrame } from "./socket.js";
import { myLogin, notify, state } from "./store.js";
import { customerWrote, showThreadTyping, typingRow } from "./typing.js";
import { customerMessage } from "./unread.js";
import { renderEvent, whenEvents } from "./system-lines.js";

const KINDS = new Set(["customer", "operator", "bot", "system"]);

let loading = false; // the selected dialog's messages are being fetched
let buffer = []; // live messages that arrived while the thread was loading
let sought = null; // {dialogId, messageId}: a search result to bring into view once its thread is drawn
const FOUND_MS = 4000; // how long a sought message stays highlighted

export const isLoading = () => loading;

export function clearThread() { $("thread").replaceChildren(); }

/** "Loading…" until renderThread; messages arriving meanwhile wait in the buffer. */
export function showLoading() {
  $("thread").replaceChildren(h("p", { class: "thread-loading", text: t("thread.loading") }));
  loading = true;
  buffer = [];
}

export function showLoadError(message) {
  loading = false;
  sought = null;
  $("thread").replaceChildren(h("p", { class: "thread-loading", text: t("thread.load_failed", { message }) }));
}

export function findMessage(id) {
  return id ? $("thread").querySelector(`[data-msg="${CSS.escape(id)}"]`) : null;
}
export function findPending(cid) {
  return cid ? $("thread").querySelector(`[data-client-msg-id="${CSS.escape(cid)}"]`) : null;
}

/** Add a message at the end of the thread, above the customer's typing indicator when it shows. */
function add(thread, node) {
  thread.insertBefore(node, typingRow.parentNode === thread ? typingRow : null);
}

const tsOf = (x) => Date.parse(x) || 0;

/** Messages and system lines (events) interleaved by time; at the same moment the event goes first. */
export function renderThread(messages, events) {
  const thread = $("thread");
  thread.replaceChildren();
  const rows = [
    ...(events || []).map((ev) => ({ at: tsOf(ev.at), order: 0, node: () => renderEvent(ev) })),
    ...messages.map((m) => ({ at: tsOf(m.ts), order: 1, m, node: () => (findMessage(m.id) ? null : renderMessage(m)) })),
  ];
  rows.sort((a, b) => a.at - b.at || a.order - b.order); // stable: the server's order within each kind stays
  rows.forEach((r) => { const n = r.node(); if (n) thread.appendChild(n); });
  loading = false;
  buffer.splice(0).forEach(appendMessage);
  // Replies still waiting for their ack stay visible when the operator comes back to this dialog.
  for (const [cid, frame] of state.pendingReplies) {
    if (frame.dialog_id === state.selectedId) thread.appendChild(renderPendingReply(cid, frame));
  }
  if (!thread.children.length) thread.appendChild(h("p", { class: "thread-loading", text: t("thread.empty") }));
  thread.scrollTop = thread.scrollHeight;
  showThreadTyping();
  revealSought();
}

/** Open the dialog's thread at this message (a search result): the next time that thread is drawn. */
export function showMessageWhenOpen(dialogId, messageId) {
  sought = { dialogId, messageId };
}

/** Scroll the thread (only the thread: a phone's page stays where the dialog opened) to the sought message and
    highlight it for a moment. */
function revealSought() {
  if (!sought || sought.dialogId !== state.selectedId) return;
  const node = findMessage(sought.messageId);
  sought = null;
  if (!node) return;
  const thread = $("thread");
  const box = thread.getBoundingClientRect();
  const r = node.getBoundingClientRect();
  thread.scrollTop += r.top - box.top - Math.max(0, (thread.clientHeight - r.height) / 2);
  node.classList.remove("is-found");
  void node.offsetWidth; // restart the fade when the same message is sought again
  node.classList.add("is-found");
  setTimeout(() => node.classList.remove("is-found"), FOUND_MS);
}

/** Render the server's copy again (after a reconnect) without yanking an operator who scrolled up. */
export function redrawThread(messages, events) {
  if (loading) return;
  const thread = $("thread");
  const stick = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 120;
  const keep = thread.scrollTop;
  renderThread(messages, events);
  if (!stick) thread.scrollTop = keep;
}

function appendMessage(m) {
  if (!m || !m.id || findMessage(m.id)) return;
  const thread = $("thread");
  thread.querySelectorAll(".thread-loading").forEach((n) => n.remove());
  const stick = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 120;
  add(thread, renderMessage(m));
  if (stick) thread.scrollTop = thread.scrollHeight;
}

/** Events the thread does not show yet go in at their time (before anything later), the thread kept in view. */
function insertEvents(events) {
  if (loading) return;
  const thread = $("thread");
  const stick = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 120;
  for (const ev of events || []) {
    if (!ev || !ev.id || thread.querySelector(`[data-event="${CSS.escape(ev.id)}"]`)) continue;
    const node = renderEvent(ev);
    if (!node) continue;
    thread.querySelectorAll(".thread-loading").forEach((n) => n.remove());
    const at = tsOf(ev.at);
    const later = [...thread.querySelectorAll("[data-ts]")].find((n) => !n.dataset.pending && tsOf(n.dataset.ts) > at);
    if (later) thread.insertBefore(node, later); else add(thread, node);
  }
  if (stick) thread.scrollTop = thread.scrollHeight;
}
whenEvents(insertEvents);

/** Our reply, shown at once as "sending…" until its ack gives it the server's id. */
export function appendPending(cid, frame) {
  const thread = $("thread");
  thread.querySelectorAll(".thread-loading").forEach((n) => n.remove());
  add(thread, renderPendingReply(cid, frame));
  thread.scrollTop = thread.scrollHeight;
}

/** One message of the thread; `extra` adds pending/failed markers for our own replies. */
function renderMessage(m, extra) {
  const author = m.author || {};
  const kind = KINDS.has(author.kind) ? author.kind : "system";
  const internal = m.visibility === "internal";
  const mine = kind === "operator" && author.id && author.id === myLogin();
  const node = h("div", {
    class: `msg k-${kind}` + (mine ? " is-mine" : "") + (internal ? " is-internal" : ""),
    "data-msg": m.id || null,
    "data-ts": m.ts || null,
    "data-author-kind": kind,
    "data-visibility": internal ? "internal" : "public",
    ...(extra || {}),
  });
  const who = author.name || author.id || t(`author.${kind}`);
  node.appendChild(h("div", { class: "m-meta" },
    kind === "system" ? null : h("span", { class: "m-author", text: who }),
    internal ? h("span", { class: "m-note", text: t("msg.internal") }) : null,
    m.edited_at ? h("span", { class: "m-edited", text: t("msg.edited"),
      title: (m.edits || []).map((x) => t("msg.before", { text: x.text })).join("\n") }) : null,
    h("span", { class: "m-time", text: clock(m.ts) })));
  node.appendChild(h("div", { class: "m-text", text: m.text ?? "" }));
  const files = Array.isArray(m.attachments) ? m.attachments : [];
  if (files.length) {
    node.appendChild(h("ul", { class: "m-files" }, files.map((a) => {
      const label = (a && (a.name || a.filename || a.type)) || t("msg.attachment");
      const url = a && typeof a.url === "string" && /^(https?:\/\/|\/)/i.test(a.url) ? a.url : null;
      return h("li", {}, url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: label }) : label);
    })));
  }
  node.appendChild(h("div", { class: "m-state" }));
  if (m.delivery) showDelivery(node, m.delivery.state, m.delivery.error);
  return node;
}

/** Delivery of an outbound message as the channel reported it: queued, sent, or failed with the reason. */
function showDelivery(node, deliveryState, error) {
  node.setAttribute("data-delivery", deliveryState);
  const known = ["queued", "sent", "failed"].includes(deliveryState);
  const label = known ? t(`delivery.${deliveryState}`) : deliveryState;
  node.querySelector(".m-state").textContent = deliveryState === "failed" && error
    ? t("delivery.failed_because", { error }) : label;
}

function renderPendingReply(cid, frame) {
  const me = state.me || {};
  const node = renderMessage({
    author: { kind: "operator", id: me.login, name: me.name || me.login },
    text: frame.text, ts: new Date().toISOString(), visibility: frame.visibility || "public",
  }, { "data-pending": "1", "data-client-msg-id": cid });
  node.querySelector(".m-state").textContent = t("delivery.queued");
  return node;
}

// ---- live frames

function onMessage(f) {
  const m = f.message;
  if (!m || !m.id) return;
  const dialogId = f.dialog_id || m.dialog_id;
  const preview = { text: m.text, ts: m.ts, author_kind: m.author && m.author.kind, visibility: m.visibility };
  const d = state.dialogs.get(dialogId);
  if (d) d.last_message = preview;
  if (m.author && m.author.kind === "customer") customerWrote(dialogId);
  if (dialogId === state.selectedId) {
    if (state.selected) state.selected.last_message = preview;
    if (loading) buffer.push(m); else appendMessage(m);
  }
  if (m.author && m.author.kind === "customer") customerMessage(dialogId);
  if (d) notify("lists");
}

function onMessageEdited(f) {
  const m = f.message || {};
  const old = $("thread").querySelector(`[data-msg="${CSS.escape(m.id || "")}"]`);
  if (old && f.dialog_id === state.selectedId) old.replaceWith(renderMessage(m));
}

function onMessageStatus(f) {
  const node = $("thread").querySelector(`[data-msg="${CSS.escape(f.message_id || "")}"]`);
  if (node) showDelivery(node, f.state, f.error);
}

onFrame("message", onMessage);
onFrame("message.status", onMessageStatus);
onFrame("message.edited", onMessageEdited);
