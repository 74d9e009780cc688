/*
 * openlines CRM web form (connectors/webform.py). Embed it where the form should be:
 *   <script src="https://HOST/widget/form.js" data-form="FORM_ID" async></script>
 * Optional: data-lang (`en`, `ru`; default: the page's <html lang>), data-color. /forms/FORM_ID is its own page.
 *
 * It draws the form inside a Shadow DOM root right after its own tag, checks the answers as the server will, pays
 * the form's proof of work when it asks one, and sends the answers once (a retry reuses the same submission id, so
 * the server stores it once). Everything is rendered as text, never parsed as HTML.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) return;
  var formId = (script.getAttribute("data-form") || "").trim();
  if (!formId) { if (window.console) console.error("openlines: form.js needs a data-form attribute"); return; }
  var origin = new URL(script.src, document.baseURI).origin;
  var base = origin + "/forms/" + encodeURIComponent(formId);
  var LANGUAGES = ["en", "ru"];
  var KEY = "openlines.form." + formId; // this visit's submission id, until it is stored

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] != null) node.setAttribute(k, attrs[k]);
    (children || []).forEach(function (c) { if (c != null) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function language() {
    var tag = (script.getAttribute("data-lang") || document.documentElement.getAttribute("lang") || "").trim();
    var code = tag.toLowerCase().split(/[-_]/)[0];
    return LANGUAGES.indexOf(code) >= 0 ? code : "en";
  }

  function loadStrings(lang, done) {
    var all = (window.__openlinesStrings = window.__openlinesStrings || {});
    if (all[lang]) { done(all[lang]); return; }
    var tag = document.createElement("script");
    tag.src = origin + "/widget/strings." + lang + ".js";
    tag.onload = function () { if (all[lang]) done(all[lang]); else if (lang !== "en") loadStrings("en", done); };
    tag.onerror = function () { if (lang !== "en") loadStrings("en", done); };
    (document.head || document.body).appendChild(tag);
  }

  function submissionId() {
    var id = null;
    try { id = sessionStorage.getItem(KEY); } catch (e) { id = null; }
    if (!id) {
      var b = new Uint8Array(16);
      crypto.getRandomValues(b);
      id = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
      try { sessionStorage.setItem(KEY, id); } catch (e) { /* private mode: one id for this page */ }
    }
    return id;
  }

  // ---- SHA-256 (FIPS 180-4), for the proof of work: WebCrypto is missing on plain-http pages
  var K = [];
  (function () {
    var n = 2, found = 0;
    function frac(x) { return ((x - Math.floor(x)) * 4294967296) | 0; }
    while (found < 64) {
      var prime = true;
      for (var d = 2; d * d <= n; d++) if (n % d === 0) { prime = false; break; }
      if (prime) K[found++] = frac(Math.pow(n, 1 / 3));
      n++;
    }
  })();
  var H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

  /** The first 32 bits of SHA-256 of an ASCII string (all the proof of work looks at). */
  function sha256head(text) {
    var bytes = [];
    for (var i = 0; i < text.length; i++) bytes.push(text.charCodeAt(i) & 0xff);
    var bitLen = bytes.length * 8;
    bytes.push(0x80);
    while (bytes.length % 64 !== 56) bytes.push(0);
    for (var s = 56; s >= 0; s -= 8) bytes.push(s >= 32 ? Math.floor(bitLen / Math.pow(2, s)) & 0xff : (bitLen >>> s) & 0xff);
    var h = H0.slice();
    var w = new Array(64);
    for (var off = 0; off < bytes.length; off += 64) {
      for (var t = 0; t < 16; t++) {
        w[t] = (bytes[off + t * 4] << 24) | (bytes[off + t * 4 + 1] << 16) | (bytes[off + t * 4 + 2] << 8) | bytes[off + t * 4 + 3];
      }
      for (t = 16; t < 64; t++) {
        var a0 = w[t - 15], a1 = w[t - 2];
        var s0 = ((a0 >>> 7) | (a0 << 25)) ^ ((a0 >>> 18) | (a0 << 14)) ^ (a0 >>> 3);
        var s1 = ((a1 >>> 17) | (a1 << 15)) ^ ((a1 >>> 19) | (a1 << 13)) ^ (a1 >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      var A = h[0], B = h[1], C = h[2], D = h[3], E = h[4], F = h[5], G = h[6], Hh = h[7];
      for (t = 0; t < 64; t++) {
        var S1 = ((E >>> 6) | (E << 26)) ^ ((E >>> 11) | (E << 21)) ^ ((E >>> 25) | (E << 7));
        var t1 = (Hh + S1 + ((E & F) ^ (~E & G)) + K[t] + w[t]) | 0;
        var S0 = ((A >>> 2) | (A << 30)) ^ ((A >>> 13) | (A << 19)) ^ ((A >>> 22) | (A << 10));
        var t2 = (S0 + ((A & B) ^ (A & C) ^ (B & C))) | 0;
        Hh = G; G = F; F = E; E = (D + t1) | 0; D = C; C = B; B = A; A = (t1 + t2) | 0;
      }
      h = [h[0] + A, h[1] + B, h[2] + C, h[3] + D, h[4] + E, h[5] + F, h[6] + G, h[7] + Hh].map(function (x) { return x | 0; });
    }
    return h[0] >>> 0;
  }

  /** A nonce whose hash with the challenge starts with `bits` zero bits (a few at a time, so the page stays alive). */
  function work(challenge, bits, done) {
    var nonce = 0;
    var limit = Math.pow(2, 32 - bits);
    (function step() {
      for (var i = 0; i < 2000; i++, nonce++) {
        if (sha256head(challenge + ":" + nonce) < limit) { done(String(nonce)); return; }
      }
      setTimeout(step, 0);
    })();
  }

  function mount(T) {
    var host = el("div", { "data-openlines-form": formId });
    host.style.cssText = "all: initial !important; display: block !important;";
    host.style.setProperty("--ol-accent", script.getAttribute("data-color") || "#2f6fed");
    script.parentNode.insertBefore(host, script.nextSibling);
    var root = host.attachShadow({ mode: "open" });
    if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function") {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.appendChild(el("style", {}, [CSS]));
    }
    var card = el("div", { class: "card" + (script.getAttribute("data-mode") === "page" ? " page" : "") });
    root.appendChild(card);
    var status = el("div", { class: "status", "data-ol": "form-status", role: "status" }, [T.loading]);
    card.appendChild(status);

    fetch(base + "/schema", { mode: "cors", credentials: "omit", cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (schema) { draw(card, status, schema, T); })
      .catch(function () { status.textContent = T.webformUnavailable; });
  }

  function draw(card, status, schema, T) {
    var form = schema.form;
    var view = el("form", { class: "form", "data-ol": "webform", novalidate: "" });
    view.appendChild(el("h2", { class: "title", "data-ol": "form-title" }, [form.title || T.webformTitle]));
    if (form.text) view.appendChild(el("p", { class: "text" }, [form.text]));
    var inputs = {};
    form.fields.forEach(function (f, i) {
      var id = "olf-" + i;
      var control;
      if (f.type === "textarea") control = el("textarea", { rows: "4", maxlength: String(f.max_length || 1000) });
      else if (f.type === "select") {
        control = el("select", {}, [el("option", { value: "" }, [T.choose])].concat(
          (f.options || []).map(function (o) { return el("option", { value: String(o) }, [String(o)]); })));
      } else if (f.type === "checkbox") control = el("input", { type: "checkbox" });
      else {
        var kinds = { email: ["email", "email"], phone: ["tel", "tel"], name: ["text", "name"] };
        var kind = kinds[f.type] || ["text", "off"];
        control = el("input", { type: kind[0], autocomplete: kind[1] });
      }
      control.setAttribute("id", id);
      control.setAttribute("name", String(f.name));
      control.setAttribute("aria-describedby", id + "-err");
      var label = el("label", { for: id, class: "label" }, [String(f.label)]);
      if (f.required) label.appendChild(el("span", { class: "req", "aria-hidden": "true" }, [" *"]));
      var err = el("div", { class: "error", "data-ol": "field-error", id: id + "-err", hidden: "" });
      var row = el("div", { class: "field" + (f.type === "checkbox" ? " check" : ""), "data-field": f.name },
        f.type === "checkbox" ? [control, label, err] : [label, control, err]);
      inputs[f.name] = { f: f, control: control, row: row, err: err };
      control.addEventListener("input", refresh);
      control.addEventListener("change", refresh);
      view.appendChild(row);
    });
    // people never see or fill this: whatever does is a robot
    var trap = el("input", { type: "text", name: "website", tabindex: "-1", autocomplete: "off", "data-ol": "honeypot" });
    view.appendChild(el("div", { class: "hp", "aria-hidden": "true" }, [el("label", {}, ["Website", trap])]));
    var formError = el("div", { class: "error form-error", "data-ol": "form-error", role: "alert", hidden: "" });
    var submit = el("button", { type: "submit", class: "submit", "data-ol": "form-submit" }, [form.submit || T.webformSubmit]);
    view.appendChild(formError);
    view.appendChild(submit);
    status.replaceWith(view);

    function values() {
      var out = {};
      form.fields.forEach(function (f) {
        var x = inputs[f.name];
        var cond = f.show_if;
        var shown = !cond || (Array.isArray(cond.equals) ? cond.equals.indexOf(out[cond.field]) >= 0 : out[cond.field] === cond.equals);
        x.row.hidden = !shown;
        if (shown) out[f.name] = f.type === "checkbox" ? x.control.checked : x.control.value;
      });
      return out;
    }
    function refresh(e) {
      var name = e && e.target && e.target.getAttribute("name");
      if (name && inputs[name]) mark(name, null);
      values();
    }
    function mark(name, code) {
      var x = inputs[name];
      if (!x) return;
      x.err.textContent = code ? (T.formErrors[code] || T.formErrors.bad_type) : "";
      x.err.hidden = !code;
      if (code) x.control.setAttribute("aria-invalid", "true"); else x.control.removeAttribute("aria-invalid");
    }
    function problems(v) {
      var wrong = {};
      form.fields.forEach(function (f) {
        if (!(f.name in v)) return;
        var a = v[f.name];
        if (f.type === "checkbox") { if (f.required && !a) wrong[f.name] = "required"; return; }
        a = String(a).trim();
        if (!a) { if (f.required) wrong[f.name] = "required"; return; }
        if (f.type === "email" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(a)) wrong[f.name] = "bad_email";
        else if (f.type === "phone" && !/^\+?[0-9 ()\-./]{5,30}$/.test(a)) wrong[f.name] = "bad_phone";
      });
      return wrong;
    }
    function busy(on, text) {
      submit.disabled = on;
      submit.textContent = on ? text : (form.submit || T.webformSubmit);
    }
    function fail(text) { busy(false); formError.textContent = text; formError.hidden = false; }

    function send(v, proof, retried) {
      var body = { submission: submissionId(), values: v, website: trap.value };
      if (proof) { body.challenge = proof.challenge; body.nonce = proof.nonce; }
      fetch(base, { method: "POST", mode: "cors", credentials: "omit", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body) })
        .then(function (r) { return r.json().catch(function () { return {}; }).then(function (b) { return { r: r, b: b }; }); })
        .then(function (res) {
          if (res.r.ok) {
            try { sessionStorage.removeItem(KEY); } catch (e) { /* nothing kept */ }
            view.replaceWith(el("div", { class: "thanks", "data-ol": "form-thanks", role: "status" },
              [schema.thanks || T.webformThanks]));
            return;
          }
          var code = res.b && res.b.code;
          if (code === "bad_form" && res.b.fields) {
            busy(false);
            Object.keys(res.b.fields).forEach(function (n) { mark(n, String(res.b.fields[n])); });
            return;
          }
          if (code === "proof_required" && !retried) { start(v, true); return; } // a fresh challenge, once
          fail(code === "rate_limited" ? T.formErrors.rate_limited : T.formFailed);
        })
        .catch(function () { fail(T.formFailed); });
    }

    function start(v, retried) {
      if (!schema.pow) { send(v, null, retried); return; }
      busy(true, T.webformChecking);
      var go = function (pow) {
        work(pow.challenge, pow.bits, function (nonce) {
          busy(true, T.sending);
          send(v, { challenge: pow.challenge, nonce: nonce }, retried);
        });
      };
      if (!retried) { go(schema.pow); return; }
      fetch(base + "/schema", { mode: "cors", credentials: "omit", cache: "no-store" })
        .then(function (r) { return r.json(); })
        .then(function (s) { schema.pow = s.pow; go(s.pow); })
        .catch(function () { fail(T.formFailed); });
    }

    view.addEventListener("submit", function (e) {
      e.preventDefault();
      if (submit.disabled) return;
      formError.hidden = true;
      var v = values();
      var wrong = problems(v);
      form.fields.forEach(function (f) { mark(f.name, wrong[f.name] || null); });
      var first = Object.keys(wrong)[0];
      if (first) { inputs[first].control.focus(); return; }
      busy(true, T.sending);
      start(v, false);
    });
    values();
  }

  var CSS = [
    ":host { all: initial; }",
    "[hidden] { display: none !important; }",
    ".card { --bg: #fff; --fg: #1d2433; --muted: #6b7385; --line: #e4e7ee; box-sizing: border-box; max-width: 560px;",
    "  margin: 0 auto; padding: 22px 20px; background: var(--bg); color: var(--fg); border: 1px solid var(--line);",
    "  border-radius: 16px; font: 15px/1.4 system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif; }",
    ".card.page { margin: 32px auto; box-shadow: 0 10px 30px rgba(20, 30, 60, .08); }",
    "@media (max-width: 600px) { .card.page { margin: 0; border-radius: 0; border: 0; min-height: 100vh; } }",
    ".card *, .card *::before, .card *::after { box-sizing: border-box; }",
    ".form { display: flex; flex-direction: column; gap: 12px; }",
    ".title { font-size: 20px; margin: 0; }",
    ".text { margin: -4px 0 0; color: var(--muted); }",
    ".field { display: flex; flex-direction: column; gap: 4px; }",
    ".field.check { flex-direction: row; flex-wrap: wrap; align-items: flex-start; gap: 8px; }",
    ".field.check input { width: 18px; height: 18px; margin: 2px 0 0; accent-color: var(--ol-accent, #2f6fed); }",
    ".field.check .label { flex: 1; font-weight: 400; }",
    ".field.check .error { flex-basis: 100%; }",
    ".label { font-size: 13px; font-weight: 600; }",
    ".req { color: #c9262c; }",
    "input:not([type=checkbox]), select, textarea { font: inherit; font-size: 16px; color: inherit; width: 100%;",
    "  border: 1px solid var(--line); border-radius: 10px; padding: 9px 11px; background: #fff; outline: none; }",
    "textarea { resize: vertical; }",
    "input:focus, select:focus, textarea:focus { border-color: var(--ol-accent, #2f6fed); }",
    "[aria-invalid=true] { border-color: #c9262c !important; }",
    ".error { color: #c9262c; font-size: 12px; }",
    ".submit { border: 0; border-radius: 12px; padding: 12px 16px; font: inherit; font-weight: 600; color: #fff;",
    "  background: var(--ol-accent, #2f6fed); cursor: pointer; }",
    ".submit:disabled { opacity: .6; cursor: default; }",
    ".submit:focus-visible { outline: 3px solid #9db9ff; outline-offset: 2px; }",
    ".hp { position: absolute; left: -10000px; width: 1px; height: 1px; overflow: hidden; }",
    ".thanks { font-size: 17px; padding: 24px 4px; text-align: center; }",
    ".status { color: var(--muted); text-align: center; padding: 16px; }",
  ].join("\n");

  loadStrings(language(), function (T) {
    if (!T) return;
    if (document.body) mount(T); else document.addEventListener("DOMContentLoaded", function () { mount(T); });
  });
})();
