/* The shared state the views read, and a tiny subscribe/notify so views can ask each other to redraw. */

export const LISTS = ["offered", "mine", "queued", "closed"];
export const BASE_TITLE = "openlines console";

export const state = {
  running: false, // signed in and the console is on screen
  me: null,
  meta: { lines: [], operators: [], statuses: [] },
  dialogs: new Map(), // id -> dialog summary (the latest we saw)
  lists: Object.fromEntries(LISTS.map((n) => [n, new Set()])),
  fresh: new Set(), // offers the operator has not looked at yet (highlighted)
  unread: new Set(), // dialogs with customer messages the operator has not opened
  selectedId: null,
  selected: null, // full dialog object for the center pane
  pendingReplies: new Map(), // client_msg_id -> reply frame, until its ack (re-sent after a reconnect)
  lead: null, // the lead on the card
};

export const myLogin = () => (state.me && state.me.login) || "";

/** Forget everything of the session but `me` and `meta` (sign-out). */
export function resetState() {
  state.dialogs.clear();
  LISTS.forEach((n) => state.lists[n].clear());
  state.fresh.clear();
  state.unread.clear();
  state.pendingReplies.clear();
  state.selectedId = null;
  state.selected = null;
  state.lead = null;
}

/*
 * Topics: "lists" (dialog lists changed: redraw them), "me" (state.me changed), "conn" (payload: socket up or not),
 * "resync" (the socket (re)connected: refetch whatever may have changed meanwhile). Listeners run synchronously,
 * in the order they subscribed.
 */
const listeners = new Map();

export function subscribe(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, []);
  listeners.get(topic).push(fn);
}

export function notify(topic, payload) {
  for (const fn of listeners.get(topic) || []) fn(payload);
}
