/* The top bar: the connection badge, the presence toggle and the signed-in operator's name. */

import { $ } from "./dom.js";
import { onFrame, sendFrame } from "./socket.js";
import { state, subscribe } from "./store.js";

function setConn(up) {
  const c = $("conn");
  c.dataset.state = up ? "up" : "down";
  c.textContent = up ? "Connected" : "Reconnecting…";
}

function setPresence(status) {
  const b = $("presence");
  b.dataset.status = status || "offline";
  b.textContent = status === "online" ? "Online" : status === "away" ? "Away" : "Offline";
  b.setAttribute("aria-pressed", status === "online" ? "true" : "false");
}

export function renderMe() {
  const me = state.me || {};
  $("me-name").textContent = me.name || me.login || "";
  if (me.presence === "online" || me.presence === "away") setPresence(me.presence);
}

$("presence").addEventListener("click", () => {
  const next = $("presence").dataset.status === "online" ? "away" : "online";
  if (sendFrame({ type: "presence", status: next })) setPresence(next); // the server's presence frame confirms
});

onFrame("presence", (f) => setPresence(f.status));
subscribe("conn", setConn);
subscribe("me", renderMe);
