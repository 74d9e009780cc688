/* The supervisor's board (admins only): each operator's load, each line's queue, and the dialogs waiting longest
   (GET /api/admin/board), refreshed on the dialog.* frames and every 15 s while it is on screen. */

import { api } from "./api.js";
import { selectDialog } from "./dialog.js";
import { $, h } from "./dom.js";
import { clock } from "./format.js";
import { onLanguage, t } from "./i18n.js";
import { onFrame, sendFrame } from "./socket.js";
import { isAdmin, myLogin, operatorName, state, subscribe } from "./store.js";

const EVERY_MS = 15000;
const DEBOUNCE_MS = 1000; // a busy admin hears many dialog.* frames: one fetch for a burst of them

let board = null; // the last answer
let timer = null;
let soon = null;
let seq = 0;

const isOpen = () => !$("board-view").hidden;

/** "45 s", "3 min", "2 h 5 min"; "—" when nobody is waiting. */
export function waitText(seconds) {
  if (typeof seconds !== "number" || seconds < 0) return t("board.wait.none");
  if (seconds < 60) return t("board.wait.sec", { n: Math.floor(seconds) });
  if (seconds < 3600) return t("board.wait.min", { n: Math.floor(seconds / 60) });
  return t("board.wait.hours", { h: Math.floor(seconds / 3600), m: Math.floor((seconds % 3600) / 60) });
}

function lineName(id) {
  const l = ((board && board.lines) || []).find((x) => x.id === id) || state.meta.lines.find((x) => x.id === id);
  return (l && l.name) || id || "";
}

/** Show the entry to admins only (GET /api/me's role). */
export function renderBoardEntry() {
  $("board-open").hidden = !isAdmin();
  if (!isAdmin() && isOpen()) closeBoard();
}

export function openBoard() {
  if (!isAdmin()) return;
  $("layout").hidden = true;
  $("board-view").hidden = false;
  $("board-open").setAttribute("aria-pressed", "true");
  refresh();
  loadPages();
  clearInterval(timer);
  timer = setInterval(refresh, EVERY_MS);
  $("board-heading").focus();
}

export function closeBoard() {
  clearInterval(timer);
  clearTimeout(soon);
  timer = null;
  $("board-view").hidden = true;
  $("layout").hidden = false;
  $("board-open").setAttribute("aria-pressed", "false");
}

async function refresh() {
  if (!state.running || !isOpen()) return;
  const mine = ++seq;
  try {
    const data = await api("GET", "/api/admin/board");
    if (mine !== seq || !isOpen()) return;
    board = data;
    $("board-error").textContent = "";
    $("board-updated").textContent = t("board.updated", { time: clock(new Date().toISOString()) });
    render();
  } catch (e) {
    if (mine === seq && e.status !== 401) $("board-error").textContent = t("board.failed", { message: e.message });
  }
}

// ---- the lines' public chat pages: a link to share and a QR code to print (GET /api/admin/chat-pages)

let pageUrls = []; // object URLs of the QR codes shown, freed when they are drawn again

async function loadPages() {
  try {
    const data = await api("GET", "/api/admin/chat-pages");
    if (isOpen()) renderPages(data.pages || []);
  } catch (e) {
    if (e.status !== 401) $("board-pages").replaceChildren(h("p", { class: "board-error", text: t("board.failed", { message: e.message }) }));
  }
}

function renderPages(pages) {
  pageUrls.forEach((u) => URL.revokeObjectURL(u));
  pageUrls = [];
  const cards = pages.map((p) => {
    // the SVG is the server's own drawing, shown as an image (an <img> runs nothing in it)
    const qr = URL.createObjectURL(new Blob([String(p.qr_svg || "")], { type: "image/svg+xml" }));
    pageUrls.push(qr);
    const copied = h("span", { class: "page-copied", role: "status" });
    const copy = h("button", { type: "button", class: "btn btn-small", "data-action": "copy-link", text: t("board.copy_link"),
      onclick: async () => {
        try { await navigator.clipboard.writeText(p.url); copied.textContent = t("board.copied"); }
        catch { copied.textContent = t("board.copy_failed"); }
        setTimeout(() => { copied.textContent = ""; }, 3000);
      } });
    return h("div", { class: "page-card", "data-page-line": p.line },
      h("img", { class: "page-qr", src: qr, alt: t("board.qr_alt", { url: p.url }), width: "132", height: "132" }),
      h("div", { class: "page-info" },
        h("div", { class: "page-name", text: p.name || p.line }),
        h("a", { class: "page-url", href: p.url, target: "_blank", rel: "noopener noreferrer", text: p.url }),
        h("div", { class: "page-actions" }, copy,
          h("a", { class: "btn btn-small", href: qr, download: `chat-${p.line}-qr.svg`, text: t("board.download_qr") }),
          copied)));
  });
  $("board-pages").replaceChildren(
    h("h2", { class: "board-caption", text: t("board.pages") }),
    h("p", { class: "muted page-hint", text: t("board.pages_hint") }),
    cards.length ? h("div", { class: "page-cards" }, ...cards) : h("p", { class: "muted page-hint", text: t("board.no_pages") }));
}

