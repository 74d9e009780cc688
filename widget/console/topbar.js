/* The top bar: the connection badge, the presence toggle and the signed-in operator's name. */

import { $ } from "./dom.js";
import { onLanguage, t } from "./i18n.js";
import { onFrame, sendFrame } from "./socket.js";
import { state, subscribe } from "./store.js";

let connUp = null; // null: not connected yet since the page opened

function setConn(up) {
  connUp = up;
  const c = $("conn");
  delete c.dataset.i18n; // "Connecting…" only until the first answer
  c.dataset.state = up ? "up" : "down";
  c.textContent = up ? t("conn.up") : t("conn.down");
}

function setPresence(status) {
  const b = $("presence");
  b.dataset.status = status || "offline";
  b.textContent = status === "online" ? t("presence.online") : status === "away" ? t("presence.away") : t("presence.offline");
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
onLanguage(() => {
  if (connUp !== null) setConn(connUp);
  setPresence($("presence").dataset.status);
});
