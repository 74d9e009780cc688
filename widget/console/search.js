/*
 * Message search at the top of the sidebar (GET /api/search): full text in any script, narrowed by line, channel,
 * operator (admins), state and dates; the results take the dialog lists' place until the search is closed, a page
 * at a time. Picking a result opens its dialog with the thread at that message.
 */

import { api } from "./api.js";
import { selectDialog } from "./dialog.js";
import { $, h } from "./dom.js";
import { errorText, language, onLanguage, t } from "./i18n.js";
import { dialogName, isAdmin, operatorName, state } from "./store.js";
import { showMessageWhenOpen } from "./thread.js";

const DEBOUNCE_MS = 350;
const PAGE = 20;
const SNIPPET_CHARS = 220; // a long message shows a window around its first match
const SNIPPET_LEAD = 60; // of which this much comes before the match
const STATES = ["open", "queued", "offered", "assigned", "closed"];
const CHANNELS = ["widget", "telegram", "vk", "email", "form"]; // connectors/__init__.py's REGISTRY

let timer = null;
let seq = 0; // only the latest search's answer is shown
let results = []; // [{message, dialog}] shown so far
let next = null; // the cursor of the next page
let query = ""; // the query the results are for
let phase = "idle"; // idle | searching | done | failed
let failure = "";
let busyMore = false;
let openKey = null; // the result last opened (dialog id + message id)

// ---- matching: the words of the query, found in a message as the server compares text (case and accents folded)

const MARKS = /\p{M}/gu;
const foldChar = (ch) => ch.normalize("NFKD").replace(MARKS, "").toLowerCase();

/** The query's words, folded (ё = е, case ignored); one-letter words only when there is nothing longer. */
export function queryTerms(q) {
  const words = [...new Set(foldChar(String(q || "")).match(/[\p{L}\p{N}]+/gu) || [])];
  const long = words.filter((w) => [...w].length > 1);
  return long.length ? long : words;
}

/** [start, end) ranges of `text` (code units) where any of `terms` occurs, merged, in order. */
export function matchRanges(text, terms) {
  let folded = "";
  const at = []; // folded index -> the index in `text` of the character it came from
  let i = 0;
  for (const ch of text) {
    const f = foldChar(ch);
    for (let k = 0; k < f.length; k++) at.push(i);
    folded += f;
    i += ch.length;
  }
  at.push(text.length);
  const found = [];
  for (const term of terms) {
    if (!term) continue;
    for (let p = folded.indexOf(term); p !== -1; p = folded.indexOf(term, p + term.length)) {
      const last = at[p + term.length - 1];
      found.push([at[p], last + (text.codePointAt(last) > 0xffff ? 2 : 1)]);
    }
  }
  found.sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const r of found) {
    const prev = merged[merged.length - 1];
    if (prev && r[0] <= prev[1]) prev[1] = Math.max(prev[1], r[1]); else merged.push([...r]);
  }
  return merged;
}

/** The message's text as nodes: text nodes, with <mark> around the matched words (never parsed as HTML). */
function snippet(text, terms) {
  const ranges = matchRanges(text, terms);
  let from = 0;
  let to = text.length;
  if (text.length > SNIPPET_CHARS) {
    from = Math.max(0, (ranges.length ? ranges[0][0] : 0) - SNIPPET_LEAD);
    if (from && /[\udc00-\udfff]/.test(text[from])) from += 1; // never split a surrogate pair
    to = Math.min(text.length, from + SNIPPET_CHARS);
    if (to < text.length && /[\udc00-\udfff]/.test(text[to])) to += 1;
  }
  const nodes = [];
  if (from > 0) nodes.push("…");
  let pos = from;
  for (const [a, b] of ranges) {
    const s = Math.max(a, from);
    const e = Math.min(b, to);
    if (e <= s) continue;
    if (s > pos) nodes.push(text.slice(pos, s));
    nodes.push(h("mark", { text: text.slice(s, e) }));
    pos = e;
  }
  if (pos < to) nodes.push(text.slice(pos, to));
  if (to < text.length) nodes.push("…");
  return nodes;
}

// ---- the search box, its filters, the results