function table(caption, heads, rows, empty) {
  return h("table", { class: "board-table" },
    h("caption", { text: caption }),
    // a heading that ends in "#" heads a column of numbers (right-aligned, like its cells)
    h("thead", {}, h("tr", {}, heads.map((x) => h("th", { scope: "col", class: x.endsWith("#") ? "num" : null,
      text: x.endsWith("#") ? x.slice(0, -1) : x })))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: String(heads.length), class: "muted", text: empty }))));
}

/** "5 of 7": the ratings of the last day that were good ones (a like, 4 or 5 of five); "—" before any. */
function positiveText(recent) {
  return recent && recent.rated ? t("board.positive", { good: recent.positive, rated: recent.rated }) : t("board.wait.none");
}

/** A line's average rating of the last day on its own scale: "4.3 of 5 (12)", "75% 👍 (12)"; "—" before any. */
function ratingText(l) {
  const rated = (l.recent && l.recent.rated) || 0;
  if (!rated || typeof l.rating_average !== "number") return t("board.wait.none");
  return l.rating_scale === "five"
    ? t("board.rating.five", { avg: l.rating_average.toFixed(1), n: rated })
    : t("board.rating.like", { pct: Math.round(l.rating_average * 100), n: rated });
}

function loadBar(o) {
  const open = Number(o.open_dialogs) || 0;
  const cap = Number(o.capacity) || 0;
  const pct = cap > 0 ? Math.min(100, Math.round((open / cap) * 100)) : 0;
  const bar = h("span", { class: "load-fill" + (cap > 0 && open >= cap ? " is-full" : "") });
  bar.style.width = `${pct}%`; // CSSOM, not an inline style attribute: the CSP allows it
  return h("div", { class: "load" },
    h("span", { class: "load-bar", role: "meter", "aria-valuemin": "0", "aria-valuemax": String(cap),
      "aria-valuenow": String(open), "aria-label": t("board.load", { open, capacity: cap }) }, bar),
    h("span", { class: "load-text", text: t("board.load", { open, capacity: cap || "—" }) }));
}

