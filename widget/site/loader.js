/*
 * openlines site widget loader.
 *
 * The only script a site embeds:
 *   <script src="https://HOST/widget/loader.js" data-line="support" async></script>
 *
 * It mounts a chat launcher + panel inside an open Shadow DOM root (so the site's CSS cannot break it) and talks to
 * ws(s)://HOST/widget/ws?line=LINE using protocol version 1 (docs/protocol.md). Everything the server or a visitor
 * wrote is rendered with textContent, never parsed as HTML.
 */
(function () {
  "use strict";

  var PROTOCOL = 1;
  var MAX_BACKOFF_MS = 30000;
  // If an `invalid_token` error is not followed by a fresh server hello, start over with a new socket.
  var INVALID_TOKEN_GRACE_MS = 3000;

  // ---------------------------------------------------------------- locate our own <script> element

  function isLoaderSrc(src) {
    if (!src) return false;
    var path = src.split("#")[0].split("?")[0];
    return /\/widget\/loader\.js$/.test(path);
  }

  function findScript() {
    var cur = document.currentScript;
    if (cur && isLoaderSrc(cur.src)) return cur;
    // Fallback (e.g. the script was injected in a way that leaves currentScript null): the first loader tag we have
    // not claimed yet.
    var all = document.getElementsByTagName("script");
    for (var i = 0; i < all.length; i++) {
      if (isLoaderSrc(all[i].src) && !all[i].hasAttribute("data-ol-claimed")) return all[i];
    }
    return null;
  }

  var script = findScript();
  if (!script) {
    if (window.console) console.warn("openlines: cannot find the loader <script> element");
    return;
  }
  script.setAttribute("data-ol-claimed", "1");

  // ---------------------------------------------------------------- small helpers

  var store = {
    get: function (area, key) {
      try { return window[area].getItem(key); } catch (e) { return null; } // storage may be blocked (privacy modes)
    },
    set: function (area, key, value) {
      try { window[area].setItem(key, value); } catch (e) { /* not fatal: we just forget */ }
    },
    remove: function (area, key) {
      try { window[area].removeItem(key); } catch (e) { /* ignore */ }
    },
  };

  function uuid() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === "function") {
      try { return c.randomUUID(); } catch (e) { /* insecure context: fall through */ }
    }
    var b = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function") c.getRandomValues(b);
    else for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function hhmm(ts) {
    var d = ts ? new Date(ts) : new Date();
    if (isNaN(d.getTime())) return "";
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  /** Create an element with attributes and children (strings become text nodes, never HTML). */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] != null) node.setAttribute(k, attrs[k]);
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  var SVG_NS = "http://www.w3.org/2000/svg";
  /** A stroked 24x24 icon from path data (static, ours). */
  function icon(paths) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    paths.forEach(function (d) {
      var p = document.createElementNS(SVG_NS, "path");
      p.setAttribute("d", d);
      svg.appendChild(p);
    });
    return svg;
  }
  var ICON_CHAT = ["M4 5h16v11H9l-5 4z"];
  var ICON_CLOSE = ["M6 6l12 12", "M18 6L6 18"];
  var ICON_SEND = ["M4 12l16-8-6 16-2-7z"];

  // ---------------------------------------------------------------- the widget

  function mount(cfg) {
    var KEY_TOKEN = "openlines.visitor." + cfg.line;
    var KEY_PENDING = "openlines.pending." + cfg.line;
    var KEY_OPEN = "openlines.open." + cfg.line;
    var wsUrl = cfg.origin.replace(/^http/, "ws") + "/widget/ws?line=" + encodeURIComponent(cfg.line);

    // ---- DOM
    var host = el("div", { "data-openlines-line": cfg.line });
    // The shadow root shields our insides, but the host element itself is still styled by the site's CSS (a stray
    // `div { display: none }` or a `transform` would hide or displace the fixed panel); inline !important wins.
    host.style.cssText = "all: initial !important; display: block !important; visibility: visible !important;" +
      " position: static !important; opacity: 1 !important; transform: none !important; filter: none !important;";
    host.style.setProperty("--ol-accent", cfg.color);
    var root = host.attachShadow({ mode: "open" });
    var style = document.createElement("style");
    style.textContent = CSS;
    root.appendChild(style);

    var badge = el("span", { class: "badge", "data-ol": "badge", hidden: "" });
    var launcher = el("button", {
      type: "button", class: "launcher", "data-ol": "launcher",
      "aria-label": cfg.title, "aria-expanded": "false",
    }, [icon(ICON_CHAT), icon(ICON_CLOSE), badge]);

    var status = el("div", { class: "status", "data-ol": "status", "data-state": "connecting", role: "status" },
      ["Connecting…"]);
    var closeBtn = el("button", { type: "button", class: "close", "data-ol": "close", "aria-label": "Close chat" },
      [icon(ICON_CLOSE)]);
    var header = el("div", { class: "header" }, [
      el("div", { class: "titles" }, [el("div", { class: "title", "data-ol": "title" }, [cfg.title]), status]),
      closeBtn,
    ]);
    var empty = el("div", { class: "empty", "data-ol": "empty" },
      ["Hi! Ask us anything — we usually reply within a few minutes."]);
    var messages = el("div", { class: "messages", "data-ol": "messages", role: "log", "aria-live": "polite" }, [empty]);
    var notice = el("div", { class: "notice", "data-ol": "notice", hidden: "", role: "alert" });
    var input = el("textarea", {
      class: "input", "data-ol": "input", rows: "1", placeholder: "Type a message…", "aria-label": "Message",
    });
    var send = el("button", { type: "button", class: "send", "data-ol": "send", "aria-label": "Send" },
      [icon(ICON_SEND)]);
    var composer = el("div", { class: "composer" }, [input, send]);
    var panel = el("div", {
      class: "panel", "data-ol": "panel", role: "dialog", "aria-label": cfg.title, hidden: "",
    }, [header, messages, notice, composer]);
    var wrap = el("div", { class: "wrap pos-" + cfg.position }, [panel, launcher]);
    root.appendChild(wrap);
    document.body.appendChild(host);

    // ---- state
    var ws = null;
    var ready = false; // true between the server's hello and the socket closing
    var attempt = 0;
    var reconnectTimer = null;
    var tokenTimer = null;
    var stopped = false; // unknown_line: the server will never accept this line
    var unread = 0;
    var byId = new Map(); // server message id -> element
    var byClientId = new Map(); // client_msg_id -> element (our own messages)
    var failed = []; // messages the server refused, kept on screen across re-renders

    function loadPending() {
      try {
        var list = JSON.parse(store.get("localStorage", KEY_PENDING) || "[]");
        return Array.isArray(list) ? list.filter(function (p) { return p && p.client_msg_id && p.text; }) : [];
      } catch (e) { return []; }
    }
    function savePending(list) {
      if (list.length) store.set("localStorage", KEY_PENDING, JSON.stringify(list));
      else store.remove("localStorage", KEY_PENDING);
    }
    function dropPending(clientId) {
      savePending(loadPending().filter(function (p) { return p.client_msg_id !== clientId; }));
    }

    // ---- rendering

    function updateEmpty() {
      empty.hidden = messages.querySelector('[data-ol="msg"]') !== null;
    }

    function nearBottom() {
      return messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
    }
    function scrollDown() { messages.scrollTop = messages.scrollHeight; }

    /** Build one message bubble; `m` is {id?, client_msg_id?, author:{kind,name}, text, ts?}. */
    function renderMessage(m, opts) {
      var kind = (m.author && m.author.kind) || "customer";
      if (kind !== "customer" && kind !== "operator" && kind !== "bot") kind = "bot";
      var node = el("div", { class: "msg " + kind, "data-ol": "msg", "data-author": kind });
      if (m.id) node.setAttribute("data-id", m.id);
      if (opts && opts.pending) node.setAttribute("data-pending", "1");
      if (kind !== "customer" && m.author && m.author.name) {
        node.appendChild(el("div", { class: "author", "data-ol": "author" }, [String(m.author.name)]));
      }
      node.appendChild(el("div", { class: "bubble" }, [el("div", { class: "text", "data-ol": "text" }, [m.text == null ? "" : String(m.text)])]));
      var meta = el("div", { class: "meta" }, [el("span", { class: "time", "data-ol": "time" }, [hhmm(m.ts)])]);
      meta.appendChild(el("span", { class: "state", "data-ol": "state" }, [opts && opts.pending ? "sending…" : ""]));
      node.appendChild(meta);
      if (m.id) byId.set(m.id, node);
      if (m.client_msg_id) {
        node.setAttribute("data-client-msg-id", m.client_msg_id);
        byClientId.set(m.client_msg_id, node);
      }
      return node;
    }

    function append(node) {
      var stick = nearBottom();
      messages.appendChild(node);
      updateEmpty();
      if (stick || node.getAttribute("data-author") === "customer") scrollDown();
    }

    function markAcked(node, id) {
      node.removeAttribute("data-pending");
      node.setAttribute("data-id", id);
      node.querySelector('[data-ol="state"]').textContent = "";
      byId.set(id, node);
    }

    function markFailed(node, text) {
      node.removeAttribute("data-pending");
      node.setAttribute("data-failed", "1");
      node.querySelector('[data-ol="state"]').textContent = "";
      var err = el("div", { class: "error", "data-ol": "error" }, [text || "Not delivered"]);
      node.appendChild(err);
    }

    /** Re-render everything from the server's history plus what is still unacked or refused. */
    function renderAll(history) {
      byId.clear();
      byClientId.clear();
      messages.querySelectorAll('[data-ol="msg"]').forEach(function (n) { n.remove(); });
      (history || []).forEach(function (m) { if (m && !byId.has(m.id)) messages.appendChild(renderMessage(m)); });
      failed.forEach(function (n) { messages.appendChild(n); });
      loadPending().forEach(function (p) {
        if (!byClientId.has(p.client_msg_id)) messages.appendChild(renderMessage(p, { pending: true }));
      });
      updateEmpty();
      scrollDown();
    }

    // ---- status line and notices

    var STATUS_TEXT = {
      connecting: "Connecting…",
      online: "We reply as soon as we can",
      reconnecting: "Connection lost — reconnecting…",
      unavailable: "Chat is not available right now",
    };
    function setStatus(state) {
      status.setAttribute("data-state", state);
      status.textContent = STATUS_TEXT[state];
      panel.setAttribute("data-conn", state);
    }

    var noticeTimer = null;
    function showNotice(text) {
      notice.textContent = text;
      notice.hidden = false;
      clearTimeout(noticeTimer);
      noticeTimer = setTimeout(function () { notice.hidden = true; }, 8000);
    }

    // ---- open / close

    function setOpen(open, focus) {
      panel.hidden = !open;
      wrap.classList.toggle("open", open);
      launcher.setAttribute("aria-expanded", open ? "true" : "false");
      store.set("sessionStorage", KEY_OPEN, open ? "1" : "0");
      if (open) {
        unread = 0;
        badge.hidden = true;
        scrollDown();
        if (focus) input.focus();
      }
    }
    launcher.addEventListener("click", function () { setOpen(panel.hidden, true); });
    closeBtn.addEventListener("click", function () { setOpen(false); launcher.focus(); });
    panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { setOpen(false); launcher.focus(); }
    });

    function bumpUnread() {
      if (!panel.hidden) return;
      unread += 1;
      badge.textContent = unread > 9 ? "9+" : String(unread);
      badge.hidden = false;
    }

    // ---- sending

    function sendFrame(frame) {
      if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(frame)); return true; }
      return false;
    }

    function submit() {
      var text = input.value;
      if (!text.trim()) return;
      var p = { client_msg_id: uuid(), text: text, ts: new Date().toISOString(), author: { kind: "customer" } };
      // Persist first: if the page closes before the ack, the next visit re-sends with the same id (server dedupes).
      var list = loadPending();
      list.push(p);
      savePending(list);
      append(renderMessage(p, { pending: true }));
      input.value = "";
      autosize();
      if (ready) sendFrame({ type: "message", client_msg_id: p.client_msg_id, text: p.text });
    }

    send.addEventListener("click", function () { submit(); input.focus(); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    });
    function autosize() {
      input.style.height = "auto";
      input.style.height = Math.min(input.scrollHeight, 120) + "px";
    }
    input.addEventListener("input", autosize);

    // ---- server frames

    function onHello(f) {
      clearTimeout(tokenTimer);
      if (f.visitor_token) store.set("localStorage", KEY_TOKEN, f.visitor_token);
      ready = true;
      attempt = 0;
      setStatus("online");
      var history = Array.isArray(f.history) ? f.history : [];
      // Anything in the history is stored already; forget it locally. Re-send the rest with the SAME ids.
      var stored = new Set(history.map(function (m) { return m && m.client_msg_id; }).filter(Boolean));
      var pending = loadPending().filter(function (p) { return !stored.has(p.client_msg_id); });
      savePending(pending);
      renderAll(history);
      pending.forEach(function (p) { sendFrame({ type: "message", client_msg_id: p.client_msg_id, text: p.text }); });
    }

    var resendTimer = null;
    /** Re-send every unacknowledged message (same ids: the server stores each once) after `ms`. */
    function scheduleResend(ms) {
      if (resendTimer) return;
      resendTimer = setTimeout(function () {
        resendTimer = null;
        if (!ready) return; // the next hello re-sends them anyway
        loadPending().forEach(function (p) { sendFrame({ type: "message", client_msg_id: p.client_msg_id, text: p.text }); });
      }, Math.min(Math.max(ms, 250), 60000));
    }

    function onAck(f) {
      dropPending(f.client_msg_id);
      var node = byClientId.get(f.client_msg_id);
      if (!node) return;
      var other = byId.get(f.id);
      if (other && other !== node) { node.remove(); return; } // the message itself arrived before its ack
      markAcked(node, f.id);
    }

    function onMessage(f) {
      if (!f.id || byId.has(f.id)) return;
      append(renderMessage(f));
      if (f.author && f.author.kind !== "customer") bumpUnread();
    }

    function onError(f) {
      var text = f.message || f.code || "Something went wrong";
      if (f.code === "invalid_token") {
        // The server issues a fresh token with its hello; drop the bad one so a reconnect does not repeat it.
        store.remove("localStorage", KEY_TOKEN);
        clearTimeout(tokenTimer);
        tokenTimer = setTimeout(function () { if (!ready && ws) ws.close(); }, INVALID_TOKEN_GRACE_MS);
        return;
      }
      if (f.code === "unknown_line") {
        stopped = true;
        setStatus("unavailable");
        return;
      }
      if (f.code === "hello_required") return; // our pending messages are re-sent after the next hello
      if (f.code === "rate_limited" || f.code === "unavailable") {
        // Not stored, not refused for good: keep it pending and send it again when the server says we may.
        scheduleResend((Number(f.retry_after) || 1) * 1000);
        return;
      }
      if (f.client_msg_id) {
        dropPending(f.client_msg_id); // refused for good (too long, empty…): re-sending would fail again
        var node = byClientId.get(f.client_msg_id);
        if (node && !node.hasAttribute("data-failed")) {
          markFailed(node, text);
          failed.push(node);
          return;
        }
      }
      showNotice(text);
    }

    function onFrame(ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (!f || typeof f !== "object") return;
      switch (f.type) {
        case "hello": onHello(f); break;
        case "ack": onAck(f); break;
        case "message": onMessage(f); break;
        case "error": onError(f); break;
        default: break; // newer servers may send frames we do not know yet
      }
    }

    // ---- connection

    function connect() {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      if (stopped) return;
      var sock;
      try { sock = new WebSocket(wsUrl); } catch (e) { scheduleReconnect(); return; }
      ws = sock;
      sock.onopen = function () {
        sock.send(JSON.stringify({
          type: "hello", protocol: PROTOCOL, visitor_token: store.get("localStorage", KEY_TOKEN) || null,
        }));
      };
      sock.onmessage = function (ev) { if (ws === sock) onFrame(ev); };
      sock.onclose = function () {
        if (ws !== sock) return;
        ws = null;
        ready = false;
        if (stopped) { setStatus("unavailable"); return; }
        setStatus("reconnecting");
        scheduleReconnect();
      };
    }

    function scheduleReconnect() {
      if (reconnectTimer || stopped) return;
      var delay = Math.min(1000 * Math.pow(2, attempt), MAX_BACKOFF_MS);
      attempt += 1;
      reconnectTimer = setTimeout(connect, delay);
    }

    // Coming back online is a good moment to retry without waiting for the backoff.
    window.addEventListener("online", function () { if (!ws && !stopped) { attempt = 0; connect(); } });

    // ---- go
    renderAll([]); // show unacked messages from a previous visit right away
    setOpen(store.get("sessionStorage", KEY_OPEN) === "1", false);
    connect();
  }

  // ---------------------------------------------------------------- styles (static; lives in the shadow root)

  var CSS = [
    ":host { all: initial; }",
    "[hidden] { display: none !important; }",
    ".wrap { --ol-bg: #ffffff; --ol-fg: #1d2433; --ol-muted: #6b7385; --ol-line: #e4e7ee; --ol-soft: #f3f5f9;",
    "  font: 15px/1.4 system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;",
    "  color: var(--ol-fg); }",
    ".wrap *, .wrap *::before, .wrap *::after { box-sizing: border-box; }",
    "button { font: inherit; cursor: pointer; }",
    "svg { width: 24px; height: 24px; fill: none; stroke: currentColor; stroke-width: 2;",
    "  stroke-linecap: round; stroke-linejoin: round; }",

    ".launcher { position: fixed; bottom: 20px; z-index: 2147483000; width: 58px; height: 58px; border-radius: 50%;",
    "  border: 0; background: var(--ol-accent, #2f6fed); color: #fff; display: grid; place-items: center;",
    "  box-shadow: 0 6px 20px rgba(20, 30, 60, .25); transition: transform .15s ease; }",
    ".launcher:hover { transform: scale(1.05); }",
    ".launcher:focus-visible, .send:focus-visible, .close:focus-visible { outline: 3px solid #9db9ff; outline-offset: 2px; }",
    ".launcher svg { width: 28px; height: 28px; }",
    ".launcher svg + svg, .wrap.open .launcher svg:first-child { display: none; }",
    ".wrap.open .launcher svg + svg { display: block; }",
    ".pos-right .launcher, .pos-right .panel { right: 20px; }",
    ".pos-left .launcher, .pos-left .panel { left: 20px; }",
    ".badge { position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; padding: 0 5px;",
    "  border-radius: 10px; background: #e5484d; color: #fff; font-size: 12px; line-height: 20px; font-weight: 600; }",

    ".panel { position: fixed; bottom: 92px; z-index: 2147483000; width: 370px; height: min(580px, calc(100vh - 120px));",
    "  display: flex; flex-direction: column; background: var(--ol-bg); border-radius: 16px; overflow: hidden;",
    "  box-shadow: 0 12px 40px rgba(20, 30, 60, .22); border: 1px solid var(--ol-line); }",
    ".header { display: flex; align-items: center; gap: 8px; padding: 14px 12px 12px 18px;",
    "  background: var(--ol-accent, #2f6fed); color: #fff; }",
    ".titles { flex: 1; min-width: 0; }",
    ".title { font-weight: 600; font-size: 16px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }",
    ".status { font-size: 12px; opacity: .85; }",
    ".status[data-state='reconnecting'], .status[data-state='connecting'] { font-style: italic; }",
    ".close { border: 0; background: transparent; color: inherit; width: 36px; height: 36px; border-radius: 8px;",
    "  display: grid; place-items: center; }",
    ".close:hover { background: rgba(255, 255, 255, .15); }",
    ".close svg { width: 20px; height: 20px; }",

    ".messages { flex: 1; overflow-y: auto; padding: 16px 14px; display: flex; flex-direction: column; gap: 10px;",
    "  background: var(--ol-soft); overscroll-behavior: contain; }",
    ".empty { margin: auto; max-width: 240px; text-align: center; color: var(--ol-muted); font-size: 14px; }",
    ".msg { display: flex; flex-direction: column; max-width: 82%; align-self: flex-start; }",
    ".msg.customer { align-self: flex-end; align-items: flex-end; }",
    ".author { font-size: 12px; color: var(--ol-muted); margin: 0 0 2px 10px; }",
    ".bubble { padding: 8px 12px; border-radius: 14px; background: var(--ol-bg); border: 1px solid var(--ol-line);",
    "  border-bottom-left-radius: 4px; }",
    ".msg.customer .bubble { background: var(--ol-accent, #2f6fed); color: #fff; border-color: transparent;",
    "  border-bottom-left-radius: 14px; border-bottom-right-radius: 4px; }",
    ".msg.bot .bubble { background: #eef1f7; }",
    ".text { white-space: pre-wrap; overflow-wrap: anywhere; }",
    ".meta { font-size: 11px; color: var(--ol-muted); margin: 2px 6px 0; display: flex; gap: 6px; }",
    ".msg[data-pending] .bubble { opacity: .65; }",
    ".msg[data-failed] .bubble { opacity: .65; border: 1px dashed #e5484d; }",
    ".error { font-size: 12px; color: #c9262c; margin: 2px 6px 0; max-width: 260px; text-align: right; }",

    ".notice { padding: 8px 14px; font-size: 12px; color: #8a4b00; background: #fff6e5; border-top: 1px solid #f3dfb5; }",
    ".panel[data-conn='reconnecting'] .messages, .panel[data-conn='unavailable'] .messages { opacity: .8; }",
    ".composer { display: flex; align-items: flex-end; gap: 8px; padding: 10px; border-top: 1px solid var(--ol-line);",
    "  background: var(--ol-bg); }",
    ".input { flex: 1; resize: none; border: 1px solid var(--ol-line); border-radius: 12px; padding: 9px 12px;",
    "  font: inherit; color: inherit; max-height: 120px; min-height: 40px; outline: none; background: var(--ol-bg); }",
    ".input:focus { border-color: var(--ol-accent, #2f6fed); }",
    ".send { flex: none; width: 40px; height: 40px; border: 0; border-radius: 12px; display: grid; place-items: center;",
    "  background: var(--ol-accent, #2f6fed); color: #fff; }",
    ".send svg { width: 20px; height: 20px; }",

    // Phones: the open panel takes the whole screen and the launcher steps aside (the header has a close button).
    "@media (max-width: 480px) {",
    "  .panel { inset: 0 !important; width: 100%; height: 100%; border-radius: 0; border: 0; }",
    "  .wrap.open .launcher { display: none; }",
    "  .input { font-size: 16px; }", // 16px stops iOS from zooming into the field
    "}",
    "@media (prefers-reduced-motion: reduce) { .launcher { transition: none; } }",
  ].join("\n");

  // ---------------------------------------------------------------- start once the body exists

  function whenBody(fn) {
    // Waiting for the DOM also lets an inline script on the page remove or replace this tag before we mount.
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn, { once: true });
    else fn();
  }

  whenBody(function () {
    if (!script.isConnected) return; // the page removed our tag before we mounted (e.g. the demo switching lines)
    var line = (script.getAttribute("data-line") || "").trim();
    if (!line) {
      if (window.console) console.error("openlines: the loader <script> needs a data-line attribute");
      return;
    }
    var registry = (window.__openlinesWidgets = window.__openlinesWidgets || {});
    if (registry[line]) return; // the same line embedded twice: one widget is enough
    registry[line] = true;
    mount({
      line: line,
      title: script.getAttribute("data-title") || "Chat with us",
      color: script.getAttribute("data-color") || "#2f6fed",
      position: script.getAttribute("data-position") === "left" ? "left" : "right",
      origin: new URL(script.src, document.baseURI).origin,
    });
  });
})();