const root = $("msearch");
const input = h("input", {
  id: "msearch-q", type: "search", autocomplete: "off", enterkeyhint: "search", "aria-controls": "msearch-panel",
});
const filterToggle = h("button", {
  type: "button", id: "msearch-filter-toggle", class: "btn msearch-filter-toggle", "aria-expanded": "false",
  "aria-controls": "msearch-filters",
});
const filterIcon = () => h("span", { class: "msearch-filter-icon", "aria-hidden": "true" });
const filterCount = h("span", { class: "msearch-filter-count", hidden: true });
const closeBtn = h("button", { type: "button", id: "msearch-close", class: "btn btn-ghost msearch-close", hidden: true, text: "×" });

const field = (name, control) => h("label", { class: "msearch-field", "data-filter": name },
  h("span", { class: "msearch-field-name" }), control);
const controls = {
  line: h("select", { id: "msearch-line" }),
  channel: h("select", { id: "msearch-channel" }),
  operator: h("select", { id: "msearch-operator" }),
  state: h("select", { id: "msearch-state" }),
  since: h("input", { id: "msearch-since", type: "date" }),
  until: h("input", { id: "msearch-until", type: "date" }),
};
const resetBtn = h("button", { type: "button", id: "msearch-reset", class: "btn btn-ghost msearch-reset" });
const filters = h("div", { id: "msearch-filters", class: "msearch-filters", hidden: true },
  ...Object.entries(controls).map(([name, c]) => field(name, c)), resetBtn);
const status = h("p", { id: "msearch-status", class: "msearch-status", role: "status" });
const list = h("ul", { id: "msearch-results", class: "msearch-results" });
const more = h("button", { type: "button", id: "msearch-more", class: "btn msearch-more", hidden: true });
const panel = h("div", { id: "msearch-panel", class: "msearch-panel", hidden: true }, filters, status, list, more);

root.append(h("div", { class: "msearch-bar" }, input, filterToggle, closeBtn), panel);

const isOpen = () => !panel.hidden;

/** The filters as the API takes them (only those set). */
function filterParams() {
  const p = {};
  for (const name of ["line", "channel", "operator", "state"]) {
    if (controls[name].value && !(name === "operator" && !isAdmin())) p[name] = controls[name].value;
  }
  // a date means that whole local day: from its first moment, until the first moment of the next
  const day = (v, plus) => {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v || "");
    return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + plus).toISOString() : null;
  };
  if (day(controls.since.value, 0)) p.since = day(controls.since.value, 0);
  if (day(controls.until.value, 1)) p.until = day(controls.until.value, 1);
  return p;
}

function option(value, text) { return h("option", { value, text }); }

/** Refill the filters' menus from what the console knows (GET /api/meta, the dialogs seen), keeping the choices. */
function fillFilters() {
  const keep = Object.fromEntries(Object.entries(controls).map(([k, c]) => [k, c.value]));
  const mine = (state.me && state.me.lines) || null;
  const lines = state.meta.lines.filter((l) => isAdmin() || !Array.isArray(mine) || mine.includes(l.id));
  controls.line.replaceChildren(option("", t("msearch.any_line")), ...lines.map((l) => option(l.id, l.name || l.id)));
  const channels = new Set(CHANNELS);
  state.meta.lines.forEach((l) => (Array.isArray(l.channels) ? l.channels : []).forEach((c) => c && channels.add(c.type || c)));
  state.dialogs.forEach((d) => { if (d.channel) channels.add(d.channel); });
  controls.channel.replaceChildren(option("", t("msearch.any_channel")), ...[...channels].map((c) => option(c, c)));
  controls.operator.replaceChildren(option("", t("msearch.any_operator")),
    ...state.meta.operators.map((o) => option(o.login, o.name || o.login)));
  controls.state.replaceChildren(option("", t("msearch.any_state")),
    ...STATES.map((s) => option(s, s === "open" ? t("msearch.state_open") : t(`state.${s}`))));
  for (const [k, c] of Object.entries(controls)) {
    c.value = keep[k];
    if (c.value !== keep[k]) c.value = "";
  }
  filters.querySelector('[data-filter="operator"]').hidden = !isAdmin();
}

function activeFilters() { return Object.keys(filterParams()).length; }

