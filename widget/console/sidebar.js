/*
 * openlines operator console (protocol version 1, docs/protocol.md).
 *
 * One page, no framework: REST for snapshots (lists, threads, leads), the console websocket for everything live.
 * Every string that came from the server or a customer is put into the page with textContent / text nodes only.
 */
"use strict";

(() => {
  const TOKEN_KEY = "openlines.console.token";
  const BASE_TITLE = "openlines console";
  const LISTS = ["offered", "mine", "queued", "closed"];
  const CLOSED_LIMIT = 50; // GET /api/dialogs?state=closed returns the latest 50; keep the live list the same size
  const REFRESH_MS = 30000; // safety net: refetch every list even when the websocket looks healthy
  const MAX_BACKOFF_MS = 30000;
  const PREVIEW_CHARS = 90;

  // ================================================================ small helpers

  const $ = (id) => document.getElementById(id);

  /**
   * Build an element. attrs: `class`, `text` (textContent), `on<event>` handlers, `hidden`, anything else becomes an
   * attribute. Children: nodes or strings (strings become text nodes, never HTML).
   */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = String(v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c == null || c === false) continue;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  function uuid() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === "function") {
      try { return c.randomUUID(); } catch { /* insecure context: fall through */ }
    }
    const b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const x = Array.from(b, (n) => n.toString(16).padStart(2, "0")).join("");
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }

  const pad2 = (n) => String(n).padStart(2, "0");
  const toDate = (ts) => { const d = ts ? new Date(ts) : null; return d && !isNaN(d.getTime()) ? d : null; };

  /** Local HH:MM, with the date in front when it is not today. */
  function clock(ts) {
    const d = toDate(ts);
    if (!d) return "";
    const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
    return d.toDateString() === new Date().toDateString()
      ? hm : `${d.toLocaleDateString(undefined, { day: "numeric", month: "short" })} ${hm}`;
  }

  /** "now", "5 min", "3 h", "12 Nov". */
  function relative(ts) {
    const d = toDate(ts);
    if (!d) return "";
    const s = Math.max(0, (Date.now() - d.getTime()) / 1000);
    if (s < 45) return "now";
    if (s < 3600) return `${Math.round(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h`;
    return d.toLocaleDateString(undefined, { day: "numeric", month: "short" });
  }

  function countdown(deadline) {
    const d = toDate(deadline);
    if (!d) return "";
    const left = Math.ceil((d.getTime() - Date.now()) / 1000);
    if (left <= 0) return "expired";
    return `${Math.floor(left / 60)}:${pad2(left % 60)} left`;
  }

  const truncate = (s, n) => { s = String(s ?? "").replace(/\s+/g, " ").trim(); return s.length > n ? s.slice(0, n - 1) + "…" : s; };
  const activity = (d) => toDate(d.last_message && d.last_message.ts) || toDate(d.closed_at) || toDate(d.created_at) || new Date(0);

  // ================================================================ state

  const state = {
    running: false,
    me: null,
    meta: { lines: [], operators: [], statuses: [] },
    dialogs: new Map(), // id -> dialog summary (the latest we saw)
    lists: Object.fromEntries(LISTS.map((n) => [n, new Set()])),
    fresh: new Set(), // offers the operator has not looked at yet (highlighted)
    unread: new Set(), // dialogs with customer messages the operator has not opened
    selectedId: null,
    selected: null, // full dialog object for the center pane
    selectSeq: 0,
    threadLoading: false,
    threadBuffer: [], // live messages that arrived while the thread was loading
    pendingReplies: new Map(), // client_msg_id -> reply frame, until its ack (re-sent after a reconnect)
    lead: null,
    leadSeq: 0,
    ws: null,
    wsReady: false,
    attempt: 0,
    reconnectTimer: null,
    refreshTimer: null,
    tickTimer: null,
    refreshSeq: 0,
  };

  // ================================================================ REST

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  /** Call the REST API; throws ApiError. A 401 outside the login call means the session is gone. */
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    let res;
    try { res = await fetch(path, init); } catch { throw new ApiError(0, "network", "Cannot reach the server"); }
    let data = null;
    try { data = await res.json(); } catch { /* empty or not JSON */ }
    if (!res.ok) {
      const err = new ApiError(res.status, (data && data.code) || `http_${res.status}`,
        (data && data.message) || res.statusText || "Request failed");
      if (res.status === 401 && path !== "/api/login") sessionLost();
      throw err;
    }
    return data || {};
  }

  // ================================================================ toast

  const toastEl = $("toast");
  let toastTimer = null;
  function toast(message, code) {
    toastEl.textContent = String(message || "Something went wrong");
    if (code) toastEl.dataset.code = code; else delete toastEl.dataset.code;
    toastEl.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(hideToast, 10000);
  }
  function hideToast() { toastEl.hidden = true; clearTimeout(toastTimer); }
  toastEl.addEventListener("click", hideToast);
  toastEl.addEventListener("keydown", (e) => { if (e.key === "Escape" || e.key === "Enter") hideToast(); });

  // ================================================================ sign-in / sign-out

  function showLogin(message) {
    $("app").hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = message || "";
    document.title = BASE_TITLE;
    $("login").focus();
  }

  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const login = $("login").value.trim();
    const password = $("password").value;
    const err = $("login-error");
    err.textContent = "";
    if (!login || !password) { err.textContent = "Enter your login and password."; return; }
    $("login-submit").disabled = true;
    try {
      const res = await api("POST", "/api/login", { login, password });
      if (res.token) sessionStorage.setItem(TOKEN_KEY, res.token);
      $("password").value = "";
      startApp(res.operator || (await api("GET", "/api/me")));
    } catch (ex) {
      err.textContent = ex.status === 401 ? (ex.message || "Wrong login or password.") : ex.message;
    } finally {
      $("login-submit").disabled = false;
    }
  });

  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/api/logout"); } catch { /* we forget the session either way */ }
    sessionStorage.removeItem(TOKEN_KEY);
    stopApp();
    showLogin();
  });

  /** Any 401 after sign-in: drop everything and ask for the password again. */
  function sessionLost() {
    if (!state.running) return;
    sessionStorage.removeItem(TOKEN_KEY);
    stopApp();
    showLogin("Your session has ended. Please sign in again.");
  }

  function startApp(operator) {
    if (state.running) stopApp();
    state.running = true;
    state.me = operator;
    $("login-view").hidden = true;
    $("app").hidden = false;
    renderMe();
    loadMeta();
    refreshLists();
    connect();
    state.refreshTimer = setInterval(refreshLists, REFRESH_MS);
    state.tickTimer = setInterval(tick, 1000);
  }

  function stopApp() {
    state.running = false;
    clearInterval(state.refreshTimer);
    clearInterval(state.tickTimer);
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    const ws = state.ws;
    state.ws = null;
    state.wsReady = false;
    if (ws) ws.close();
    state.dialogs.clear();
    LISTS.forEach((n) => state.lists[n].clear());
    state.fresh.clear();
    state.unread.clear();
    state.pendingReplies.clear();
    state.selectedId = null;
    state.selected = null;
    state.lead = null;
    renderLists();
    showNoDialog();
    showLead(null);
    $("lead-search").value = "";
    $("lead-search-results").hidden = true;
  }

  function renderMe() {
    const me = state.me || {};
    $("me-name").textContent = me.name || me.login || "";
    if (me.presence === "online" || me.presence === "away") setPresence(me.presence);
  }

  async function loadMeta() {
    try {
      const meta = await api("GET", "/api/meta");
      state.meta = { lines: meta.lines || [], operators: meta.operators || [], statuses: meta.statuses || [] };
      renderTransferTargets();
      if (state.lead) renderLead(state.lead);
    } catch (e) {
      if (e.status !== 401) toast(`Could not load settings: ${e.message}`, e.code);
    }
  }

  // ================================================================ websocket

  function setConn(up) {
    const c = $("conn");
    c.dataset.state = up ? "up" : "down";
    c.textContent = up ? "Connected" : "Reconnecting…";
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (!state.running) return;
    // batch=1: under load the server sends several frames at once as {"type": "batch", "frames": [...]}
    const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/api/console/ws?batch=1`;
    let sock;
    try { sock = new WebSocket(url); } catch { scheduleReconnect(); return; }
    state.ws = sock;
    let greeted = false;
    sock.onmessage = (ev) => {
      if (state.ws !== sock) return;
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      if (!f || typeof f !== "object") return;
      for (const one of f.type === "batch" && Array.isArray(f.frames) ? f.frames : [f]) {
        if (!one || typeof one !== "object") continue;
        if (one.type === "hello") greeted = true;
        onFrame(one);
      }
    };
    sock.onclose = () => {
      if (state.ws !== sock) return;
      state.ws = null;
      state.wsReady = false;
      setConn(false);
      if (!state.running) return;
      // A socket refused before its hello may mean the session is gone; /api/me tells (and a 401 signs out).
      if (!greeted) api("GET", "/api/me").then(scheduleReconnect, (e) => { if (e.status !== 401) scheduleReconnect(); });
      else scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (!state.running || state.reconnectTimer || state.ws) return;
    const delay = Math.min(1000 * 2 ** state.attempt, MAX_BACKOFF_MS);
    state.attempt += 1;
    state.reconnectTimer = setTimeout(connect, delay);
  }

  window.addEventListener("online", () => {
    if (state.running && !state.ws) { state.attempt = 0; connect(); }
  });

  function sendFrame(frame, quiet) {
    if (state.ws && state.wsReady && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify(frame));
      return true;
    }
    if (!quiet) toast("Not connected to the server — reconnecting…", "offline");
    return false;
  }

  function onFrame(f) {
    switch (f.type) {
      case "hello":
        state.wsReady = true;
        state.attempt = 0;
        setConn(true);
        if (f.operator) { state.me = f.operator; renderMe(); }
        refreshLists(); // anything may have happened while we were away
        if (state.selectedId) reloadSelected();
        for (const frame of state.pendingReplies.values()) sendFrame(frame, true); // same ids: the server dedupes
        break;
      case "presence": setPresence(f.status); break;
      case "dialog.offered": onOffered(f); break;
      case "dialog.assigned": onAssigned(f); break;
      case "dialog.withdrawn": onWithdrawn(f); break;
      case "dialog.queued": placeDialog(dialogOf(f, { state: "queued" }), "queued"); break;
      case "dialog.transferred": onTransferred(f); break;
      case "dialog.closed": placeDialog(dialogOf(f, { state: "closed" }), "closed"); break;
      case "message": onMessage(f); break;
      case "message.status": onMessageStatus(f); break;
      case "message.edited": onMessageEdited(f); break;
      case "ack": onAck(f); break;
      case "error": onError(f); break;
      default: break; // frames from a newer server are ignored
    }
  }

  /** The dialog a frame carries, or our cached copy patched with what the frame implies. */
  function dialogOf(f, patch) {
    if (f.dialog && f.dialog.id) return f.dialog;
    const cached = state.dialogs.get(f.dialog_id) || (state.selected && state.selected.id === f.dialog_id && state.selected);
    return cached ? { ...cached, ...patch } : null;
  }

  const myLogin = () => (state.me && state.me.login) || "";
  const isAdmin = () => state.me && state.me.role === "admin";
  const inMyLines = (d) => isAdmin() || ((state.me && state.me.lines) || []).includes(d.line_id);

  /** Which of my lists a dialog belongs to, judged by its own state. */
  function listFor(d) {
    if (!d) return null;
    if (d.state === "closed") return "closed";
    if (d.state === "assigned") return d.operator === myLogin() ? "mine" : null;
    if (d.state === "offered") return (d.offered_to || []).includes(myLogin()) ? "offered" : null;
    if (d.state === "queued") return inMyLines(d) ? "queued" : null;
    return null;
  }

  function onOffered(f) {
    const d = dialogOf(f, { state: "offered" });
    if (!d) return;
    placeDialog(d, "offered");
    state.fresh.add(d.id);
    renderLists();
  }

  function onAssigned(f) {
    const d = dialogOf(f, { state: "assigned", operator: f.operator });
    if (!d) { removeEverywhere(f.dialog_id, ["offered", "queued"]); return; }
    placeDialog(d, f.operator === myLogin() ? "mine" : null);
    // Taking a dialog may make its taker the lead's responsible: show the card as it is now.
    if (f.dialog_id === state.selectedId && d.lead && d.lead.id) loadLead(d.lead.id);
  }

  function onWithdrawn(f) {
    removeEverywhere(f.dialog_id, ["offered"]);
    // Someone else took it, it timed out or we skipped it: refresh the header so the buttons tell the truth.
    if (f.dialog_id === state.selectedId) reloadSelected();
  }

  function onTransferred(f) {
    const d = dialogOf(f, {});
    if (!d) return;
    let target = listFor(d);
    if (!f.dialog || !f.dialog.state) target = f.to_operator === myLogin() ? "mine" : null;
    placeDialog(d, target);
    if (target === "offered") state.fresh.add(d.id);
  }

  function removeEverywhere(id, lists) {
    let changed = false;
    for (const n of lists) changed = state.lists[n].delete(id) || changed;
    state.fresh.delete(id);
    if (changed) renderLists();
  }

  /** Put a dialog into exactly one list (or none) and refresh whatever shows it. */
  function placeDialog(d, list) {
    if (!d || !d.id) return;
    const old = state.dialogs.get(d.id);
    if (old && old.last_message && !d.last_message) d.last_message = old.last_message;
    state.dialogs.set(d.id, d);
    for (const n of LISTS) if (n !== list) state.lists[n].delete(d.id);
    if (list) state.lists[list].add(d.id);
    if (list !== "offered") state.fresh.delete(d.id);
    if (list === "closed") trimClosed();
    renderLists();
    if (d.id === state.selectedId) { state.selected = { ...state.selected, ...d }; renderHeader(); }
  }

  function trimClosed() {
    const ids = [...state.lists.closed].sort((a, b) => activity(state.dialogs.get(b)) - activity(state.dialogs.get(a)));
    ids.slice(CLOSED_LIMIT).forEach((id) => state.lists.closed.delete(id));
  }

  function onMessage(f) {
    const m = f.message;
    if (!m || !m.id) return;
    const dialogId = f.dialog_id || m.dialog_id;
    const preview = { text: m.text, ts: m.ts, author_kind: m.author && m.author.kind, visibility: m.visibility };
    const d = state.dialogs.get(dialogId);
    if (d) d.last_message = preview;
    if (dialogId === state.selectedId) {
      if (state.selected) state.selected.last_message = preview;
      if (state.threadLoading) state.threadBuffer.push(m); else appendMessage(m);
    } else if (m.author && m.author.kind === "customer") {
      state.unread.add(dialogId);
    }
    if (d) renderLists();
  }

  function onAck(f) {
    state.pendingReplies.delete(f.client_msg_id);
    const node = findPending(f.client_msg_id);
    if (!node) return;
    if (findMessage(f.id)) { node.remove(); return; } // the message frame beat its ack
    node.removeAttribute("data-pending");
    node.dataset.msg = f.id;
    const st = node.querySelector(".m-state");
    if (st) st.textContent = "";
  }

  function onError(f) {
    if (f.code === "unauthorized") { sessionLost(); return; }
    if (f.code === "unavailable" && f.client_msg_id && state.pendingReplies.has(f.client_msg_id)) {
      // the server's queue was briefly away: the reply was not taken; the same one again in a second (deduped)
      const frame = state.pendingReplies.get(f.client_msg_id);
      setTimeout(() => { if (state.pendingReplies.get(f.client_msg_id) === frame) sendFrame(frame, true); }, 1000);
      return;
    }
    if (f.client_msg_id) {
      state.pendingReplies.delete(f.client_msg_id); // refused for good: re-sending would fail the same way
      const node = findPending(f.client_msg_id);
      if (node) {
        node.removeAttribute("data-pending");
        node.dataset.failed = "1";
        const st = node.querySelector(".m-state");
        if (st) st.textContent = `Not sent: ${f.message || f.code}`;
      }
    }
    toast(f.message || f.code, f.code);
  }

  // ================================================================ dialog lists

  /** Replace every list with the server's view (on sign-in, on each websocket hello, every 30 s). */
  async function refreshLists() {
    if (!state.running) return;
    const seq = ++state.refreshSeq;
    let results;
    try {
      results = await Promise.all(LISTS.map((n) => api("GET", `/api/dialogs?state=${n}`)));
    } catch (e) {
      if (e.status !== 401 && e.status !== 0) toast(`Could not load dialogs: ${e.message}`, e.code);
      return;
    }
    if (seq !== state.refreshSeq || !state.running) return; // a newer refresh is on its way
    LISTS.forEach((n, i) => {
      state.lists[n].clear();
      for (const d of results[i].dialogs || []) {
        const old = state.dialogs.get(d.id);
        if (old && old.last_message && !d.last_message) d.last_message = old.last_message;
        state.dialogs.set(d.id, d);
        state.lists[n].add(d.id);
      }
    });
    for (const id of state.fresh) if (!state.lists.offered.has(id)) state.fresh.delete(id);
    renderLists();
    if (state.selectedId && state.dialogs.has(state.selectedId)) {
      state.selected = { ...state.selected, ...state.dialogs.get(state.selectedId) };
      renderHeader();
    }
  }

  function renderLists() {
    for (const n of LISTS) {
      const section = document.querySelector(`[data-list="${n}"]`);
      const dialogs = [...state.lists[n]].map((id) => state.dialogs.get(id)).filter(Boolean)
        .sort((a, b) => activity(b) - activity(a));
      section.querySelector(".items").replaceChildren(...dialogs.map((d) => renderItem(d, n)));
      section.querySelector(".count").textContent = String(dialogs.length);
      section.classList.toggle("is-empty", dialogs.length === 0);
      section.classList.toggle("has-fresh", n === "offered" && state.fresh.size > 0);
    }
    const offers = state.lists.offered.size;
    document.title = offers ? `(${offers}) ${BASE_TITLE}` : BASE_TITLE;
  }

  function renderItem(d, list) {
    const lm = d.last_message;
    const name = d.customer_name || (d.lead && d.lead.name) || "Customer";
    let preview = lm ? truncate(lm.text, PREVIEW_CHARS) : "No messages yet";
    if (lm && lm.visibility === "internal") preview = `Note: ${preview}`;
    else if (lm && lm.author_kind && lm.author_kind !== "customer") preview = `↩ ${preview}`;
    const ts = (lm && lm.ts) || d.closed_at || d.created_at;
    const item = h("li", {
      class: "item" + (d.id === state.selectedId ? " is-selected" : "") + (state.fresh.has(d.id) ? " is-fresh" : "")
        + (state.unread.has(d.id) ? " is-unread" : ""),
      "data-dialog-id": d.id,
      tabindex: "0",
      role: "button",
      "aria-current": d.id === state.selectedId ? "true" : null,
      onclick: () => selectDialog(d.id),
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); selectDialog(d.id); } },
    },
    h("div", { class: "item-row" },
      h("span", { class: "item-name", text: name }),
      h("time", { class: "item-time", "data-ts": ts || "", text: relative(ts) })),
    h("div", { class: "item-row item-sub" },
      h("span", { class: "item-line", text: d.line_name || d.line_id || "" }),
      h("span", { class: "chip", text: d.channel || "" }),
      list === "offered" && d.offer_deadline
        ? h("span", { class: "countdown", "data-deadline": d.offer_deadline, text: countdown(d.offer_deadline) }) : null),
    h("div", { class: "item-preview", text: preview }));
    return item;
  }

  let ticks = 0;
  /** Once a second: offer countdowns; every 30 s: the relative times. */
  function tick() {
    document.querySelectorAll(".countdown[data-deadline]").forEach((n) => {
      const text = countdown(n.dataset.deadline);
      n.textContent = text;
      n.classList.toggle("is-urgent", text === "expired" || (toDate(n.dataset.deadline) - Date.now()) < 15000);
    });
    if (++ticks % 30 === 0) {
      document.querySelectorAll("time[data-ts]").forEach((n) => { n.textContent = relative(n.dataset.ts); });
    }
  }

  document.querySelectorAll(".dlist-toggle").forEach((btn) => {
    btn.addEventListener("click", () => {
      const section = btn.closest(".dlist");
      const collapsed = section.classList.toggle("is-collapsed");
      btn.setAttribute("aria-expanded", collapsed ? "false" : "true");
    });
  });

  // ================================================================ the selected dialog

  function showNoDialog() {
    $("dialog-view").hidden = true;
    $("no-dialog").hidden = false;
    $("thread").replaceChildren();
  }

  async function selectDialog(id) {
    const seq = ++state.selectSeq;
    state.selectedId = id;
    state.fresh.delete(id);
    state.unread.delete(id);
    state.selected = state.dialogs.get(id) || { id };
    renderLists();
    $("no-dialog").hidden = true;
    $("dialog-view").hidden = false;
    renderHeader();
    $("thread").replaceChildren(h("p", { class: "thread-loading", text: "Loading…" }));
    state.threadLoading = true;
    state.threadBuffer = [];
    if (state.selected.lead && state.selected.lead.id) loadLead(state.selected.lead.id);
    try {
      const [d, res] = await Promise.all([
        api("GET", `/api/dialogs/${encodeURIComponent(id)}`),
        api("GET", `/api/dialogs/${encodeURIComponent(id)}/messages`),
      ]);
      if (seq !== state.selectSeq) return;
      state.selected = d;
      if (state.dialogs.has(id)) state.dialogs.set(id, { ...state.dialogs.get(id), ...d });
      renderHeader();
      renderThread(res.messages || []);
      if (d.lead && d.lead.id && (!state.lead || state.lead.id !== d.lead.id)) loadLead(d.lead.id);
      if (window.matchMedia("(max-width: 900px)").matches) $("dialog-view").scrollIntoView({ block: "start" });
    } catch (e) {
      if (seq !== state.selectSeq) return;
      state.threadLoading = false;
      $("thread").replaceChildren(h("p", { class: "thread-loading", text: `Could not load the dialog: ${e.message}` }));
    }
  }

  /** Fetch the selected dialog's current state again (after a withdraw, or a reconnect). */
  async function reloadSelected() {
    const id = state.selectedId;
    if (!id) return;
    try {
      const d = await api("GET", `/api/dialogs/${encodeURIComponent(id)}`);
      if (id !== state.selectedId) return;
      state.selected = d;
      renderHeader();
      // Messages may have arrived while the socket was down: redraw the thread from the server's copy.
      const res = await api("GET", `/api/dialogs/${encodeURIComponent(id)}/messages`);
      if (id === state.selectedId && !state.threadLoading) {
        const thread = $("thread");
        const stick = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 120;
        const keep = thread.scrollTop;
        renderThread(res.messages || []);
        if (!stick) thread.scrollTop = keep;
      }
    } catch (e) {
      // Not ours to see any more (403/404): leave the thread on screen but offer no actions.
      if (id === state.selectedId && (e.status === 403 || e.status === 404)) {
        state.selected = { ...state.selected, state: "unavailable" };
        renderHeader();
      }
    }
  }

  function renderHeader() {
    const d = state.selected;
    if (!d) return;
    const me = myLogin();
    $("dlg-customer").textContent = d.customer_name || (d.lead && d.lead.name) || "Customer";
    $("dlg-line").textContent = d.line_name || d.line_id || "";
    $("dlg-channel").textContent = d.channel || "";
    const st = $("dlg-state");
    st.textContent = d.state || "";
    st.dataset.state = d.state || "";
    $("dlg-operator").textContent = d.operator ? `with ${operatorName(d.operator)}` : "";

    const offeredToMe = state.lists.offered.has(d.id) || (d.state === "offered" && (d.offered_to || []).includes(me));
    const open = d.state !== "closed" && d.state !== "unavailable";
    $("btn-take").hidden = !(offeredToMe || d.state === "queued");
    $("btn-skip").hidden = !offeredToMe;
    $("transfer-box").hidden = !open;
    $("btn-close").hidden = !open;
    const canReply = open;
    $("reply-text").disabled = !canReply;
    $("reply-send").disabled = !canReply;
    $("reply-internal").disabled = !canReply;
    $("reply-hint").textContent = d.state === "closed" ? "This dialog is closed."
      : offeredToMe ? "Answering takes the dialog." : "";
  }

  function operatorName(login) {
    const op = state.meta.operators.find((o) => o.login === login);
    return (op && op.name) || login;
  }

  function findMessage(id) {
    return id ? $("thread").querySelector(`[data-msg="${CSS.escape(id)}"]`) : null;
  }
  function findPending(cid) {
    return cid ? $("thread").querySelector(`[data-client-msg-id="${CSS.escape(cid)}"]`) : null;
  }

  function renderThread(messages) {
    const thread = $("thread");
    thread.replaceChildren();
    messages.forEach((m) => { if (!findMessage(m.id)) thread.appendChild(renderMessage(m)); });
    state.threadLoading = false;
    state.threadBuffer.splice(0).forEach(appendMessage);
    // Replies still waiting for their ack stay visible when the operator comes back to this dialog.
    for (const [cid, frame] of state.pendingReplies) {
      if (frame.dialog_id === state.selectedId) thread.appendChild(renderPendingReply(cid, frame));
    }
    if (!thread.children.length) thread.appendChild(h("p", { class: "thread-loading", text: "No messages yet." }));
    thread.scrollTop = thread.scrollHeight;
  }

  function appendMessage(m) {
    if (!m || !m.id || findMessage(m.id)) return;
    const thread = $("thread");
    thread.querySelectorAll(".thread-loading").forEach((n) => n.remove());
    const stick = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 120;
    thread.appendChild(renderMessage(m));
    if (stick) thread.scrollTop = thread.scrollHeight;
  }

  const KIND_LABEL = { customer: "Customer", operator: "Operator", bot: "Bot", system: "System" };

  /** One message of the thread; `extra` adds pending/failed markers for our own replies. */
  function renderMessage(m, extra) {
    const author = m.author || {};
    const kind = KIND_LABEL[author.kind] ? author.kind : "system";
    const internal = m.visibility === "internal";
    const mine = kind === "operator" && author.id && author.id === myLogin();
    const node = h("div", {
      class: `msg k-${kind}` + (mine ? " is-mine" : "") + (internal ? " is-internal" : ""),
      "data-msg": m.id || null,
      "data-author-kind": kind,
      "data-visibility": internal ? "internal" : "public",
      ...(extra || {}),
    });
    const who = author.name || author.id || KIND_LABEL[kind];
    node.appendChild(h("div", { class: "m-meta" },
      kind === "system" ? null : h("span", { class: "m-author", text: who }),
      internal ? h("span", { class: "m-note", text: "internal note" }) : null,
      m.edited_at ? h("span", { class: "m-edited", text: "edited",
        title: (m.edits || []).map((x) => `before: ${x.text}`).join("\n") }) : null,
      h("span", { class: "m-time", text: clock(m.ts) })));
    node.appendChild(h("div", { class: "m-text", text: m.text ?? "" }));
    const files = Array.isArray(m.attachments) ? m.attachments : [];
    if (files.length) {
      node.appendChild(h("ul", { class: "m-files" }, files.map((a) => {
        const label = (a && (a.name || a.filename || a.type)) || "attachment";
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
    const label = { queued: "sending…", sent: "sent", failed: "not delivered" }[deliveryState] || deliveryState;
    node.querySelector(".m-state").textContent = deliveryState === "failed" && error ? `${label}: ${error}` : label;
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

  function renderPendingReply(cid, frame) {
    const me = state.me || {};
    const node = renderMessage({
      author: { kind: "operator", id: me.login, name: me.name || me.login },
      text: frame.text, ts: new Date().toISOString(), visibility: frame.visibility || "public",
    }, { "data-pending": "1", "data-client-msg-id": cid });
    node.querySelector(".m-state").textContent = "sending…";
    return node;
  }

  // ---- actions

  function dialogCommand(type, extra) {
    if (!state.selectedId) return;
    sendFrame({ type, dialog_id: state.selectedId, ...(extra || {}) });
  }
  $("btn-take").addEventListener("click", () => dialogCommand("take"));
  $("btn-skip").addEventListener("click", () => dialogCommand("skip"));
  $("btn-close").addEventListener("click", () => dialogCommand("close"));
  $("btn-transfer").addEventListener("click", () => {
    const v = $("transfer-target").value;
    if (!v) { toast("Choose an operator or a line to transfer to."); $("transfer-target").focus(); return; }
    const [kind, ...rest] = v.split(":");
    const target = rest.join(":"); // ids may contain ':'
    dialogCommand("transfer", kind === "op" ? { to_operator: target } : { to_line: target });
    $("transfer-target").value = "";
  });

  function renderTransferTargets() {
    const sel = $("transfer-target");
    const keep = sel.value;
    const ops = state.meta.operators.filter((o) => o.login !== myLogin());
    sel.replaceChildren(
      h("option", { value: "", text: "Transfer to…" }),
      h("optgroup", { label: "Operators" }, ops.map((o) =>
        h("option", { value: `op:${o.login}`, text: o.presence ? `${o.name || o.login} (${o.presence})` : (o.name || o.login) }))),
      h("optgroup", { label: "Lines" }, state.meta.lines.map((l) =>
        h("option", { value: `line:${l.id}`, text: l.name || l.id }))),
    );
    sel.value = keep;
    if (sel.value !== keep) sel.value = "";
  }

  // ---- reply box

  /** Files uploaded for the next reply (as the upload answered them). */
  let replyFiles = [];

  function renderReplyFiles() {
    $("reply-files").replaceChildren(...replyFiles.map((f, i) =>
      h("span", { class: "chip", "data-file": f.ref },
        h("span", { text: f.name }),
        h("button", { type: "button", class: "chip-x", "aria-label": `Remove ${f.name}`, text: "×",
          onclick: () => { replyFiles.splice(i, 1); renderReplyFiles(); } }))));
  }

  $("reply-file").addEventListener("change", async (e) => {
    const input = e.target;
    const file = input.files && input.files[0];
    input.value = "";
    if (!file || !state.selectedId) return;
    const form = new FormData();
    form.append("file", file, file.name);
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      const res = await fetch(`/api/dialogs/${encodeURIComponent(state.selectedId)}/attachments`,
        { method: "POST", body: form, headers, credentials: "same-origin" });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) { toast(data.message || "Upload failed", "upload"); return; }
      replyFiles.push(data);
      renderReplyFiles();
    } catch { toast("Cannot reach the server", "upload"); }
  });

  function sendReply() {
    const id = state.selectedId;
    const box = $("reply-text");
    const text = box.value;
    if (!id || (!text.trim() && !replyFiles.length) || box.disabled) return;
    const cid = uuid();
    const frame = { type: "reply", dialog_id: id, client_msg_id: cid, text };
    if (replyFiles.length) { frame.attachments = replyFiles; replyFiles = []; renderReplyFiles(); }
    if ($("reply-internal").checked) frame.visibility = "internal";
    state.pendingReplies.set(cid, frame);
    const thread = $("thread");
    thread.querySelectorAll(".thread-loading").forEach((n) => n.remove());
    thread.appendChild(renderPendingReply(cid, frame));
    thread.scrollTop = thread.scrollHeight;
    box.value = "";
    // Not connected: it stays pending and goes out after the next hello (same client_msg_id, so no duplicates).
    sendFrame(frame, true);
    if (!state.wsReady) toast("Not connected — the reply will be sent when the connection is back.", "offline");
  }

  $("reply-form").addEventListener("submit", (e) => { e.preventDefault(); sendReply(); $("reply-text").focus(); });
  $("reply-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendReply(); }
  });
  $("reply-internal").addEventListener("change", () => {
    const internal = $("reply-internal").checked;
    $("reply-form").classList.toggle("is-internal", internal);
    $("reply-text").placeholder = internal
      ? "Internal note — only operators see it" : "Reply… (Enter sends, Shift+Enter for a new line)";
  });

  // ================================================================ presence

  function setPresence(status) {
    const b = $("presence");
    b.dataset.status = status || "offline";
    b.textContent = status === "online" ? "Online" : status === "away" ? "Away" : "Offline";
    b.setAttribute("aria-pressed", status === "online" ? "true" : "false");
  }
  $("presence").addEventListener("click", () => {
    const next = $("presence").dataset.status === "online" ? "away" : "online";
    if (sendFrame({ type: "presence", status: next })) setPresence(next); // the server's presence frame confirms
  });

  // ================================================================ lead panel

  function showLead(lead) {
    state.lead = lead;
    $("lead-empty").hidden = !!lead;
    $("lead-form").hidden = !lead;
    $("lead-saved").textContent = "";
    if (lead) renderLead(lead);
  }

  async function loadLead(id) {
    const seq = ++state.leadSeq;
    try {
      const lead = await api("GET", `/api/leads/${encodeURIComponent(id)}`);
      if (seq === state.leadSeq) showLead(lead);
    } catch (e) {
      if (seq === state.leadSeq && e.status !== 401) toast(`Could not load the lead: ${e.message}`, e.code);
    }
  }

  function fillSelect(sel, options, value) {
    sel.replaceChildren(...options.map(([v, label]) => h("option", { value: v, text: label })));
    sel.value = value;
  }

  function renderLead(lead) {
    $("lead-name").value = lead.name || "";
    $("lead-phone").value = lead.phone || "";
    $("lead-email").value = lead.email || "";
    const statuses = [...state.meta.statuses];
    if (lead.status && !statuses.includes(lead.status)) statuses.unshift(lead.status);
    fillSelect($("lead-status"), statuses.map((s) => [s, s]), lead.status || "");
    const ops = state.meta.operators.map((o) => [o.login, o.name || o.login]);
    if (lead.responsible && !ops.some(([l]) => l === lead.responsible)) ops.push([lead.responsible, lead.responsible]);
    fillSelect($("lead-responsible"), [["", "Nobody"], ...ops], lead.responsible || "");

    const ids = Array.isArray(lead.identities) ? lead.identities : [];
    $("lead-identities").replaceChildren(...(ids.length ? ids.map((i) => h("li", {},
      h("span", { class: "chip", text: i.channel || "" }),
      h("span", { class: "ident-name", text: i.display_name || i.external_id || "" }),
      h("span", { class: "ident-sub", text: [i.account, i.external_id].filter(Boolean).join(" · ") }),
    )) : [h("li", { class: "muted", text: "None" })]));

    const dialogs = (Array.isArray(lead.dialogs) ? lead.dialogs : []).filter((d) => d.id !== state.selectedId);
    $("lead-dialogs").replaceChildren(...(dialogs.length
      ? dialogs.map(renderLeadDialog) : [h("li", { class: "muted", text: "No previous dialogs" })]));
  }

  function renderLeadDialog(d) {
    const transcript = Array.isArray(d.transcript) ? d.transcript : [];
    const when = clock(d.created_at);
    const summary = h("summary", {},
      h("span", { class: "ld-when", text: when }),
      h("span", { class: "ld-line", text: [d.line_name || d.line_id, d.channel].filter(Boolean).join(" · ") }),
      h("span", { class: "state-badge", "data-state": d.state || "", text: d.state || "" }),
      h("span", { class: "ld-count", text: `${transcript.length} msg` }));
    const body = h("div", { class: "transcript" }, transcript.length ? transcript.map((m) => {
      const a = m.author || {};
      const internal = m.visibility === "internal";
      return h("div", {
        class: "t-msg" + (internal ? " is-internal" : ""),
        "data-author-kind": a.kind || "system", "data-visibility": internal ? "internal" : "public",
      },
      h("div", { class: "t-meta", text: `${clock(m.ts)} ${a.name || a.id || a.kind || ""}${internal ? " (internal note)" : ""}` }),
      h("div", { class: "t-text", text: m.text ?? "" }));
    }) : [h("p", { class: "muted", text: "Empty dialog" })]);
    return h("li", { "data-dialog-id": d.id }, h("details", {}, summary, body));
  }

  ["lead-name", "lead-phone", "lead-email", "lead-status", "lead-responsible"].forEach((id) =>
    $(id).addEventListener("input", () => { $("lead-saved").textContent = ""; }));

  $("lead-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const lead = state.lead;
    if (!lead) return;
    const current = {
      name: $("lead-name").value.trim(),
      phone: $("lead-phone").value.trim(),
      email: $("lead-email").value.trim(),
      status: $("lead-status").value,
      responsible: $("lead-responsible").value || null,
    };
    // Send only what changed; an untouched empty field (null on the server) must not become "".
    const patch = {};
    for (const [k, v] of Object.entries(current)) if ((lead[k] ?? "") !== (v ?? "")) patch[k] = v;
    const saved = $("lead-saved");
    saved.dataset.state = "";
    if (!Object.keys(patch).length) { saved.textContent = "No changes to save"; return; }
    $("lead-save").disabled = true;
    saved.textContent = "Saving…";
    try {
      const updated = await api("PATCH", `/api/leads/${encodeURIComponent(lead.id)}`, patch);
      if (!state.lead || state.lead.id !== lead.id) return;
      // PATCH answers with the lead; keep identities/dialogs if it left them out.
      state.lead = { ...lead, ...updated, identities: updated.identities || lead.identities, dialogs: updated.dialogs || lead.dialogs };
      renderLead(state.lead);
      saved.dataset.state = "ok";
      saved.textContent = `Changes saved ${clock(new Date().toISOString())}`;
      syncLeadIntoDialogs(state.lead);
    } catch (ex) {
      saved.dataset.state = "error";
      saved.textContent = ex.message;
      if (ex.status !== 401) toast(ex.message, ex.code);
    } finally {
      $("lead-save").disabled = false;
    }
  });

  /** Dialog summaries embed the lead's name and status: keep them in step after an edit. */
  function syncLeadIntoDialogs(lead) {
    for (const d of state.dialogs.values()) {
      if (d.lead && d.lead.id === lead.id) d.lead = { ...d.lead, name: lead.name, status: lead.status };
    }
    if (state.selected && state.selected.lead && state.selected.lead.id === lead.id) {
      state.selected.lead = { ...state.selected.lead, name: lead.name, status: lead.status };
    }
    renderLists();
  }

  // ---- lead search

  let searchTimer = null;
  let searchSeq = 0;
  async function searchLeads() {
    const q = $("lead-search").value.trim();
    const box = $("lead-search-results");
    const seq = ++searchSeq;
    if (!q) { box.hidden = true; box.replaceChildren(); return; }
    try {
      const res = await api("GET", `/api/leads?query=${encodeURIComponent(q)}`);
      if (seq !== searchSeq) return;
      const leads = res.leads || [];
      box.replaceChildren(...(leads.length ? leads.map((l) => h("li", {
        class: "result", "data-lead-id": l.id, tabindex: "0", role: "button",
        onclick: () => openLeadFromSearch(l.id),
        onkeydown: (e) => { if (e.key === "Enter") openLeadFromSearch(l.id); },
      },
      h("span", { class: "result-name", text: l.name || "(no name)" }),
      h("span", { class: "result-sub", text: [l.phone, l.email, l.status].filter(Boolean).join(" · ") }),
      )) : [h("li", { class: "muted", text: "No leads found" })]));
      box.hidden = false;
    } catch (e) {
      if (seq === searchSeq && e.status !== 401) toast(`Search failed: ${e.message}`, e.code);
    }
  }
  function openLeadFromSearch(id) {
    loadLead(id);
    if (window.matchMedia("(max-width: 900px)").matches) $("lead").scrollIntoView({ block: "start" });
  }
  $("lead-search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(searchLeads, 250); });
  $("lead-search").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); clearTimeout(searchTimer); searchLeads(); }
    if (e.key === "Escape") { $("lead-search").value = ""; searchLeads(); }
  });

  // ================================================================ boot

  (async () => {
    try {
      startApp(await api("GET", "/api/me"));
    } catch (e) {
      if (e.status === 401) sessionStorage.removeItem(TOKEN_KEY);
      showLogin(e.status === 401 ? "" : e.message);
    }
  })();
})();