function render() {
  if (!board) return;
  const ops = board.operators || [];
  const lines = board.lines || [];
  const dialogs = board.dialogs || [];
  $("board-operators").replaceChildren(table(t("board.operators"),
    [t("board.col.operator"), `${t("board.col.load")}#`, `${t("board.col.offers")}#`, `${t("board.col.wait")}#`,
      `${t("board.col.closed")}#`, `${t("board.col.positive")}#`],
    ops.map((o) => h("tr", { "data-operator": o.login },
      h("td", {}, h("span", { class: "presence-dot", "data-status": o.presence || "offline", title: t(`presence.${o.presence || "offline"}`) }),
        h("span", { class: "sr-only", text: `${t(`presence.${o.presence || "offline"}`)}: ` }),
        h("span", { text: o.name || o.login })),
      h("td", {}, loadBar(o)),
      h("td", { class: "num", text: String(o.offers ?? 0) }),
      h("td", { class: "num", text: waitText(o.longest_wait_seconds) }),
      h("td", { class: "num", "data-figure": "closed", text: String((o.recent && o.recent.closed) ?? 0) }),
      h("td", { class: "num", "data-figure": "positive", text: positiveText(o.recent) }))),
    t("board.no_operators")));
  $("board-lines").replaceChildren(table(t("board.lines"),
    [t("board.col.line"), `${t("board.col.queued")}#`, `${t("board.col.offered")}#`, `${t("board.col.assigned")}#`,
      `${t("board.col.wait")}#`, `${t("board.col.closed")}#`, `${t("board.col.rating")}#`],
    lines.map((l) => h("tr", { "data-line": l.id },
      h("td", { text: l.name || l.id }),
      h("td", { class: "num", "data-figure": "queued", text: String(l.queued ?? 0) }),
      h("td", { class: "num", text: String(l.offered ?? 0) }),
      h("td", { class: "num", text: String(l.assigned ?? 0) }),
      h("td", { class: "num", text: waitText(l.longest_wait_seconds) }),
      h("td", { class: "num", "data-figure": "closed", text: String((l.recent && l.recent.closed) ?? 0) }),
      h("td", { class: "num", "data-figure": "rating", text: ratingText(l) }))),
    ""));
  $("board-dialogs").replaceChildren(table(t("board.dialogs"),
    [t("board.col.customer"), t("board.col.line"), t("board.col.state"), t("board.col.operator"), `${t("board.col.wait")}#`,
      t("board.col.actions")],
    dialogs.map((d) => h("tr", { "data-dialog-id": d.id, class: "board-dialog" },
      h("td", {}, h("button", { type: "button", class: "linkish", text: d.customer_name || t("dialog.customer"),
        onclick: () => { closeBoard(); selectDialog(d.id); } })),
      h("td", { text: lineName(d.line_id) }),
      h("td", {}, h("span", { class: "state-badge", "data-state": d.state || "", text: t(`state.${d.state}`) })),
      h("td", { text: d.operator
        ? ((d.invited || []).length ? t("board.with_guests", { name: operatorName(d.operator), guests: d.invited.map(operatorName).join(", ") })
          : operatorName(d.operator))
        : (d.offered_to || []).length ? t("item.offered_to", { names: d.offered_to.map(operatorName).join(", ") }) : "" }),
      h("td", { class: "num" + (typeof d.waiting_seconds === "number" ? " is-waiting" : ""), text: waitText(d.waiting_seconds) }),
      h("td", { class: "board-actions" }, actions(d)))),
    t("board.no_dialogs")),
  ...(board.queued_not_listed > 0
    ? [h("p", { class: "muted board-more", "data-figure": "queued-not-listed",
      text: t("board.more_queued", { n: board.queued_not_listed }) })]
    : []));
}

/** What a supervisor does with a dialog from the board: watch it (read along; the operator is not told and cannot
 * remove them), take it over (the usual `take`, which an admin may send for any open dialog), or transfer it (the
 * dialog opens with its transfer menu focused). */
function actions(d) {
  const open = (then) => { closeBoard(); selectDialog(d.id).then(then, () => {}); };
  const who = d.customer_name || t("dialog.customer");
  return [
    h("button", { type: "button", class: "btn btn-small", "data-action": "watch", text: t("board.watch"),
      "aria-label": t("board.watch_label", { name: who }), onclick: () => open(() => {}) }),
    d.operator === myLogin() ? null : h("button", { type: "button", class: "btn btn-small", "data-action": "takeover",
      text: d.operator ? t("board.take_over") : t("dialog.take"), "aria-label": t("board.take_over_label", { name: who }),
      // the take after the dialog is loaded: its dialog.assigned frame then updates what was loaded, never the
      // other way round (a load that raced the take could show the old operator)
      onclick: () => open(() => sendFrame({ type: "take", dialog_id: d.id })) }),
    h("button", { type: "button", class: "btn btn-small", "data-action": "transfer", text: t("dialog.transfer"),
      "aria-label": t("board.transfer_label", { name: who }), onclick: () => open(() => $("transfer-target").focus()) }),
  ];
}

function soonRefresh() {
  if (!isOpen()) return;
  clearTimeout(soon);
  soon = setTimeout(refresh, DEBOUNCE_MS);
}

for (const type of ["dialog.offered", "dialog.assigned", "dialog.withdrawn", "dialog.queued", "dialog.transferred",
  "dialog.closed", "dialog.rated", "dialog.invited", "dialog.left"]) {
  onFrame(type, soonRefresh);
}
$("board-open").addEventListener("click", () => (isOpen() ? closeBoard() : openBoard()));
$("board-back").addEventListener("click", closeBoard);
$("board-refresh").addEventListener("click", refresh);
subscribe("me", renderBoardEntry);
subscribe("resync", soonRefresh);
onLanguage(() => { render(); });