/** Texts that follow the language. */
function renderLabels() {
  input.placeholder = t("msearch.placeholder");
  input.setAttribute("aria-label", t("msearch.label"));
  filterToggle.replaceChildren(filterIcon(), h("span", { class: "msearch-filter-text", text: t("msearch.filters") }), filterCount);
  filterToggle.title = t("msearch.filters_hint");
  closeBtn.title = t("msearch.close");
  closeBtn.setAttribute("aria-label", t("msearch.close"));
  for (const [name, c] of Object.entries(controls)) {
    filters.querySelector(`[data-filter="${name}"] .msearch-field-name`).textContent = t(`msearch.${name}`);
    c.setAttribute("aria-label", t(`msearch.${name}`));
  }
  resetBtn.textContent = t("msearch.reset");
  list.setAttribute("aria-label", t("msearch.results"));
  fillFilters();
}

function renderFilterCount() {
  const n = activeFilters();
  filterCount.hidden = n === 0;
  filterCount.textContent = String(n);
  filterToggle.classList.toggle("is-active", n > 0);
  resetBtn.hidden = n === 0;
}

/** "7 Dec 14:05", with the year when it is not this one. */
function when(ts) {
  const d = ts ? new Date(ts) : null;
  if (!d || isNaN(d.getTime())) return "";
  const opts = { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (d.getFullYear() !== new Date().getFullYear()) opts.year = "numeric";
  return d.toLocaleString(language(), opts);
}

function who(m) {
  const a = m.author || {};
  if (a.kind === "customer") return null; // the customer's name heads the result already
  if (a.kind === "operator") return a.name || operatorName(a.id) || t("author.operator");
  return a.name || t(`author.${a.kind || "system"}`);
}

function renderResult(r, terms) {
  const m = r.message || {};
  const d = r.dialog || {};
  const key = `${d.id}/${m.id}`;
  const author = who(m);
  const internal = m.visibility === "internal";
  return h("li", {
    class: "item msearch-result" + (key === openKey ? " is-selected" : ""),
    "data-result-dialog": d.id, "data-result-msg": m.id, "data-state": d.state || null,
    tabindex: "0", role: "button", "aria-current": key === openKey ? "true" : null,
    onclick: () => openResult(r),
    onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openResult(r); } },
  },
  h("div", { class: "item-row" },
    h("span", { class: "item-name", text: dialogName(d) }),
    h("time", { class: "item-time", datetime: m.ts || null, text: when(m.ts) })),
  h("div", { class: "item-row item-sub" },
    h("span", { class: "item-line", text: d.line_name || d.line_id || "" }),
    h("span", { class: "chip", text: d.channel || "" }),
    d.state ? h("span", { class: "state-badge", "data-state": d.state, text: t(`state.${d.state}`) }) : null),
  h("div", { class: "msearch-snippet" + (internal ? " is-internal" : "") },
    internal ? h("span", { class: "msearch-who", text: `${t("msearch.note")}: ` }) : null,
    author ? h("span", { class: "msearch-who", text: `${author}: ` }) : null,
    ...snippet(String(m.text ?? ""), terms)));
}

function render() {
  const terms = queryTerms(query);
  list.replaceChildren(...results.map((r) => renderResult(r, terms)));
  status.classList.toggle("is-error", phase === "failed");
  if (phase === "failed") status.textContent = failure;
  else if (phase === "searching") status.textContent = t("msearch.searching");
  else if (phase === "idle" || !query) status.textContent = t("msearch.hint");
  else if (!results.length) status.textContent = t("msearch.none");
  else status.textContent = t(next ? "msearch.count_more" : "msearch.count", { n: results.length });
  more.hidden = !(phase === "done" && next);
  more.disabled = busyMore;
  more.textContent = busyMore ? t("msearch.loading_more") : t("msearch.more");
  renderFilterCount();
}

/** Show or hide the panel; while it shows, the results stand in for the dialog lists. */
function setOpen(open) {
  panel.hidden = !open;
  closeBtn.hidden = !open;
  const sidebar = root.closest(".sidebar");
  if (sidebar) sidebar.classList.toggle("is-searching", open);
}

function failedText(e) {
  return t("msearch.failed", { message: errorText(e.code, e.message) });
}

