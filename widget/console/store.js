/* The shared state the views read, and a tiny subscribe/notify so views can ask each other to redraw. */

import { t } from "./i18n.js";

/**
 * The sidebar's lists; "all" (every open dialog, whoever has it) is shown to admins only; "invited" (colleagues'
 * dialogs I was invited into) lists a dialog besides its place, like "all".
 */
export const LISTS = ["offered", "mine", "invited", "queued", "all", "closed"];
/** A dialog is in at most one of these (by its state); "all" lists it besides. */
export const PLACES = ["offered", "mine", "queued", "closed"];
export const DEFAULT_MAX_MESSAGE = 4000; // docs/protocol.md: the default of limits.max_message_length

export const state = {
  running: false, // signed in and the console is on screen
  me: null,
  meta: { lines: [], operators: [], statuses: [], pipeline: [], limits: {}, deal_pipelines: [], fields: {}, remind_after_days: 0 },
  dialogs: new Map(), // id -> dialog summary (the latest we saw)
  lists: Object.fromEntries(LISTS.map((n) => [n, new Set()])),
  fresh: new Set(), // offers the operator has not looked at yet (highlighted)
  unread: new Map(), // dialog id -> customer messages after my read mark (absent at 0)
  selectedId: null,
  selected: null, // full dialog object for the center pane
  pendingReplies: new Map(), // client_msg_id -> reply frame, until its ack (re-sent after a reconnect)
  drafts: new Map(), // dialog id -> {text, files, internal}: what was typed and attached for that dialog
  lead: null, // the lead on the card
};

export const myLogin = () => (state.me && state.me.login) || "";
export const isAdmin = () => !!(state.me && state.me.role === "admin");
/** Am I a guest of the dialog (a colleague invited me into their open dialog)? */
export const isGuest = (d) => !!d && d.state === "assigned" && d.operator !== myLogin()
  && (d.invited || []).includes(myLogin());
export const baseTitle = () => t("title");

/** The longest reply the server takes (GET /api/meta's limits, when it says; else the protocol's default). */
export function maxMessageLength() {
  const n = state.meta.limits && state.meta.limits.max_message_length;
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_MESSAGE;
}

/** How a dialog is named in lists and its header: the lead's name (edited on the card), else the channel's. */
export function dialogName(d) {
  return (d && ((d.lead && d.lead.name) || d.customer_name)) || t("dialog.customer");
}

export function operatorName(login) {
  const op = state.meta.operators.find((o) => o.login === login);
  return (op && op.name) || login;
}

/** Forget everything of the session but `me` and `meta` (sign-out). */
export function resetState() {
  state.dialogs.clear();
  LISTS.forEach((n) => state.lists[n].clear());
  state.fresh.clear();
  state.unread.clear();
  state.pendingReplies.clear();
  state.drafts.clear();
  state.selectedId = null;
  state.selected = null;
  state.lead = null;
}

/*
 * Topics: "lists" (dialog lists changed: redraw them), "header" (the selected dialog's summary changed: redraw
 * its header), "me" (state.me changed), "conn" (payload: socket up or not), "resync" (the socket (re)connected:
 * refetch whatever may have changed meanwhile), "open" (payload: a dialog id to open in the thread). Listeners
 * run synchronously, in the order they subscribed.
 */
const listeners = new Map();

export function subscribe(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, []);
  listeners.get(topic).push(fn);
}

export function notify(topic, payload) {
  for (const fn of listeners.get(topic) || []) fn(payload);
}
