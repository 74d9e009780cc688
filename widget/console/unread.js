/* Unread counts: the customer messages after my read mark, per dialog; the open dialog is marked read while seen. */

import { api } from "./api.js";
import { onFrame } from "./socket.js";
import { baseTitle, notify, state } from "./store.js";

const marked = new Map(); // dialog id -> the newest message id we told the server we saw

/** The dialog's unread count (0 when none). */
export const unreadOf = (id) => state.unread.get(id) || 0;

/** Is the open dialog's thread on screen for the operator to read? */
export const threadSeen = () => !!state.selectedId && document.visibilityState === "visible";

/** Set a dialog's count (from a list snapshot or another tab's dialog.read); the open, seen dialog stays at 0. */
export function setUnread(id, n) {
  if (id === state.selectedId && threadSeen()) n = 0;
  if (n > 0) state.unread.set(id, n); else state.unread.delete(id);
}

/** A customer wrote in a dialog: one more unread unless the operator is looking at it. */
export function customerMessage(id) {
  if (id === state.selectedId && threadSeen()) { markSeen(); return; }
  state.unread.set(id, unreadOf(id) + 1);
}

/** The tab's title: "(N) openlines console", N the unread messages plus the offers to me. */
export function updateTitle() {
  let n = state.lists.offered.size;
  for (const [id, count] of state.unread) if (state.dialogs.has(id)) n += count;
  document.title = n ? `(${n}) ${baseTitle()}` : baseTitle();
}

function newestShown() {
  const shown = document.querySelectorAll("#thread [data-msg]:not([data-pending])");
  return shown.length ? shown[shown.length - 1].dataset.msg : null;
}

/** The open dialog is on screen: move my read mark up to its newest message shown. */
export async function markSeen() {
  const id = state.selectedId;
  if (!threadSeen()) return;
  const mid = newestShown();
  const had = unreadOf(id);
  state.unread.delete(id);
  if (had) notify("lists");
  if (!mid || marked.get(id) === mid) return;
  marked.set(id, mid);
  try {
    const res = await api("POST", `/api/dialogs/${encodeURIComponent(id)}/read`, { message_id: mid });
    if (res && typeof res.unread === "number" && res.dialog_id === id) { setUnread(id, res.unread); notify("lists"); }
  } catch {
    marked.delete(id); // tried again with the next message, or when the tab is shown again
  }
}

/** Sign-out: the next operator's marks are their own. */
export function forgetMarks() { marked.clear(); }

document.addEventListener("visibilitychange", () => { if (state.running) markSeen(); });

onFrame("dialog.read", (f) => {
  if (!f.dialog_id || typeof f.unread !== "number") return;
  setUnread(f.dialog_id, f.unread);
  notify("lists");
});
