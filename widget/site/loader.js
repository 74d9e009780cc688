/*
 * openlines site widget loader.
 *
 * The only script a site embeds:
 *   <script src="https://HOST/widget/loader.js" data-line="support" async></script>
 *
 * Optional attributes: data-title (overrides the line's `title` from the configuration), data-lang (`en`, `ru`;
 * default: the page's <html lang>, else English), data-color, data-position="left".
 *
 * It loads its strings (HOST/widget/strings.LANG.js), mounts a chat launcher + panel inside an open Shadow DOM root
 * (so the site's CSS cannot break it) and talks to ws(s)://HOST/widget/ws?line=LINE using protocol version 1
 * (docs/protocol.md). Everything the server, an operator or a visitor wrote is rendered with textContent, never
 * parsed as HTML; an operator's files are fetched with the visitor's token and shown from memory.
 */
(function () {
  "use strict";

  var PROTOCOL = 1;
  var MAX_BACKOFF_MS = 30000;
  // If an `invalid_token` error is not followed by a fresh server hello, start over with a new socket.
  var INVALID_TOKEN_GRACE_MS = 3000;
  // A message the server has not acknowledged by then shows as not sent, with a retry (it stays queued meanwhile).
  var ACK_TIMEOUT_MS = 15000;
  // Typing (docs/protocol.md): "still typing" again this often while keys are pressed; stopped after this long
  // without one; an operator's indicator goes this long after their last "typing" (the server passes a repeat on
  // at most every 3 s, so one reaches us about every 5 s while they type).
  var TYPING_REPEAT_MS = 2500;
  var TYPING_IDLE_MS = 5000;
  var TYPING_SHOWN_MS = 6000;
  var LANGUAGES = ["en", "ru"]; // the strings.LANG.js files next to this one
  var SETTINGS_WAIT_MS = 3000; // how long the line's settings may take before the widget starts without them
  var INLINE_IMAGES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

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
  var IDENTITY_ERRORS = ["identity_refused", "bad_identity", "identity_required", "identity_off"];
  var ICON_CHAT = ["M4 5h16v11H9l-5 4z"];
  var ICON_CLOSE = ["M6 6l12 12", "M18 6L6 18"];
  var ICON_SEND = ["M4 12l16-8-6 16-2-7z"];
  var ICON_FILE = ["M7 3h7l5 5v13H7z", "M14 3v5h5"];
  // a paperclip and a camera (after Feather icons, MIT)
  var ICON_CLIP = ["M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48"];
  var ICON_CAMERA = ["M23 19a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h4l2-3h6l2 3h4a2 2 0 0 1 2 2z",
    "M12 17a4 4 0 1 0 0-8 4 4 0 0 0 0 8z"];
  // thumbs (after Feather icons, MIT): drawn, not emoji, so every system shows them
  var ICON_LIKE = ["M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3z",
    "M7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3"];
  var ICON_DISLIKE = ["M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3z",
    "M17 2h2.67A2.31 2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17"];

  // ---------------------------------------------------------------- the widget

  function mount(cfg, T) {
    var KEY_TOKEN = "openlines.visitor." + cfg.line;
    var KEY_PENDING = "openlines.pending." + cfg.line;
    var KEY_OPEN = "openlines.open." + cfg.line;
    var KEY_TITLE = "openlines.title." + cfg.line;
    var KEY_SHOW = "openlines.show." + cfg.line; // the line's `show` rule, from the last hello
    var KEY_SHOWN = "openlines.shown." + cfg.line; // the launcher appeared in this tab: no delay on later pages
    var wsUrl = cfg.origin.replace(/^http/, "ws") + "/widget/ws?line=" + encodeURIComponent(cfg.line);
    var uploadUrl = cfg.origin + "/widget/upload?line=" + encodeURIComponent(cfg.line);

    // ---- DOM
    var host = el("div", { "data-openlines-line": cfg.line, lang: cfg.lang });
    // The shadow root shields our insides, but the host element itself is still styled by the site's CSS (a stray
    // `div { display: none }` or a `transform` would hide or displace the fixed panel); inline !important wins.
    host.style.cssText = "all: initial !important; display: block !important; visibility: visible !important;" +
      " position: static !important; opacity: 1 !important; transform: none !important; filter: none !important;";
    host.style.setProperty("--ol-accent", cfg.color);
    var root = host.attachShadow({ mode: "open" });
    // a constructed stylesheet is not an inline style to a Content-Security-Policy: the widget works on sites whose
    // policy has no 'unsafe-inline' for styles (browsers without it get a <style> element)
    if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function" &&
        typeof CSSStyleSheet.prototype.replaceSync === "function") {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      var style = document.createElement("style");
      style.textContent = CSS;
      root.appendChild(style);
    }

    var badge = el("span", { class: "badge", "data-ol": "badge", hidden: "" });
    var launcher = el("button", {
      type: "button", class: "launcher", "data-ol": "launcher", "aria-expanded": "false",
    }, [icon(ICON_CHAT), icon(ICON_CLOSE), badge]);

    var status = el("div", { class: "status", "data-ol": "status", "data-state": "connecting", role: "status" },
      [T.connecting]);
    var closeBtn = el("button", { type: "button", class: "close", "data-ol": "close", "aria-label": T.closeChat },
      [icon(ICON_CLOSE)]);
    var titleNode = el("div", { class: "title", "data-ol": "title" });
    var header = el("div", { class: "header" }, [el("div", { class: "titles" }, [titleNode, status]), closeBtn]);
    if (cfg.logo) header.insertBefore(el("img", { class: "logo", "data-ol": "logo", src: cfg.logo, alt: "" }),
      header.firstChild);
    var earlier = el("button", { type: "button", class: "earlier", "data-ol": "earlier", hidden: "" }, [T.earlier]);
    var empty = el("div", { class: "empty", "data-ol": "empty" }, [T.empty]);
    // "Anna is typing…" below the last message (messages are inserted above it)
    var typingText = el("span", { class: "typing-text", "data-ol": "typing-text" });
    var typingRow = el("div", { class: "typing", "data-ol": "typing", "aria-live": "polite", hidden: "" }, [
      el("span", { class: "dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]), typingText,
    ]);
    var messages = el("div", { class: "messages", "data-ol": "messages", role: "log", "aria-live": "polite" },
      [earlier, empty, typingRow]);
    var closedNotice = el("div", { class: "closed-notice", "data-ol": "closed-notice", hidden: "", role: "alert" });
    var notice = el("div", { class: "notice", "data-ol": "notice", hidden: "", role: "alert" });
    var input = el("textarea", {
      class: "input", "data-ol": "input", rows: "1", placeholder: T.placeholder, "aria-label": T.message,
    });
    var send = el("button", { type: "button", class: "send", "data-ol": "send", "aria-label": T.send },
      [icon(ICON_SEND)]);
    // the visitor's files: a paperclip (and on phones a camera), the chosen files in a tray above the box
    var attach = el("button", { type: "button", class: "attach", "data-ol": "attach", "aria-label": T.attach,
      title: T.attach, hidden: "" }, [icon(ICON_CLIP)]);
    var camera = el("button", { type: "button", class: "attach", "data-ol": "camera", "aria-label": T.camera,
      title: T.camera, hidden: "" }, [icon(ICON_CAMERA)]);
    var picker = el("input", { type: "file", multiple: "", "data-ol": "picker", hidden: "", tabindex: "-1" });
    var shooter = el("input", { type: "file", accept: "image/*", capture: "environment", "data-ol": "shooter",
      hidden: "", tabindex: "-1" });
    var tray = el("div", { class: "tray", "data-ol": "tray", hidden: "" });
    var drop = el("div", { class: "drop", "data-ol": "drop", hidden: "" }, [T.dropHere]);
    var composer = el("div", { class: "composer" }, [attach, camera, input, send, picker, shooter]);
    // what the line says while it does not work (closed, or nobody online), above the messages
    var offlineNote = el("div", { class: "offline-note", "data-ol": "offline-note", role: "status", hidden: "" });
    // the line's pre-chat form, in place of the chat until a new visitor has filled it
    var formView = el("form", { class: "prechat", "data-ol": "prechat", hidden: "", novalidate: "" });
    var panel = el("div", { class: "panel", "data-ol": "panel", role: "dialog", hidden: "" },
      [header, offlineNote, messages, formView, closedNotice, notice, tray, composer, drop]);
    if (cfg.privacy) {
      panel.insertBefore(el("div", { class: "privacy" }, [el("a", { href: cfg.privacy, target: "_blank",
        rel: "noopener noreferrer", "data-ol": "privacy" }, [T.privacy])]), drop);
    }
    var wrap = el("div", { class: "wrap pos-" + cfg.position + (cfg.page ? " page" : "") }, [panel, launcher]);
    if (cfg.page) { launcher.hidden = true; closeBtn.hidden = true; } // the page is the chat: always open
    root.appendChild(wrap);
    document.body.appendChild(host);

    // The page's data-title wins; else the line's title from the server (remembered for the next page load, so
    // it does not flicker), else ours.
    function setTitle(text) {
      titleNode.textContent = text;
      launcher.setAttribute("aria-label", text);
      panel.setAttribute("aria-label", text);
    }
    setTitle(cfg.title || store.get("localStorage", KEY_TITLE) || T.title);

    // ---- state
    var ws = null;
    var ready = false; // true between the server's hello and the socket closing
    var token = null; // the visitor token of this page (also kept in localStorage when the browser lets us)
    var attempt = 0;
    var reconnectTimer = null;
    var tokenTimer = null;
    var stopped = false; // unknown_line: the server will never accept this line
    var unread = 0;
    var byId = new Map(); // server message id -> element
    var byClientId = new Map(); // client_msg_id -> element (our own messages)
    var ackTimers = new Map(); // client_msg_id -> timer: no ack by then shows it as not sent
    var failed = []; // messages the server refused, kept on screen across re-renders
    var previews = new Map(); // "message id/file number" -> object URL of an image already fetched
    var localPreviews = new Map(); // upload token -> object URL of a picture the visitor chose on this page
    var filesRule = null; // what the visitor may attach (hello's `files`): {max_bytes, types, per_message}
    var chips = []; // the files in the tray: {file, name, state: uploading|done|failed, upload, preview, node}
    var prechat = null; // the line's pre-chat form (hello's `prechat`) while it is shown: {form, inputs, submit, error}
    var formSent = null; // the form's frame waiting for its ack: {client_msg_id, timer}
    var more = false; // the server has older messages than the oldest shown
    var dialogId = null; // the visitor's open dialog as far as we know (hello, ack, message): typing goes to it
    var asked = null; // the `before` of the history page asked for

    function loadPending() {
      try {
        var list = JSON.parse(store.get("localStorage", KEY_PENDING) || "[]");
        return Array.isArray(list) ? list.filter(function (p) {
          return p && p.client_msg_id && (p.text || (Array.isArray(p.attachments) && p.attachments.length));
        }) : [];
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
      empty.hidden = messages.querySelector('[data-ol="msg"]') !== null || stopped;
    }

    function nearBottom() {
      return messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
    }
    function scrollDown() { messages.scrollTop = messages.scrollHeight; }

    function fileSize(n) {
      if (typeof n !== "number" || !(n >= 0)) return "";
      var i = 0;
      while (n >= 1024 && i < T.sizeUnits.length - 1) { n /= 1024; i += 1; }
      return (i === 0 || n >= 10 ? Math.round(n) : Math.round(n * 10) / 10) + " " + T.sizeUnits[i];
    }

    /** The absolute address of a file link the server sent; null for anything that is not one of its own. */
    function fileUrl(path) {
      try {
        var u = new URL(String(path), cfg.origin);
        return u.origin === cfg.origin && u.pathname.indexOf("/widget/files/") === 0 ? u.href : null;
      } catch (e) { return null; }
    }

    /** The file's body, fetched with this visitor's token (the link alone opens nothing). */
    function fetchFile(url) {
      return fetch(url, {
        headers: { Authorization: "Bearer " + (token || store.get("localStorage", KEY_TOKEN) || "") },
        credentials: "omit", mode: "cors", cache: "no-store",
      }).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.blob();
      });
    }

    function download(url, name) {
      fetchFile(url).then(function (blob) {
        var href = URL.createObjectURL(blob);
        var a = el("a", { href: href, download: name || "file" });
        a.style.display = "none";
        root.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(href); }, 60000);
      }).catch(function () { showNotice(T.fileFailed); });
    }

    /** One file of an operator's message: an image shows inline, anything else is a link with its size. */
    function renderFile(a, key) {
      var url = fileUrl(a && a.url);
      if (!url) return null;
      var name = String(a.name || "file");
      var mime = String(a.mime || "");
      var link = el("a", {
        class: "file", "data-ol": "file-link", "data-url": url, href: url, download: name,
        title: T.download + ": " + name,
      });
      if (INLINE_IMAGES.indexOf(mime) >= 0) {
        var img = el("img", { class: "preview", "data-ol": "preview", alt: name });
        link.classList.add("image");
        link.appendChild(img);
        var shown = previews.get(key);
        if (shown) img.src = shown;
        else {
          fetchFile(url).then(function (blob) {
            var href = URL.createObjectURL(blob);
            previews.set(key, href);
            img.src = href;
          }).catch(function () { img.replaceWith(el("span", { class: "file-name" }, [name])); });
        }
      } else {
        link.appendChild(icon(ICON_FILE));
        link.appendChild(el("span", { class: "file-name" }, [name]));
        var size = fileSize(a.size);
        if (size) link.appendChild(el("span", { class: "file-size" }, [size]));
      }
      function open(e) {
        if (e.type === "auxclick" && e.button !== 1) return;
        e.preventDefault();
        download(url, name);
      }
      link.addEventListener("click", open);
      link.addEventListener("auxclick", open);
      return el("div", { class: "file-row", "data-ol": "file" }, [link]);
    }

    /** A file of the visitor's own message not stored yet: the picture from this page's memory, else its name. */
    function renderLocalFile(a) {
      var name = String(a.name || "file");
      var link = el("span", { class: "file local", "data-ol": "file-local", title: name });
      var shown = localPreviews.get(a.upload);
      if (shown) {
        link.classList.add("image");
        link.appendChild(el("img", { class: "preview", "data-ol": "preview", alt: name, src: shown }));
      } else {
        link.appendChild(icon(ICON_FILE));
        link.appendChild(el("span", { class: "file-name" }, [name]));
        var size = fileSize(a.size);
        if (size) link.appendChild(el("span", { class: "file-size" }, [size]));
      }
      return el("div", { class: "file-row", "data-ol": "file" }, [link]);
    }

    /** Build one message bubble; `m` is {id?, client_msg_id?, dialog_id?, author:{kind,name}, text, ts?, attachments?}. */
    function renderMessage(m, opts) {
      var kind = (m.author && m.author.kind) || "customer";
      if (kind !== "customer" && kind !== "operator" && kind !== "bot") kind = "bot";
      var node = el("div", { class: "msg " + kind, "data-ol": "msg", "data-author": kind });
      if (m.id) node.setAttribute("data-id", m.id);
      if (m.dialog_id) node.setAttribute("data-dialog-id", String(m.dialog_id));
      if (m.ts) node.setAttribute("data-ts", String(m.ts));
      if (opts && opts.pending) node.setAttribute("data-pending", "1");
      if (kind !== "customer" && m.author && m.author.name) {
        node.appendChild(el("div", { class: "author", "data-ol": "author" }, [String(m.author.name)]));
      }
      var files = (Array.isArray(m.attachments) ? m.attachments : []).map(function (a, i) {
        return a && a.upload ? renderLocalFile(a) : renderFile(a, (m.id || "") + "/" + i);
      }).filter(Boolean);
      var text = m.text == null ? "" : String(m.text);
      var bubble = el("div", { class: "bubble" });
      if (text || !files.length) bubble.appendChild(el("div", { class: "text", "data-ol": "text" }, [text]));
      if (files.length) bubble.appendChild(el("div", { class: "files", "data-ol": "files" }, files));
      node.appendChild(bubble);
      var rating = renderRating(m);
      if (rating) node.appendChild(rating);
      var meta = el("div", { class: "meta" }, [el("span", { class: "time", "data-ol": "time" }, [hhmm(m.ts)])]);
      meta.appendChild(el("span", { class: "state", "data-ol": "state" }, [opts && opts.pending ? T.sending : ""]));
      node.appendChild(meta);
      if (m.id) byId.set(m.id, node);
      if (m.client_msg_id) {
        node.setAttribute("data-client-msg-id", m.client_msg_id);
        byClientId.set(m.client_msg_id, node);
      }
      return node;
    }

    // ---- rating the answer (docs/protocol.md, "rate"): the bot's question carries `ask_rating`; the visitor
    // picks 👍/👎 or 1–5 stars, may then add a comment (when the line takes one), and is thanked. The server's
    // `rated` frame confirms it (in every tab); after a reload the question comes back answered.

    // every question shown: {box, dialog, scale, comment, score, sentComment, pending, draft}
    var ratingBoxes = [];

    function renderRating(m) {
      var ask = m.ask_rating;
      if (!ask || typeof ask !== "object" || !m.dialog_id) return null;
      var scale = ask.scale === "five" ? "five" : ask.scale === "like" ? "like" : null;
      if (!scale) return null;
      var box = el("div", {
        class: "rating", "data-ol": "rating", "data-scale": scale, "data-dialog-id": String(m.dialog_id),
      });
      var q = {
        box: box, dialog: String(m.dialog_id), scale: scale, comment: ask.comment === true,
        score: null, sentComment: false, pending: null, draft: "",
      };
      ratingBoxes = ratingBoxes.filter(function (x) { return x.box.isConnected; }); // redrawn after a reconnect
      ratingBoxes.push(q);
      if (typeof ask.rating === "number") { q.score = ask.rating; showThanks(q); }
      else showScale(q);
      return box;
    }

    function scaleButtons(q, chosen, disabled) {
      var scores = q.scale === "like" ? [1, 0] : [1, 2, 3, 4, 5];
      var group = el("div", { class: "scale " + q.scale, role: "group", "aria-label": T.rateGroup });
      scores.forEach(function (score) {
        var label = q.scale === "like" ? (score ? T.rateLike : T.rateDislike)
          : T.rateStar.replace("{n}", String(score));
        var face = q.scale === "like" ? icon(score ? ICON_LIKE : ICON_DISLIKE) : el("span", null, ["★"]);
        face.setAttribute("aria-hidden", "true");
        var lit = chosen != null && (q.scale === "like" ? score === chosen : score <= chosen);
        var b = el("button", {
          type: "button", class: "score" + (lit ? " lit" : ""), "data-ol": "score", "data-score": String(score),
          "aria-label": label, title: label, "aria-pressed": chosen === score ? "true" : "false",
        }, [face]);
        if (disabled) b.disabled = true;
        else {
          b.addEventListener("click", function () { rate(q, score, null); });
          if (q.scale === "five") {
            var light = function (n) {
              group.querySelectorAll("button").forEach(function (x) {
                x.classList.toggle("hover", n != null && Number(x.getAttribute("data-score")) <= n);
              });
            };
            b.addEventListener("mouseenter", function () { light(score); });
            b.addEventListener("focus", function () { light(score); });
            b.addEventListener("mouseleave", function () { light(null); });
            b.addEventListener("blur", function () { light(null); });
          }
        }
        group.appendChild(b);
      });
      return group;
    }

    function showScale(q, error) {
      q.box.textContent = "";
      q.box.appendChild(scaleButtons(q, q.pending ? q.pending.score : null, !!q.pending));
      if (error) q.box.appendChild(el("div", { class: "rating-note failed", role: "alert" }, [error]));
    }

    function showComment(q, error) {
      q.box.textContent = "";
      q.box.appendChild(scaleButtons(q, q.score, true));
      var area = el("textarea", {
        class: "rating-comment", "data-ol": "rating-comment", rows: "2", maxlength: "2000",
        placeholder: T.rateCommentPlaceholder, "aria-label": T.rateComment,
      });
      area.value = q.draft || ""; // what they wrote stays when sending it failed
      var sendIt = el("button", { type: "button", class: "rating-send", "data-ol": "rating-send" }, [T.send]);
      var skip = el("button", { type: "button", class: "rating-skip", "data-ol": "rating-skip" }, [T.rateSkip]);
      sendIt.addEventListener("click", function () {
        var text = area.value.trim();
        if (!text) { area.focus(); return; }
        q.draft = text;
        sendIt.disabled = skip.disabled = area.disabled = true;
        rate(q, q.score, text);
      });
      skip.addEventListener("click", function () { q.sentComment = true; showThanks(q); });
      area.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendIt.click(); }
      });
      q.box.appendChild(area);
      q.box.appendChild(el("div", { class: "rating-actions" }, [skip, sendIt]));
      if (error) q.box.appendChild(el("div", { class: "rating-note failed", role: "alert" }, [error]));
      if (nearBottom()) scrollDown();
      return area;
    }

    function showThanks(q) {
      q.box.textContent = "";
      if (q.score != null) q.box.appendChild(scaleButtons(q, q.score, true));
      q.box.appendChild(el("div", { class: "rating-note", "data-ol": "rating-thanks", role: "status" },
        [T.rateThanks]));
    }

    function rate(q, score, comment) {
      var frame = { type: "rate", dialog_id: q.dialog, score: score };
      if (comment) frame.comment = comment;
      if (!sendFrame(frame)) {
        if (comment) showComment(q, T.rateFailed); else showScale(q, T.rateFailed);
        return;
      }
      q.pending = { score: score, comment: comment };
      if (!comment) showScale(q);
    }

    function onRated(f) {
      ratingBoxes.forEach(function (q) {
        if (q.dialog !== String(f.dialog_id)) return;
        var mine = q.pending;
        q.pending = null;
        if (f.error) {
          if (!mine) return; // another tab's refused rating: this one's question stays as it is
          var text = (T.rateErrors || {})[f.error] || T.rateFailed;
          if (f.error === "too_late" || f.error === "rating_off" || f.error === "not_asked") { q.box.textContent = ""; q.box.appendChild(
            el("div", { class: "rating-note", role: "status" }, [text])); return; }
          if (mine.comment) showComment(q, text); else showScale(q, text);
          return;
        }
        if (mine) q.score = mine.score;
        if (mine && mine.comment) q.sentComment = true;
        if (mine && !mine.comment && q.comment && !q.sentComment) {
          showComment(q).focus(); // this tab's visitor just picked the score: on to the comment
        } else showThanks(q);
      });
    }

    /** A quiet line where one dialog ends and the next begins. */
    function separator(before) {
      var label = T.newConversation;
      var ts = before.getAttribute("data-ts");
      var d = ts ? new Date(ts) : null;
      if (d && !isNaN(d.getTime())) {
        try {
          label += " · " + d.toLocaleDateString(cfg.lang, { day: "numeric", month: "short" }) + ", " + hhmm(ts);
        } catch (e) { /* an old browser without locales: the label alone */ }
      }
      return el("div", { class: "separator", "data-ol": "separator", role: "separator" }, [el("span", null, [label])]);
    }

    function relayout() {
      messages.querySelectorAll('[data-ol="separator"]').forEach(function (n) { n.remove(); });
      var last = null;
      messages.querySelectorAll('[data-ol="msg"]').forEach(function (n) {
        var dialog = n.getAttribute("data-dialog-id");
        if (!dialog) return; // our own, not stored yet: its dialog is known with its ack
        if (last && dialog !== last) messages.insertBefore(separator(n), n);
        last = dialog;
      });
      earlier.hidden = !more || stopped;
      updateEmpty();
    }

    function append(node) {
      var stick = nearBottom();
      messages.insertBefore(node, typingRow);
      relayout();
      if (stick || node.getAttribute("data-author") === "customer") scrollDown();
    }

    function setState(node, text) { node.querySelector('[data-ol="state"]').textContent = text; }

    function dropRetry(node) {
      var r = node.querySelector('[data-ol="retry"]');
      if (r) r.remove();
    }

    function markAcked(node, f, sent) {
      disarm(node.getAttribute("data-client-msg-id"));
      var box = node.querySelector('[data-ol="files"]');
      if (box && Array.isArray(f.attachments) && f.attachments.length) {
        // the stored files, by the visitor's own links; a picture keeps the copy already on screen
        (sent || []).forEach(function (a, i) {
          var shown = a && localPreviews.get(a.upload);
          if (shown) previews.set(f.id + "/" + i, shown);
        });
        box.replaceWith(el("div", { class: "files", "data-ol": "files" }, f.attachments.map(function (a, i) {
          return renderFile(a, f.id + "/" + i);
        }).filter(Boolean)));
      }
      node.removeAttribute("data-pending");
      node.removeAttribute("data-unsent");
      node.setAttribute("data-id", f.id);
      if (f.dialog_id) node.setAttribute("data-dialog-id", String(f.dialog_id));
      setState(node, "");
      dropRetry(node);
      byId.set(f.id, node);
      relayout();
    }

    function markFailed(node, text) {
      disarm(node.getAttribute("data-client-msg-id"));
      node.removeAttribute("data-pending");
      node.removeAttribute("data-unsent");
      node.setAttribute("data-failed", "1");
      setState(node, "");
      dropRetry(node);
      node.appendChild(el("div", { class: "error", "data-ol": "error" }, [text || T.notDelivered]));
    }

    /** No ack came: say so, and offer to send it again (it stays queued; a reconnect sends it anyway). */
    function markUnsent(node) {
      node.removeAttribute("data-pending");
      node.setAttribute("data-unsent", "1");
      setState(node, T.notSent);
      dropRetry(node);
      if (stopped) return; // nowhere to send it again
      var retry = el("button", { type: "button", class: "retry", "data-ol": "retry" }, [T.retry]);
      retry.addEventListener("click", function () { resend(node); });
      node.querySelector('[data-ol="state"]').after(retry);
    }

    function markPending(node) {
      node.removeAttribute("data-unsent");
      node.setAttribute("data-pending", "1");
      setState(node, T.sending);
      dropRetry(node);
    }

    function arm(clientId) {
      disarm(clientId);
      ackTimers.set(clientId, setTimeout(function () {
        ackTimers.delete(clientId);
        var node = byClientId.get(clientId);
        if (node && node.hasAttribute("data-pending")) markUnsent(node);
      }, ACK_TIMEOUT_MS));
    }
    function disarm(clientId) {
      if (!clientId) return;
      clearTimeout(ackTimers.get(clientId));
      ackTimers.delete(clientId);
    }

    /** Send a queued message (again) with its own id: the server stores each once. */
    function transmit(p) {
      var node = byClientId.get(p.client_msg_id);
      if (node && !node.hasAttribute("data-failed")) markPending(node);
      arm(p.client_msg_id);
      var frame = { type: "message", client_msg_id: p.client_msg_id, text: p.text || "" };
      if (Array.isArray(p.attachments) && p.attachments.length) {
        frame.attachments = p.attachments.map(function (a) { return a.upload; });
      }
      if (ready) sendFrame(frame);
    }

    function resend(node) {
      var id = node.getAttribute("data-client-msg-id");
      var p = loadPending().filter(function (x) { return x.client_msg_id === id; })[0];
      if (!p) { node.remove(); relayout(); return; }
      transmit(p);
      if (!ready && !stopped) { attempt = 0; connect(); } // no socket: try now rather than after the backoff
    }

    /** Re-render everything from the server's history plus what is still unacked or refused. */
    function renderAll(history) {
      byId.clear();
      byClientId.clear();
      messages.querySelectorAll('[data-ol="msg"]').forEach(function (n) { n.remove(); });
      (history || []).forEach(function (m) {
        if (m && !byId.has(m.id)) messages.insertBefore(renderMessage(m), typingRow);
      });
      failed.forEach(function (n) { messages.insertBefore(n, typingRow); });
      loadPending().forEach(function (p) {
        if (byClientId.has(p.client_msg_id)) return;
        messages.insertBefore(renderMessage(p, { pending: true }), typingRow);
        if (stopped) markUnsent(byClientId.get(p.client_msg_id));
        else arm(p.client_msg_id);
      });
      relayout();
      scrollDown();
    }

    /** An older page on top, the visitor's place in the list kept. */
    function prepend(list) {
      var fromBottom = messages.scrollHeight - messages.scrollTop;
      var first = messages.querySelector('[data-ol="msg"]');
      list.forEach(function (m) {
        if (!m || !m.id || byId.has(m.id)) return;
        var node = renderMessage(m);
        messages.insertBefore(node, first || typingRow);
      });
      relayout();
      messages.scrollTop = messages.scrollHeight - fromBottom;
    }

    function askEarlier() {
      var oldest = messages.querySelector('[data-ol="msg"][data-id]');
      if (!ready || !oldest || asked) return;
      asked = oldest.getAttribute("data-id");
      earlier.disabled = true;
      earlier.textContent = T.loading;
      sendFrame({ type: "history", before: asked });
    }
    earlier.addEventListener("click", askEarlier);

    function earlierDone() {
      asked = null;
      earlier.disabled = false;
      earlier.textContent = T.earlier;
    }

    // ---- status line and notices

    function setStatus(state) {
      status.setAttribute("data-state", state);
      status.textContent = T[state];
      panel.setAttribute("data-conn", state);
    }

    var noticeTimer = null;
    function showNotice(text) {
      notice.textContent = text;
      notice.hidden = false;
      clearTimeout(noticeTimer);
      noticeTimer = setTimeout(function () { notice.hidden = true; }, 8000);
    }

    /** The server will never take messages for this line: say so once, and take no more. */
    function stop(why) {
      stopped = true;
      reveal(); // the site's owner (or the visitor) sees why there is no chat
      setStatus("unavailable");
      closedNotice.textContent = why || T.lineUnknown;
      closedNotice.hidden = false;
      input.disabled = true;
      send.disabled = true;
      showFiles(null);
      ackTimers.forEach(function (t) { clearTimeout(t); });
      ackTimers.clear();
      messages.querySelectorAll('[data-ol="msg"][data-pending]').forEach(markUnsent);
      relayout();
    }

    // ---- open / close

    function setOpen(open, focus) {
      if (cfg.page) open = true;
      panel.hidden = !open;
      wrap.classList.toggle("open", open);
      launcher.setAttribute("aria-expanded", open ? "true" : "false");
      store.set("sessionStorage", KEY_OPEN, open ? "1" : "0");
      if (open) {
        unread = 0;
        badge.hidden = true;
        scrollDown();
        if (focus && !input.disabled) input.focus();
      }
    }
    launcher.addEventListener("click", function () { setOpen(panel.hidden, true); });
    closeBtn.addEventListener("click", function () { setOpen(false); launcher.focus(); });
    panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !cfg.page) { setOpen(false); launcher.focus(); }
    });

    // ---- when the launcher shows (the line's `show`): on the pages it names and not on those it hides, after a
    // delay on the first page of a visit; always on the chat page, and whenever the chat is open already. Until the
    // server's rule is known (a first visit) the launcher waits for it a moment, so it never flashes on a page
    // where it should not be.

    var SHOW_WAIT_MS = 4000;
    var pageStart = Date.now();
    var showTimer = null;

    function pathMatches(pattern, path) {
      var re = "^" + String(pattern).split("*").map(function (part) {
        return part.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
      }).join(".*") + "$";
      try { return new RegExp(re).test(path); } catch (e) { return false; }
    }

    function reveal() {
      clearTimeout(showTimer);
      showTimer = null;
      wrap.hidden = false;
      store.set("sessionStorage", KEY_SHOWN, "1");
    }

    function applyShow(rule) {
      if (cfg.page || !panel.hidden || stopped || !rule) { reveal(); return; }
      var path = location.pathname;
      var pages = Array.isArray(rule.pages) ? rule.pages : [];
      var hide = Array.isArray(rule.hide) ? rule.hide : [];
      var here = (!pages.length || pages.some(function (p) { return pathMatches(p, path); })) &&
        !hide.some(function (p) { return pathMatches(p, path); });
      clearTimeout(showTimer);
      showTimer = null;
      if (!here) { wrap.hidden = true; return; }
      var wait = (Number(rule.delay_seconds) || 0) * 1000 - (Date.now() - pageStart);
      if (wait <= 0 || store.get("sessionStorage", KEY_SHOWN) === "1") { reveal(); return; }
      showTimer = setTimeout(reveal, wait);
    }

    function startShowing() {
      wrap.hidden = true;
      if (cfg.show) { store.set("localStorage", KEY_SHOW, JSON.stringify(cfg.show)); applyShow(cfg.show); return; }
      var known = null;
      try { known = JSON.parse(store.get("localStorage", KEY_SHOW) || "null"); } catch (e) { known = null; }
      if (known && typeof known === "object") applyShow(known);
      else if (cfg.page || !panel.hidden) reveal();
      else showTimer = setTimeout(reveal, SHOW_WAIT_MS); // no word from the server: show it anyway
    }

    // ---- the chime on an operator's reply (the line's `sound`): only after the visitor touched the widget, as
    // browsers let a page play sound only then, and only while they would not see the reply otherwise
    var soundOn = false;
    var touched = false;
    var audio = null;
    panel.addEventListener("pointerdown", function () { touched = true; });
    panel.addEventListener("keydown", function () { touched = true; });
    launcher.addEventListener("click", function () { touched = true; });

    function chime() {
      var AC = window.AudioContext || window.webkitAudioContext;
      if (!soundOn || !touched || !AC) return;
      try {
        audio = audio || new AC();
        if (audio.state === "suspended") audio.resume();
        var t = audio.currentTime, tone = audio.createOscillator(), gain = audio.createGain();
        tone.frequency.value = 880;
        gain.gain.setValueAtTime(0.0001, t);
        gain.gain.exponentialRampToValueAtTime(0.08, t + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.35);
        tone.connect(gain);
        gain.connect(audio.destination);
        tone.start(t);
        tone.stop(t + 0.4);
        host.setAttribute("data-ol-chimes", String((Number(host.getAttribute("data-ol-chimes")) || 0) + 1));
      } catch (e) { /* no sound is no loss */ }
    }

    function bumpUnread() {
      if (!panel.hidden) return;
      unread += 1;
      badge.textContent = unread > 9 ? "9+" : String(unread);
      badge.hidden = false;
    }

    // ---- the visitor's files (docs/protocol.md, "The visitor's files"): each is uploaded as soon as it is chosen
    // (the paperclip, the camera, dragged onto the chat, pasted), shown in the tray, and sent with the next message

    /** What the line lets the visitor attach (hello's `files`; null: nothing, and no paperclip). */
    function showFiles(rule) {
      var ok = rule && typeof rule === "object" && Array.isArray(rule.types) && !stopped;
      filesRule = ok ? rule : null;
      attach.hidden = !filesRule;
      var images = filesRule && filesRule.types.some(function (t) { return t.indexOf("image/") === 0; });
      var phone = typeof window.matchMedia === "function" && window.matchMedia("(pointer: coarse)").matches;
      camera.hidden = !(images && phone);
      if (filesRule) picker.setAttribute("accept", filesRule.types.join(","));
      if (!filesRule) clearTray(false);
    }

    function allowedType(mime) {
      var t = String(mime || "").toLowerCase();
      return filesRule.types.indexOf(t) >= 0 || filesRule.types.indexOf(t.split("/")[0] + "/*") >= 0;
    }

    function drawChip(c) {
      var parts = [];
      if (c.preview) parts.push(el("img", { class: "chip-thumb", alt: "", src: c.preview }));
      else parts.push(icon(ICON_FILE));
      var state = c.state === "uploading" ? T.uploading : c.state === "failed" ? c.error : fileSize(c.file.size);
      parts.push(el("span", { class: "chip-text" }, [
        el("span", { class: "chip-name", "data-ol": "chip-name" }, [c.name]),
        el("span", { class: "chip-state", "data-ol": "chip-state" }, [state]),
      ]));
      var remove = el("button", { type: "button", class: "chip-remove", "data-ol": "chip-remove",
        "aria-label": T.removeFile + ": " + c.name, title: T.removeFile }, [icon(ICON_CLOSE)]);
      remove.addEventListener("click", function () { dropChip(c); input.focus(); });
      parts.push(remove);
      var node = el("div", { class: "chip " + c.state, "data-ol": "chip", "data-state": c.state }, parts);
      if (c.node) c.node.replaceWith(node);
      else tray.appendChild(node);
      c.node = node;
      tray.hidden = !chips.length;
    }

    function dropChip(c) {
      chips = chips.filter(function (x) { return x !== c; });
      if (c.node) c.node.remove();
      if (c.preview && c.state !== "sent") URL.revokeObjectURL(c.preview);
      tray.hidden = !chips.length;
    }

    /** Empty the tray; `sent`: the pictures stay in memory for the message just sent. */
    function clearTray(sent) {
      chips.slice().forEach(function (c) {
        if (sent && c.state === "done") c.state = "sent";
        dropChip(c);
      });
    }

    function addFiles(list) {
      if (!filesRule || stopped) return;
      Array.prototype.forEach.call(list || [], function (file) {
        var live = chips.filter(function (c) { return c.state !== "failed"; }).length;
        if (live >= filesRule.per_message) {
          showNotice(T.tooManyFiles.replace("{n}", function () { return String(filesRule.per_message); }));
          return;
        }
        var c = { file: file, name: String(file.name || "file"), state: "uploading", upload: null, preview: null };
        chips.push(c);
        if (file.size > filesRule.max_bytes) {
          c.state = "failed";
          c.error = T.fileErrors.too_large.replace("{size}", function () { return fileSize(filesRule.max_bytes); });
        } else if (file.type && !allowedType(file.type)) {
          c.state = "failed";
          c.error = T.fileErrors.type_not_allowed;
        } else {
          if (INLINE_IMAGES.indexOf(file.type) >= 0) c.preview = URL.createObjectURL(file);
          upload(c);
        }
        drawChip(c);
      });
    }

    function upload(c) {
      var form = new FormData();
      form.append("file", c.file, c.name);
      fetch(uploadUrl, {
        method: "POST", body: form, credentials: "omit", mode: "cors", cache: "no-store",
        headers: { Authorization: "Bearer " + (token || "") },
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) { return { ok: r.ok, body: body }; });
      }).then(function (res) {
        if (chips.indexOf(c) < 0) return; // removed meanwhile
        if (res.ok && res.body && typeof res.body.upload === "string") {
          c.state = "done";
          c.upload = res.body;
        } else {
          c.state = "failed";
          var code = res.body && res.body.code;
          c.error = (code && T.fileErrors[code] || T.fileErrors.failed)
            .replace("{size}", function () { return fileSize(filesRule ? filesRule.max_bytes : 0); });
        }
        drawChip(c);
      }).catch(function () {
        if (chips.indexOf(c) < 0) return;
        c.state = "failed";
        c.error = T.fileErrors.failed;
        drawChip(c);
      });
    }

    attach.addEventListener("click", function () { picker.click(); });
    camera.addEventListener("click", function () { shooter.click(); });
    [picker, shooter].forEach(function (field) {
      field.addEventListener("change", function () { addFiles(field.files); field.value = ""; });
    });
    input.addEventListener("paste", function (e) {
      var files = e.clipboardData && e.clipboardData.files;
      if (filesRule && files && files.length) { e.preventDefault(); addFiles(files); }
    });
    var dragDepth = 0;
    function dragsFiles(e) {
      return filesRule && !stopped && e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types, "Files") >= 0;
    }
    panel.addEventListener("dragenter", function (e) {
      if (!dragsFiles(e)) return;
      e.preventDefault();
      dragDepth += 1;
      drop.hidden = false;
    });
    panel.addEventListener("dragover", function (e) { if (dragsFiles(e)) e.preventDefault(); });
    panel.addEventListener("dragleave", function () {
      dragDepth = Math.max(0, dragDepth - 1);
      if (!dragDepth) drop.hidden = true;
    });
    panel.addEventListener("drop", function (e) {
      dragDepth = 0;
      drop.hidden = true;
      if (!dragsFiles(e)) return;
      e.preventDefault();
      addFiles(e.dataTransfer.files);
    });

    // ---- the pre-chat form (docs/protocol.md, "form"): asked of a visitor with no history before they write; the
    // answers are checked here as the server will check them, and the server's verdict per field is shown too

    function fieldShown(f, values) {
      var cond = f.show_if;
      if (!cond) return true;
      var answer = values[cond.field];
      return Array.isArray(cond.equals) ? cond.equals.indexOf(answer) >= 0 : answer === cond.equals;
    }

    /** The answers of the fields shown now (a hidden field's answer is not sent), in the form's order. */
    function formValues() {
      var values = {};
      prechat.form.fields.forEach(function (f) {
        var x = prechat.inputs[f.name];
        x.row.hidden = !fieldShown(f, values);
        if (x.row.hidden) return;
        values[f.name] = f.type === "checkbox" ? x.control.checked : x.control.value;
      });
      return values;
    }

    function fieldError(name, code) {
      var x = prechat.inputs[name];
      if (!x) return;
      var text = code ? (T.formErrors[code] || T.formErrors.bad_type) : "";
      x.err.textContent = text;
      x.err.hidden = !code;
      if (code) x.control.setAttribute("aria-invalid", "true");
      else x.control.removeAttribute("aria-invalid");
    }

    function localProblems(values) {
      var wrong = {};
      prechat.form.fields.forEach(function (f) {
        if (!(f.name in values)) return;
        var v = values[f.name];
        if (f.type === "checkbox") { if (f.required && !v) wrong[f.name] = "required"; return; }
        v = String(v).trim();
        if (!v) { if (f.required) wrong[f.name] = "required"; return; }
        if (f.type === "email" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v)) wrong[f.name] = "bad_email";
        else if (f.type === "phone" && !/^\+?[0-9 ()\-./]{5,30}$/.test(v)) wrong[f.name] = "bad_phone";
      });
      return wrong;
    }

    /** Draw a form in place of the chat: `kind` "prechat" (before the first message) or "offline" (while the line
     * does not work, with the line's `intro` text). */
    function showForm(form, kind, intro) {
      if (prechat && prechat.form === form) return;
      formView.textContent = "";
      var inputs = {};
      var texts = kind === "offline" ? [T.offlineTitle, intro || T.offlineFormText, T.offlineSubmit]
        : [T.prechatTitle, T.prechatText, T.prechatSubmit];
      formView.setAttribute("data-kind", kind);
      formView.appendChild(el("div", { class: "pc-title", "data-ol": "prechat-title" }, [form.title || texts[0]]));
      formView.appendChild(el("div", { class: "pc-text" }, [form.text || texts[1]]));
      form.fields.forEach(function (f, i) {
        var id = "ol-pc-" + i;
        var control;
        if (f.type === "textarea") {
          control = el("textarea", { rows: "3", maxlength: String(f.max_length || 1000) });
        } else if (f.type === "select") {
          control = el("select", {}, [el("option", { value: "" }, [T.choose])].concat(
            (f.options || []).map(function (o) { return el("option", { value: String(o) }, [String(o)]); })));
        } else if (f.type === "checkbox") {
          control = el("input", { type: "checkbox" });
        } else {
          var kinds = { email: ["email", "email"], phone: ["tel", "tel"], name: ["text", "name"] };
          var kind = kinds[f.type] || ["text", "off"];
          control = el("input", { type: kind[0], autocomplete: kind[1],
            maxlength: String(f.type === "text" ? f.max_length || 1000 : 200) });
        }
        control.setAttribute("id", id);
        control.setAttribute("name", String(f.name));
        control.setAttribute("data-ol", "field");
        control.setAttribute("aria-describedby", id + "-err");
        if (f.required) control.setAttribute("aria-required", "true");
        var label = el("label", { for: id, class: "pc-label" }, [String(f.label)]);
        if (f.required) label.appendChild(el("span", { class: "pc-req", "aria-hidden": "true" }, [" *"]));
        var err = el("div", { class: "pc-error", "data-ol": "field-error", id: id + "-err", hidden: "" });
        var row = el("div", { class: "pc-field" + (f.type === "checkbox" ? " pc-check" : ""), "data-field": f.name },
          f.type === "checkbox" ? [control, label, err] : [label, control, err]);
        inputs[f.name] = { control: control, row: row, err: err };
        var changed = function () { fieldError(f.name, null); formValues(); };
        control.addEventListener("input", changed);
        control.addEventListener("change", changed);
        formView.appendChild(row);
      });
      var error = el("div", { class: "pc-form-error", "data-ol": "prechat-error", role: "alert", hidden: "" });
      var submitBtn = el("button", { type: "submit", class: "pc-submit", "data-ol": "prechat-submit" },
        [form.submit || texts[2]]);
      formView.appendChild(error);
      formView.appendChild(submitBtn);
      prechat = { form: form, kind: kind, label: form.submit || texts[2], inputs: inputs, submit: submitBtn,
        error: error };
      formValues();
      messages.hidden = true;
      composer.hidden = true;
      tray.hidden = true;
      formView.hidden = false;
    }

    function showOffline(text) {
      offlineNote.textContent = text || "";
      offlineNote.hidden = !text;
    }

    function hideForm() {
      if (formSent) clearTimeout(formSent.timer);
      formSent = null;
      prechat = null;
      formView.hidden = true;
      formView.textContent = "";
      messages.hidden = false;
      composer.hidden = false;
      tray.hidden = !chips.length;
    }

    function formBusy(busy) {
      prechat.submit.disabled = busy;
      prechat.submit.textContent = busy ? T.sending : prechat.label;
    }

    function formFailed(text) {
      if (!prechat) return;
      clearTimeout(formSent && formSent.timer);
      formSent = null;
      formBusy(false);
      prechat.error.textContent = text;
      prechat.error.hidden = false;
    }

    formView.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!prechat || formSent) return;
      var values = formValues();
      var wrong = localProblems(values);
      prechat.form.fields.forEach(function (f) { fieldError(f.name, wrong[f.name] || null); });
      prechat.error.hidden = true;
      var first = Object.keys(wrong)[0];
      if (first) { prechat.inputs[first].control.focus(); return; }
      if (!ready) { formFailed(T.formFailed); return; }
      formSent = { client_msg_id: uuid(), timer: null };
      formSent.timer = setTimeout(function () { formFailed(T.formFailed); }, ACK_TIMEOUT_MS);
      formBusy(true);
      formSent.kind = prechat.kind;
      sendFrame({ type: "form", form: prechat.kind, client_msg_id: formSent.client_msg_id, values: values });
    });

    function formDone(f) {
      clearTimeout(formSent.timer);
      if (formSent.kind === "offline") showOffline(T.offlineThanks);
      formSent = null;
      if (f.dialog_id) dialogId = String(f.dialog_id);
      hideForm();
      append(renderMessage({ id: f.id, dialog_id: f.dialog_id, client_msg_id: f.client_msg_id,
        author: { kind: "customer" }, text: typeof f.text === "string" ? f.text : "", ts: new Date().toISOString() }));
      input.focus();
    }

    function formRefused(f) {
      if (f.code === "bad_form" && f.fields && typeof f.fields === "object" && prechat) {
        clearTimeout(formSent.timer);
        formSent = null;
        formBusy(false);
        Object.keys(f.fields).forEach(function (name) { fieldError(name, String(f.fields[name])); });
        var first = Object.keys(f.fields).filter(function (n) { return prechat.inputs[n]; })[0];
        if (first) prechat.inputs[first].control.focus();
        return;
      }
      if (f.code === "form_off") { hideForm(); formSent = null; return; } // the line dropped its form: just chat
      var wait = f.code === "rate_limited" ? T.formErrors.rate_limited : null;
      formFailed(wait || (T.errors || {})[f.code] || T.formFailed);
    }

    // ---- sending

    function sendFrame(frame) {
      if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(frame)); return true; }
      return false;
    }

    function submit() {
      var text = input.value;
      if (stopped) return;
      if (chips.some(function (c) { return c.state === "uploading"; })) { showNotice(T.waitUploads); return; }
      var files = chips.filter(function (c) { return c.state === "done"; }).map(function (c) {
        if (c.preview) localPreviews.set(c.upload.upload, c.preview);
        return { upload: c.upload.upload, name: c.upload.name, mime: c.upload.mime, size: c.upload.size };
      });
      if (!text.trim() && !files.length) return;
      var p = { client_msg_id: uuid(), text: text.trim() ? text : "", ts: new Date().toISOString(),
        author: { kind: "customer" } };
      if (files.length) p.attachments = files;
      clearTray(true);
      // Persist first: if the page closes before the ack, the next visit re-sends with the same id (server dedupes).
      var list = loadPending();
      list.push(p);
      savePending(list);
      append(renderMessage(p, { pending: true }));
      input.value = "";
      autosize();
      typingStopped();
      transmit(p);
    }

    send.addEventListener("click", function () { submit(); if (!input.disabled) input.focus(); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    });
    function autosize() {
      input.style.height = "auto";
      input.style.height = Math.min(input.scrollHeight, 120) + "px";
    }
    input.addEventListener("input", autosize);

    // ---- typing, both ways (never the text)

    var typingSince = 0; // when we last told the server the visitor is typing; 0: we told it they stopped
    var typingIdle = null;

    /** The visitor stopped typing (emptied the box, sent, went quiet, left): say so once. */
    function typingStopped() {
      clearTimeout(typingIdle);
      typingIdle = null;
      if (typingSince && ready) sendFrame({ type: "typing", active: false });
      typingSince = 0;
    }

    /** The box changed: "typing" when it starts and again every TYPING_REPEAT_MS while keys are pressed. */
    function typed() {
      // Without an open dialog nobody follows the visitor yet (their first message opens one).
      if (!ready || stopped || !dialogId) return;
      if (!input.value.trim()) { typingStopped(); return; }
      var now = performance.now(); // monotonic: a change of the wall clock neither stops nor floods it
      if ((!typingSince || now - typingSince >= TYPING_REPEAT_MS) && sendFrame({ type: "typing", active: true })) {
        typingSince = now;
      }
      clearTimeout(typingIdle);
      typingIdle = setTimeout(typingStopped, TYPING_IDLE_MS);
    }
    input.addEventListener("input", typed);
    window.addEventListener("pagehide", typingStopped);

    var operatorTyping = null; // the timer that hides the operator's indicator

    function showOperatorTyping(name) {
      var stick = nearBottom();
      var pattern = T.typing || "{name}…";
      typingText.textContent = name ? pattern.replace("{name}", function () { return name; })
        : (T.typingNoName || "…");
      typingRow.hidden = false;
      if (stick) scrollDown();
      clearTimeout(operatorTyping);
      operatorTyping = setTimeout(hideOperatorTyping, TYPING_SHOWN_MS);
    }

    function hideOperatorTyping() {
      clearTimeout(operatorTyping);
      operatorTyping = null;
      typingRow.hidden = true;
      typingText.textContent = "";
    }

    function onTyping(f) {
      if (f.active === true) showOperatorTyping(typeof f.name === "string" ? f.name.trim() : "");
      else hideOperatorTyping();
    }

    // ---- server frames

    function onHello(f) {
      clearTimeout(tokenTimer);
      if (f.visitor_token) {
        token = f.visitor_token;
        // a signed-in user's token stays in this page: the browser's next visitor (after a logout) is not them
        if (!cfg.identity) store.set("localStorage", KEY_TOKEN, f.visitor_token);
      }
      if (!cfg.title) {
        var title = typeof f.title === "string" && f.title.trim() ? f.title : null;
        if (title) store.set("localStorage", KEY_TITLE, title);
        else store.remove("localStorage", KEY_TITLE);
        setTitle(title || T.title);
      }
      // the line's greeting in the empty chat (as text, never HTML); else the widget's own
      empty.textContent = typeof f.greeting === "string" && f.greeting.trim() ? f.greeting : T.empty;
      if (f.show && typeof f.show === "object") {
        store.set("localStorage", KEY_SHOW, JSON.stringify(f.show));
        applyShow(f.show);
      }
      // the line's colour and side from the configuration, unless the page's tag says otherwise
      if (!cfg.colorSet && typeof f.color === "string" && /^#[0-9a-fA-F]{6}$/.test(f.color)) {
        host.style.setProperty("--ol-accent", f.color);
      }
      if (!cfg.positionSet && (f.position === "left" || f.position === "right")) {
        wrap.classList.remove("pos-left", "pos-right");
        wrap.classList.add("pos-" + f.position);
      }
      soundOn = f.sound === true;
      showFiles(f.files);
      ready = true;
      attempt = 0;
      dialogId = f.dialog_id || null;
      setStatus("online");
      var history = Array.isArray(f.history) ? f.history : [];
      more = f.history_more === true;
      earlierDone();
      // Anything in the history is stored already; forget it locally. Re-send the rest with the SAME ids.
      var stored = new Set(history.map(function (m) { return m && m.client_msg_id; }).filter(Boolean));
      var pending = loadPending().filter(function (p) { return !stored.has(p.client_msg_id); });
      savePending(pending);
      renderAll(history);
      pending.forEach(transmit);
      var isForm = function (x) { return x && typeof x === "object" && Array.isArray(x.fields); };
      var off = f.offline && typeof f.offline === "object" ? f.offline : null;
      showOffline(off ? (typeof off.text === "string" && off.text.trim() ? off.text
        : off.reason === "closed" ? T.offlineClosed : T.offlineNobody) : null);
      var fresh = !history.length && !pending.length && !failed.length;
      // the line does not work now: its form in place of the chat, unless the visitor has a dialog going on
      if (off && isForm(off.form) && !f.dialog_id && !pending.length) showForm(off.form, "offline", off.text);
      else if (isForm(f.prechat) && fresh) showForm(f.prechat, "prechat");
      else hideForm();
    }

    function onHistory(f) {
      if (!asked || f.before !== asked) return; // a page asked for before a reconnect
      earlierDone();
      more = f.more === true;
      prepend(Array.isArray(f.messages) ? f.messages : []);
    }

    var resendTimer = null;
    /** Re-send every unacknowledged message (same ids: the server stores each once) after `ms`. */
    function scheduleResend(ms) {
      if (resendTimer) return;
      resendTimer = setTimeout(function () {
        resendTimer = null;
        if (!ready) return; // the next hello re-sends them anyway
        loadPending().forEach(transmit);
      }, Math.min(Math.max(ms, 250), 60000));
    }

    function onAck(f) {
      if (formSent && f.client_msg_id === formSent.client_msg_id) { formDone(f); return; }
      if (f.dialog_id) dialogId = String(f.dialog_id);
      var sent = (loadPending().filter(function (p) { return p.client_msg_id === f.client_msg_id; })[0] || {})
        .attachments;
      dropPending(f.client_msg_id);
      disarm(f.client_msg_id);
      var node = byClientId.get(f.client_msg_id);
      if (!node) return;
      var other = byId.get(f.id);
      if (other && other !== node) { node.remove(); relayout(); return; } // the message itself came before its ack
      markAcked(node, f, sent);
    }

    function onMessage(f) {
      if (!f.id || byId.has(f.id)) return;
      // our own message, stored (sent to every tab of ours before its ack): this tab's copy is the one to keep
      if (f.client_msg_id && byClientId.has(f.client_msg_id)) { onAck(f); return; }
      if (f.dialog_id) dialogId = String(f.dialog_id);
      if (f.author && f.author.kind === "operator") {
        hideOperatorTyping(); // what they typed is here
        if (panel.hidden || document.hidden) chime();
      }
      append(renderMessage(f));
      if (f.author && f.author.kind !== "customer") bumpUnread();
    }

    function onError(f) {
      var text = (f.code && (T.errors || {})[f.code]) || T.error;
      if (formSent && f.client_msg_id === formSent.client_msg_id) { formRefused(f); return; }
      if (f.dialog_id && !f.client_msg_id) { onRated({ dialog_id: f.dialog_id, error: f.code || "error" }); return; }
      if (f.code === "invalid_token") {
        // The server issues a fresh token with its hello; drop the bad one so a reconnect does not repeat it.
        store.remove("localStorage", KEY_TOKEN);
        token = null;
        clearTimeout(tokenTimer);
        tokenTimer = setTimeout(function () { if (!ready && ws) ws.close(); }, INVALID_TOKEN_GRACE_MS);
        return;
      }
      if (f.code === "unknown_line") { stop(); return; }
      if (IDENTITY_ERRORS.indexOf(f.code) >= 0) { stop(text); return; } // the same hello would be refused again
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
      if (asked) { earlierDone(); return; } // the history page was refused: the button lets them try again
      showNotice(text);
    }

    function onFrame(ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (!f || typeof f !== "object") return;
      switch (f.type) {
        case "hello": onHello(f); break;
        case "history": onHistory(f); break;
        case "ack": onAck(f); break;
        case "message": onMessage(f); break;
        case "typing": onTyping(f); break;
        case "rated": onRated(f); break;
        case "error": onError(f); break;
        default: break; // newer servers may send frames we do not know yet
      }
    }

    // ---- connection

    function connect() {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      if (stopped || ws) return;
      var sock;
      try { sock = new WebSocket(wsUrl); } catch (e) { scheduleReconnect(); return; }
      ws = sock;
      sock.onopen = function () {
        var hello = {
          type: "hello", protocol: PROTOCOL,
          visitor_token: token || (cfg.identity ? null : store.get("localStorage", KEY_TOKEN)) || null,
        };
        if (cfg.identity) hello.identity = cfg.identity; // the site's user: their conversation, whichever device
        sock.send(JSON.stringify(hello));
      };
      sock.onmessage = function (ev) { if (ws === sock) onFrame(ev); };
      sock.onclose = function () {
        if (ws !== sock) return;
        ws = null;
        ready = false;
        clearTimeout(typingIdle);
        typingIdle = null;
        typingSince = 0; // a new socket starts from "not typing"
        hideOperatorTyping(); // its "stopped" may be lost with the socket
        if (formSent) formFailed(T.formFailed); // its answer is lost with the socket: the visitor sends it again
        earlierDone();
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
    setStatus("connecting");
    renderAll([]); // show unacked messages from a previous visit right away
    setOpen(store.get("sessionStorage", KEY_OPEN) === "1", false);
    startShowing();
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
    ".launcher:focus-visible, .send:focus-visible, .close:focus-visible, .file:focus-visible, .earlier:focus-visible,",
    "  .retry:focus-visible, .attach:focus-visible, .chip-remove:focus-visible { outline: 3px solid #9db9ff;",
    "  outline-offset: 2px; }",
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
    ".logo { width: 36px; height: 36px; border-radius: 10px; object-fit: cover; flex: none; background: #fff; }",
    ".privacy { padding: 0 12px 10px; text-align: center; font-size: 12px; background: var(--ol-bg); }",
    ".privacy a { color: var(--ol-muted); }",
    // the line's own chat page: the panel fills it (a column on a wide screen)
    ".wrap.page .panel { top: 0; bottom: 0; left: 0; right: 0; width: auto; height: auto; max-width: 760px;",
    "  margin: 0 auto; border-radius: 0; border-top: 0; border-bottom: 0; }",
    "@media (min-width: 800px) {",
    "  .wrap.page .panel { top: 24px; bottom: 24px; border-radius: 16px; border: 1px solid var(--ol-line); }",
    "}",
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
    ".msg[data-unsent] .bubble { opacity: .65; border: 1px dashed #e5484d; }",
    ".msg[data-unsent] .state { color: #c9262c; }",
    ".retry { border: 0; background: none; padding: 0; color: var(--ol-accent, #2f6fed); font-size: 11px;",
    "  font-weight: 600; text-decoration: underline; }",
    ".files { display: flex; flex-direction: column; gap: 6px; }",
    ".text + .files { margin-top: 6px; }",
    ".file { display: flex; align-items: center; gap: 6px; color: inherit; text-decoration: none; min-width: 0; }",
    ".file:not(.image) { padding: 6px 8px; border-radius: 10px; background: var(--ol-soft); }",
    ".file:hover .file-name { text-decoration: underline; }",
    ".file svg { width: 18px; height: 18px; flex: none; color: var(--ol-muted); }",
    ".file-name { overflow-wrap: anywhere; font-weight: 500; }",
    ".file-size { color: var(--ol-muted); font-size: 12px; white-space: nowrap; }",
    // a box of fixed size, so an image that arrives after its message moves nothing (the list stays scrolled down)
    ".preview { display: block; width: 240px; max-width: 100%; height: 160px; border-radius: 10px;",
    "  background: var(--ol-soft); object-fit: scale-down; }",
    ".separator { display: flex; align-items: center; gap: 10px; margin: 6px 0; color: var(--ol-muted);",
    "  font-size: 11px; }",
    ".separator::before, .separator::after { content: ''; flex: 1; border-top: 1px solid var(--ol-line); }",
    ".earlier { align-self: center; border: 1px solid var(--ol-line); background: var(--ol-bg); color: var(--ol-muted);",
    "  border-radius: 999px; padding: 4px 12px; font-size: 12px; }",
    ".earlier:hover:not(:disabled) { color: var(--ol-fg); }",
    // the operator typing: three dots in a bubble like theirs, and who it is
    ".typing { align-self: flex-start; display: flex; align-items: center; gap: 8px; max-width: 100%;",
    "  font-size: 12px; color: var(--ol-muted); }",
    ".typing-text { min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }",
    ".dots { flex: none; display: inline-flex; align-items: center; gap: 4px; padding: 10px 12px; border-radius: 14px;",
    "  border-bottom-left-radius: 4px; background: var(--ol-bg); border: 1px solid var(--ol-line); }",
    ".dots span { width: 6px; height: 6px; border-radius: 50%; background: var(--ol-muted); opacity: .35;",
    "  animation: ol-typing 1.2s ease-in-out infinite; }",
    ".dots span:nth-child(2) { animation-delay: .2s; }",
    ".dots span:nth-child(3) { animation-delay: .4s; }",
    "@keyframes ol-typing { 0%, 80%, 100% { opacity: .35; transform: none; }",
    "  40% { opacity: 1; transform: translateY(-2px); } }",
    ".closed-notice { padding: 12px 16px; font-size: 14px; color: var(--ol-fg); background: #fdf1f1;",
    "  border-top: 1px solid #f2d4d4; }",

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
    ".input:disabled { background: var(--ol-soft); color: var(--ol-muted); cursor: not-allowed; }",
    ".send:disabled { opacity: .45; cursor: not-allowed; }",
    ".attach { flex: none; width: 36px; height: 40px; border: 0; border-radius: 10px; display: grid; place-items: center;",
    "  background: none; color: var(--ol-muted); padding: 0; }",
    ".attach:hover { color: var(--ol-fg); background: var(--ol-soft); }",
    ".attach svg { width: 20px; height: 20px; }",
    ".tray { display: flex; flex-wrap: wrap; gap: 6px; padding: 8px 10px 0; border-top: 1px solid var(--ol-line);",
    "  background: var(--ol-bg); max-height: 140px; overflow-y: auto; }",
    ".tray:not([hidden]) + .composer { border-top: 0; }",
    ".chip { display: flex; align-items: center; gap: 8px; max-width: 100%; padding: 4px 4px 4px 6px;",
    "  border-radius: 10px; background: var(--ol-soft); font-size: 13px; }",
    ".chip > svg { width: 18px; height: 18px; flex: none; color: var(--ol-muted); }",
    ".chip-thumb { width: 36px; height: 36px; object-fit: cover; border-radius: 6px; flex: none; }",
    ".chip-text { display: flex; flex-direction: column; min-width: 0; }",
    ".chip-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 180px; font-weight: 500; }",
    ".chip-state { color: var(--ol-muted); font-size: 12px; }",
    ".chip.failed { background: #fdf1f1; }",
    ".chip.failed .chip-state { color: #c9262c; }",
    ".chip-remove { flex: none; width: 28px; height: 28px; border: 0; border-radius: 8px; background: none;",
    "  color: var(--ol-muted); display: grid; place-items: center; padding: 0; }",
    ".chip-remove:hover { background: rgba(0,0,0,.06); color: var(--ol-fg); }",
    ".chip-remove svg { width: 16px; height: 16px; }",
    ".drop { position: absolute; inset: 0; display: grid; place-items: center; background: rgba(255,255,255,.93);",
    "  border: 2px dashed var(--ol-accent, #2f6fed); border-radius: inherit; color: var(--ol-accent, #2f6fed);",
    "  font-weight: 600; pointer-events: none; z-index: 2; }",
    ".file.local { cursor: default; }",
    ".offline-note { padding: 9px 16px; font-size: 13px; color: #5b4a00; background: #fff8e0;",
    "  border-bottom: 1px solid #f1e2a8; }",
    // the pre-chat form
    ".prechat { flex: 1; overflow-y: auto; padding: 18px 16px; display: flex; flex-direction: column; gap: 12px;",
    "  background: var(--ol-bg); }",
    ".pc-title { font-size: 17px; font-weight: 650; }",
    ".pc-text { color: var(--ol-muted); font-size: 14px; margin-top: -6px; }",
    ".pc-field { display: flex; flex-direction: column; gap: 4px; }",
    ".pc-check { flex-direction: row; flex-wrap: wrap; align-items: flex-start; gap: 8px; }",
    ".pc-check input { width: 18px; height: 18px; margin: 2px 0 0; accent-color: var(--ol-accent, #2f6fed); flex: none; }",
    ".pc-check .pc-label { flex: 1; font-weight: 400; }",
    ".pc-check .pc-error { flex-basis: 100%; }",
    ".pc-label { font-size: 13px; font-weight: 600; }",
    ".pc-req { color: #c9262c; }",
    ".prechat input:not([type=checkbox]), .prechat select, .prechat textarea { font: inherit; color: inherit;",
    "  border: 1px solid var(--ol-line); border-radius: 10px; padding: 8px 10px; background: var(--ol-bg);",
    "  outline: none; width: 100%; }",
    ".prechat textarea { resize: vertical; min-height: 70px; }",
    ".prechat input:focus, .prechat select:focus, .prechat textarea:focus { border-color: var(--ol-accent, #2f6fed); }",
    ".prechat [aria-invalid=true] { border-color: #c9262c !important; }",
    ".pc-error, .pc-form-error { color: #c9262c; font-size: 12px; }",
    ".pc-submit { margin-top: 4px; border: 0; border-radius: 12px; padding: 11px 16px; font-weight: 600;",
    "  background: var(--ol-accent, #2f6fed); color: #fff; }",
    ".pc-submit:disabled { opacity: .6; cursor: default; }",
    ".pc-submit:focus-visible { outline: 3px solid #9db9ff; outline-offset: 2px; }",
    // the visitor's own files sit on their accent-coloured bubble
    ".msg.customer .file:not(.image) { background: rgba(255,255,255,.18); }",
    ".msg.customer .file svg, .msg.customer .file-size { color: rgba(255,255,255,.85); }",
    // the question asking for a rating: its buttons, then a comment box, then thanks
    ".rating { margin-top: 6px; display: flex; flex-direction: column; gap: 6px; align-items: flex-start; }",
    ".scale { display: flex; gap: 4px; }",
    ".score { border: 1px solid var(--ol-line); background: var(--ol-bg); border-radius: 10px; min-width: 40px;",
    "  height: 40px; padding: 0 8px; font-size: 20px; line-height: 1; display: grid; place-items: center;",
    "  color: #b7bdc9; }",
    ".scale.like .score { color: inherit; }",
    ".score svg { width: 20px; height: 20px; }",
    ".score:hover:not(:disabled), .score.hover { border-color: var(--ol-accent, #2f6fed); }",
    ".scale.five .score.hover, .scale.five .score.lit { color: #f5a524; }",
    ".scale.like .score.lit { border-color: var(--ol-accent, #2f6fed); background: #e8effd;",
    "  color: var(--ol-accent, #2f6fed); }",
    ".scale.like .score.lit[data-score='0'] { border-color: #e5484d; background: #fdecec; color: #c9262c; }",
    ".scale.like .score:disabled:not(.lit) { opacity: .4; }",
    ".score:disabled { cursor: default; }",
    ".score:focus-visible, .rating-send:focus-visible, .rating-skip:focus-visible, .rating-comment:focus-visible {",
    "  outline: 2px solid var(--ol-accent, #2f6fed); outline-offset: 2px; }",
    ".rating-comment { box-sizing: border-box; width: 100%; min-width: 220px; resize: vertical; font: inherit;",
    "  border: 1px solid var(--ol-line); border-radius: 10px; padding: 8px 10px; color: inherit; outline: none; }",
    ".rating-actions { display: flex; gap: 8px; align-self: flex-end; }",
    ".rating-send { border: 0; border-radius: 10px; padding: 6px 14px; background: var(--ol-accent, #2f6fed);",
    "  color: #fff; font-weight: 600; }",
    ".rating-skip { border: 0; background: none; padding: 6px 4px; color: var(--ol-muted); }",
    ".rating-send:disabled, .rating-skip:disabled { opacity: .5; cursor: default; }",
    ".rating-note { font-size: 13px; color: var(--ol-muted); }",
    ".rating-note.failed { color: #c9262c; }",

    // Phones: the open panel takes the whole screen and the launcher steps aside (the header has a close button).
    "@media (max-width: 480px) {",
    "  .panel { inset: 0 !important; width: 100%; height: 100%; border-radius: 0; border: 0; }",
    "  .wrap.open .launcher { display: none; }",
    "  .input, .prechat input, .prechat select, .prechat textarea { font-size: 16px; }", // no iOS zoom into fields
    "}",
    "@media (prefers-reduced-motion: reduce) {",
    "  .launcher { transition: none; }",
    "  .dots span { animation: none; opacity: .6; }",
    "}",
  ].join("\n");

  // ---------------------------------------------------------------- start once the body exists

  function whenBody(fn) {
    // Waiting for the DOM also lets an inline script on the page remove or replace this tag before we mount.
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn, { once: true });
    else fn();
  }

  /** The widget's language: the tag's data-lang, else the page's <html lang>, else English. */
  /** The widget's language: the tag's data-lang, else the line's (`preferred`, unless "auto"), else the page's
   * <html lang>, else English. */
  function language(preferred) {
    var code = function (tag) { return String(tag || "").trim().toLowerCase().split(/[-_]/)[0]; };
    var asked = [script.getAttribute("data-lang"), preferred, document.documentElement.getAttribute("lang")];
    for (var i = 0; i < asked.length; i++) if (LANGUAGES.indexOf(code(asked[i])) >= 0) return code(asked[i]);
    return "en";
  }

  /** The line's settings for its widget (GET /widget/settings: language, title, colour, corner, when to show), or
   * null when they cannot be had soon: the widget then starts on its defaults and hello brings them. */
  function lineSettings(origin, line, done) {
    var called = false;
    var once = function (x) { if (!called) { called = true; done(x); } };
    setTimeout(function () { once(null); }, SETTINGS_WAIT_MS);
    try {
      fetch(origin + "/widget/settings?line=" + encodeURIComponent(line), { mode: "cors", credentials: "omit" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (x) { once(x && typeof x === "object" ? x : null); }, function () { once(null); });
    } catch (e) { once(null); }
  }

  /** Load strings.LANG.js from our server (English when that fails), then call back with the table or null. */
  function loadStrings(origin, lang, done) {
    var all = (window.__openlinesStrings = window.__openlinesStrings || {});
    if (all[lang]) { done(all[lang]); return; }
    var tag = document.createElement("script");
    tag.src = origin + "/widget/strings." + lang + ".js";
    tag.async = true;
    tag.onload = function () {
      if (all[lang]) done(all[lang]);
      else if (lang !== "en") loadStrings(origin, "en", done);
      else done(null);
    };
    tag.onerror = function () {
      if (lang !== "en") loadStrings(origin, "en", done);
      else done(null);
    };
    (document.head || document.body).appendChild(tag);
  }

  /** The site's signed-in user, as its backend signed it (data-user-id, -email, -phone, -name and -hash), or null:
   * the chat is then that user's on every device (docs/configuration.md, "Signed-in users"). */
  function siteUser() {
    var id = script.getAttribute("data-user-id");
    var hash = script.getAttribute("data-user-hash");
    if (!id || !hash) return null;
    var user = { id: id, hash: hash };
    ["email", "phone", "name"].forEach(function (k) {
      var v = script.getAttribute("data-user-" + k);
      if (v) user[k] = v;
    });
    return user;
  }

  /** An absolute address with one of the schemes, else null (a tag's logo or privacy link). */
  function address(raw, schemes) {
    if (!raw) return null;
    try {
      var u = new URL(raw, document.baseURI);
      return schemes.indexOf(u.protocol) >= 0 ? u.href : null;
    } catch (e) { return null; }
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
    var origin = new URL(script.src, document.baseURI).origin;
    lineSettings(origin, line, function (ls) { start(origin, line, ls || {}); });
  });

  function start(origin, line, ls) {
    var lang = language(ls.language);
    var color = /^#[0-9a-fA-F]{6}$/.test(String(ls.color || "")) ? ls.color : null;
    var side = ls.position === "left" || ls.position === "right" ? ls.position : null;
    var registry = window.__openlinesWidgets;
    loadStrings(origin, lang, function (strings) {
      if (!strings) {
        if (window.console) console.error("openlines: cannot load the widget's strings from " + origin);
        delete registry[line];
        return;
      }
      mount({
        line: line,
        lang: window.__openlinesStrings[lang] === strings ? lang : "en",
        title: (script.getAttribute("data-title") || "").trim() || (typeof ls.title === "string" && ls.title.trim()) || null,
        color: script.getAttribute("data-color") || color || "#2f6fed",
        colorSet: script.hasAttribute("data-color") || !!color,
        position: script.hasAttribute("data-position")
          ? (script.getAttribute("data-position") === "left" ? "left" : "right") : side || "right",
        positionSet: script.hasAttribute("data-position") || !!side,
        show: ls.show && typeof ls.show === "object" ? ls.show : null,
        page: script.getAttribute("data-mode") === "page", // the line's own chat page: open, filling it
        logo: address(script.getAttribute("data-logo"), ["https:"]),
        privacy: address(script.getAttribute("data-privacy"), ["https:", "http:"]),
        origin: origin,
        identity: siteUser(),
      }, strings);
    });
  }
})();