/** Run the search for what is typed (the first page), or load the next page. */
async function search(page) {
  clearTimeout(timer);
  const q = input.value.trim();
  if (!page) {
    const mine = ++seq;
    query = q;
    results = [];
    next = null;
    busyMore = false;
    if (!q) { phase = "idle"; render(); return; }
    setOpen(true);
    phase = "searching";
    render();
    try {
      const res = await api("GET", `/api/search?${new URLSearchParams({ q, ...filterParams(), limit: String(PAGE) })}`);
      if (mine !== seq) return;
      results = Array.isArray(res.results) ? res.results : [];
      next = res.next || null;
      phase = "done";
    } catch (e) {
      if (mine !== seq) return;
      phase = "failed";
      failure = failedText(e);
    }
    render();
    return;
  }
  if (!next || busyMore) return;
  const mine = seq;
  busyMore = true;
  render();
  try {
    const params = new URLSearchParams({ q: query, ...filterParams(), cursor: next, limit: String(PAGE) });
    const res = await api("GET", `/api/search?${params}`);
    if (mine !== seq) return;
    const seen = new Set(results.map((r) => r.message && r.message.id));
    const before = results.length;
    results = results.concat((res.results || []).filter((r) => !seen.has(r.message && r.message.id)));
    next = res.next || null;
    busyMore = false;
    render();
    // the button is gone with the last page: the keyboard goes on from the first result it brought
    if (document.activeElement === document.body || document.activeElement === more) {
      const first = list.children[before] || list.lastElementChild;
      if (next) more.focus({ preventScroll: true }); else if (first) first.focus({ preventScroll: true });
    }
  } catch (e) {
    if (mine !== seq) return;
    busyMore = false;
    phase = "failed";
    failure = failedText(e);
    render();
  }
}

/** Open the result's dialog, the thread at its message. */
function openResult(r) {
  const d = r.dialog || {};
  const m = r.message || {};
  if (!d.id) return;
  openKey = `${d.id}/${m.id}`;
  list.querySelectorAll(".msearch-result").forEach((n) => {
    const on = n.dataset.resultDialog === d.id && n.dataset.resultMsg === m.id;
    n.classList.toggle("is-selected", on);
    if (on) n.setAttribute("aria-current", "true"); else n.removeAttribute("aria-current");
  });
  if (m.id) showMessageWhenOpen(d.id, m.id);
  selectDialog(d.id);
}

/** Close the search: the dialog lists come back. */
function closeSearch() {
  clearTimeout(timer);
  seq++;
  input.value = "";
  query = "";
  results = [];
  next = null;
  phase = "idle";
  busyMore = false;
  openKey = null;
  filters.hidden = true;
  filterToggle.setAttribute("aria-expanded", "false");
  setOpen(false);
  render();
}

/** Sign-out: no query, filters or results are left for the next operator. */
export function resetMessageSearch() {
  Object.values(controls).forEach((c) => { c.value = ""; });
  closeSearch();
}

input.addEventListener("input", () => {
  clearTimeout(timer);
  if (!input.value.trim() && filters.hidden) { closeSearch(); return; }
  timer = setTimeout(() => search(false), DEBOUNCE_MS);
});
input.addEventListener("keydown", (e) => {
  if (e.key === "Enter") { e.preventDefault(); search(false); }
});
root.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || e.defaultPrevented) return;
  if (!input.value && !isOpen()) return;
  e.preventDefault();
  closeSearch();
  input.focus();
});
filterToggle.addEventListener("click", () => {
  const show = filters.hidden;
  if (show) fillFilters();
  filters.hidden = !show;
  filterToggle.setAttribute("aria-expanded", show ? "true" : "false");
  if (show) { setOpen(true); render(); } else if (!input.value.trim()) closeSearch();
});
Object.values(controls).forEach((c) => c.addEventListener("change", () => {
  renderFilterCount();
  if (input.value.trim()) search(false);
}));
resetBtn.addEventListener("click", () => {
  Object.values(controls).forEach((c) => { c.value = ""; });
  renderFilterCount();
  if (input.value.trim()) search(false);
  input.focus();
});
closeBtn.addEventListener("click", () => { closeSearch(); input.focus(); });
more.addEventListener("click", () => search(true));

renderLabels();
render();
onLanguage(() => { renderLabels(); render(); });
