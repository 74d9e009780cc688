/* The console websocket: connecting, reconnecting with backoff, resyncing after every hello, routing frames. */

import { api } from "./api.js";
import { t } from "./i18n.js";
import { notify, state } from "./store.js";
import { toast } from "./toast.js";

const MAX_BACKOFF_MS = 30000;

const handlers = new Map(); // frame type -> the functions that handle it, in the order they registered
let ws = null;
let ready = false; // the server said hello on this socket: commands may go out
let attempt = 0;
let reconnectTimer = null;

/** Register what a frame type does (several views may follow one type); unregistered types are ignored. */
export function onFrame(type, fn) {
  if (!handlers.has(type)) handlers.set(type, []);
  handlers.get(type).push(fn);
}

export const isReady = () => ready;

export function connect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  if (!state.running) return;
  // batch=1: under load the server sends several frames at once as {"type": "batch", "frames": [...]}
  const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/api/console/ws?batch=1`;
  let sock;
  try { sock = new WebSocket(url); } catch { scheduleReconnect(); return; }
  ws = sock;
  let greeted = false;
  sock.onmessage = (ev) => {
    if (ws !== sock) return;
    let f;
    try { f = JSON.parse(ev.data); } catch { return; }
    if (!f || typeof f !== "object") return;
    for (const one of f.type === "batch" && Array.isArray(f.frames) ? f.frames : [f]) {
      if (!one || typeof one !== "object") continue;
      if (one.type === "hello") { greeted = true; onHello(one); } else {
        for (const handle of handlers.get(one.type) || []) handle(one);
      }
    }
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    ws = null;
    ready = false;
    notify("conn", false);
    if (!state.running) return;
    // A socket refused before its hello may mean the session is gone; /api/me tells (and a 401 signs out).
    if (!greeted) api("GET", "/api/me").then(scheduleReconnect, (e) => { if (e.status !== 401) scheduleReconnect(); });
    else scheduleReconnect();
  };
}

/** Close for good (sign-out): no reconnect. */
export function disconnect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  const sock = ws;
  ws = null;
  ready = false;
  if (sock) sock.close();
}

function scheduleReconnect() {
  if (!state.running || reconnectTimer || ws) return;
  const delay = Math.min(1000 * 2 ** attempt, MAX_BACKOFF_MS);
  attempt += 1;
  reconnectTimer = setTimeout(connect, delay);
}

window.addEventListener("online", () => {
  if (state.running && !ws) { attempt = 0; connect(); }
});

/** Send a frame if the socket is up; false (and, unless quiet, a toast) when it is not. */
export function sendFrame(frame, quiet) {
  if (ws && ready && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify(frame));
    return true;
  }
  if (!quiet) toast(t("net.offline"), "offline");
  return false;
}

function onHello(f) {
  ready = true;
  attempt = 0;
  notify("conn", true);
  if (f.operator) { state.me = f.operator; notify("me"); }
  notify("resync"); // anything may have happened while we were away
  for (const frame of state.pendingReplies.values()) sendFrame(frame, true); // same ids: the server dedupes
}
