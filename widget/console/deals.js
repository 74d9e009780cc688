/* The deals to work from: a list (GET /api/deals/list: filters, sort, keyset pages) or a board by stage
   (GET /api/deals/board: drag a card to another stage; a move its required fields refuse opens the card with them
   named); saved filters ("my open deals", GET/POST/DELETE /api/filters); admins hand the chosen deals over at once. */

import { api } from "./api.js";
import { fieldName, openDeal, pipelineOf, stageInfo } from "./deal.js";
import { $, h } from "./dom.js";
import { clock } from "./format.js";
import { onLanguage, t } from "./i18n.js";
import { openStaleLeads } from "./lead-list.js";
import { closePage, isPageOpen, openPage, registerPage } from "./pages.js";
import { savedFilters } from "./saved-filters.js";
import { isAdmin, operatorName, state } from "./store.js";
import { toast } from "./toast.js";

let next = null;
let seq = 0;
let mode = "list"; // list | board
const chosen = new Set();
const isOpen = () => isPageOpen("deals-view");

registerPage("deals-view", "deals-open");

function fillFilters() {
  const pipes = state.meta.deal_pipelines || [];
  const keepPipe = $("deals-pipeline").value;
  $("deals-pipeline").replaceChildren(...pipes.map((p) => h("option", { value: p.id, text: p.name || p.id })));
  $("deals-pipeline").value = keepPipe || (pipes[0] && pipes[0].id) || "";
  fillStages();
  const ops = state.meta.operators.map((o) => [o.login, o.name || o.login]);
  const keepResp = $("deals-responsible").value;
  $("deals-responsible").replaceChildren(h("option", { value: "", text: t("list.anyone") }), h("option", { value: "none", text: t("lead.nobody") }),
    ...ops.map(([l, n]) => h("option", { value: l, text: n })));
  $("deals-responsible").value = keepResp;
  $("deals-responsible").hidden = !isAdmin();
  $("deals-to").replaceChildren(h("option", { value: "", text: t("lead.nobody") }), ...ops.map(([l, n]) => h("option", { value: l, text: n })));
}

function fillStages() {
  const keep = $("deals-stage").value;
  $("deals-stage").replaceChildren(h("option", { value: "", text: t("deal.any_stage") }),
    ...pipelineOf($("deals-pipeline").value).stages.map((s) => h("option", { value: s.id, text: s.name || s.id })));
  $("deals-stage").value = keep;
}

export function openDeals() {
  openPage("deals-view");
  fillFilters();
  loadSaved();
  load(false);
  $("deals-heading").focus();
}

/** The filters as query parameters (what a saved filter keeps). */
function filters() {
  const p = new URLSearchParams();
  const q = $("deals-q").value.trim();
  if (q) p.set("q", q);
  p.set("pipeline", $("deals-pipeline").value);
  if ($("deals-stage").value && mode === "list") p.set("stage", $("deals-stage").value);
  if ($("deals-state").value) p.set("state", $("deals-state").value);
  if (isAdmin() && $("deals-responsible").value) p.set("responsible", $("deals-responsible").value);
  if ($("deals-stale").checked) p.set("stale", "1");
  return p;
}

function applyFilters(query) {
  $("deals-q").value = query.q || "";
  if (query.pipeline) $("deals-pipeline").value = query.pipeline;
  fillStages();
  $("deals-stage").value = query.stage || "";
  $("deals-state").value = query.state || "";
  $("deals-responsible").value = query.responsible || "";
  $("deals-stale").checked = query.stale === "1";
}

async function load(more) {
  const mine = ++seq;
  $("deals-error").textContent = "";
  $("deals-table").hidden = mode !== "list";
  $("deals-board").hidden = mode !== "board";
  $("deals-stage").hidden = mode !== "list";
  $("deals-sort").hidden = mode !== "list";
  for (const b of document.querySelectorAll(".deals-mode")) b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
  try {
    if (mode === "board") {
      const board = await api("GET", `/api/deals/board?${filters()}`);
      if (mine === seq) renderBoard(board);
      $("deals-more").hidden = true;
      return;
    }
    $("deals-export").href = `/api/deals/export?${filters()}`;
    const p = filters();
    p.set("sort", $("deals-sort").value);
    p.set("limit", "50");
    if (more && next) p.set("cursor", next);
    const page = await api("GET", `/api/deals/list?${p}`);
    if (mine !== seq) return;
    if (!more) { $("deals-rows").replaceChildren(); chosen.clear(); }
    $("deals-rows").append(...(page.deals || []).map(row));
    next = page.next || null;
    $("deals-more").hidden = !next;
    if (!$("deals-rows").children.length) $("deals-rows").append(h("tr", {}, h("td", { colspan: "7", class: "muted", text: t("deal.none") })));
    $("deals-bulk").hidden = !isAdmin() || !chosen.size;
  } catch (e) {
    if (mine === seq && e.status !== 401) $("deals-error").textContent = t("list.failed", { message: e.message });
  }
}

const money = (d) => (d.amount == null ? "" : `${Number(d.amount).toLocaleString(undefined, { minimumFractionDigits: 2 })} ${d.currency}`);

function chip(d) {
  const s = stageInfo(d.pipeline, d.stage);
  const c = h("span", { class: "status-chip", text: s.name });
  c.style.setProperty("--chip", s.color);
  return c;
}

const staleFlag = (d) => (d.stale ? h("span", { class: "deal-stale", title: t("deal.stale"), text: t("deal.stale_short") }) : null);

function row(d) {
  const box = h("input", { type: "checkbox", "aria-label": t("list.pick_one", { name: d.title || d.id }),
    onchange: (e) => { (e.target.checked ? chosen.add(d.id) : chosen.delete(d.id)); $("deals-bulk").hidden = !chosen.size; } });
  return h("tr", { "data-deal-id": d.id },
    h("td", { class: "list-pick" }, isAdmin() ? box : null),
    h("td", {}, h("button", { type: "button", class: "dup-name", text: d.title || t("deal.untitled"), onclick: () => openDeal(d.id, openDeals) }), staleFlag(d)),
    h("td", { text: d.customer_name }),
    h("td", {}, chip(d)),
    h("td", { class: "num", text: money(d) }),
    h("td", { text: d.responsible ? operatorName(d.responsible) : t("lead.nobody") }),
    h("td", { class: "num", text: clock(d.activity_at) }));
}

function renderBoard(board) {
  const pipeline = pipelineOf(board.pipeline);
  $("deals-board").replaceChildren(...board.stages.map((s) => {
    const info = pipeline.stages.find((x) => x.id === s.id) || {};
    const col = h("section", { class: "kanban-col", "data-stage": s.id, "aria-label": info.name || s.id },
      h("header", { class: "kanban-head" },
        h("span", { class: "kanban-name", text: info.name || s.id }),
        h("span", { class: "kanban-count", text: `${s.count}${s.amount && s.amount !== "0.00" ? ` · ${Number(s.amount).toLocaleString()}` : ""}` })),
      ...s.deals.map(card));
    col.style.setProperty("--chip", info.color || "#64748b");
    col.addEventListener("dragover", (e) => { e.preventDefault(); col.classList.add("is-over"); });
    col.addEventListener("dragleave", () => col.classList.remove("is-over"));
    col.addEventListener("drop", (e) => { e.preventDefault(); col.classList.remove("is-over"); drop(e.dataTransfer.getData("text/plain"), s.id); });
    return col;
  }));
}

const onBoard = new Map(); // deal id → the deal as the board shows it (its version for the move)

function card(d) {
  onBoard.set(d.id, d);
  return h("article", { class: "kanban-card", draggable: "true", "data-deal-id": d.id,
    ondragstart: (e) => { e.dataTransfer.setData("text/plain", d.id); e.dataTransfer.effectAllowed = "move"; } },
  h("button", { type: "button", class: "dup-name", text: d.title || t("deal.untitled"), onclick: () => openDeal(d.id, openDeals) }),
  h("span", { class: "kanban-sub", text: d.customer_name }),
  h("span", { class: "kanban-sub num", text: money(d) }),
  h("span", { class: "kanban-sub", text: d.responsible ? operatorName(d.responsible) : t("lead.nobody") }),
  staleFlag(d),
  moveTo(d));
}

/** The keyboard's and a touch screen's way to move a card (drag and drop is a mouse gesture): a stage picker. */
function moveTo(d) {
  const sel = h("select", { class: "kanban-move", "aria-label": t("deal.move_to", { title: d.title || t("deal.untitled") }) },
    h("option", { value: "", text: t("deal.move") }),
    ...pipelineOf(d.pipeline).stages.filter((s) => s.id !== d.stage).map((s) => h("option", { value: s.id, text: s.name || s.id })));
  sel.addEventListener("change", () => { if (sel.value) drop(d.id, sel.value); });
  return sel;
}

/** A card dropped on a stage: moved, or refused with the fields still to fill (the card opens with them marked). */
async function drop(id, stage) {
  const d = onBoard.get(id);
  if (!d || d.stage === stage) return;
  try {
    await api("PATCH", `/api/deals/${encodeURIComponent(id)}`, { version: d.version, stage });
    toast(t("deal.moved", { title: d.title || t("deal.untitled"), stage: stageInfo(d.pipeline, stage).name }));
  } catch (e) {
    if (e.status === 401) return;
    if (e.code === "required_fields") {
      toast(t("deal.missing", { fields: (e.data.missing || []).map((m) => fieldName(m.id)).join(", ") }), e.code);
    } else toast(e.message, e.code);
  }
  load(false);
}

const loadSaved = savedFilters(
  "deals",
  { select: "deals-saved", forget: "deals-forget", name: "deals-filter-name", save: "deals-save-filter" },
  filters,
  (query) => { applyFilters(query); load(false); },
);

$("deals-hand").addEventListener("click", async () => {
  try {
    const res = await api("POST", "/api/deals/hand-over", { ids: [...chosen], responsible: $("deals-to").value || null });
    toast(t("deal.handed", { count: (res.changed || []).length }));
    load(false);
  } catch (e) { if (e.status !== 401) toast(e.message, e.code); }
});
for (const b of document.querySelectorAll(".deals-mode")) b.addEventListener("click", () => { mode = b.dataset.mode; load(false); });
$("deals-filters").addEventListener("submit", (e) => { e.preventDefault(); load(false); });
$("deals-pipeline").addEventListener("change", () => { fillStages(); load(false); });
for (const id of ["deals-stage", "deals-state", "deals-responsible", "deals-stale", "deals-sort"]) $(id).addEventListener("change", () => load(false));
$("deals-more").addEventListener("click", () => load(true));
$("deals-open").addEventListener("click", () => (isOpen() ? closePage("deals-view") : openDeals()));
$("deals-open-side").addEventListener("click", openDeals);
$("deals-back").addEventListener("click", () => closePage("deals-view"));
onLanguage(() => { if (isOpen()) { fillFilters(); load(false); } });

/** The operator's own open deals without activity for the configured days: a button in the top bar that lists them
 * (none: no button). Asked at sign-in and every few minutes. */
export async function checkReminders() {
  const days = state.meta.remind_after_days;
  if (!days || !state.me) { $("deals-remind").hidden = true; return; }
  const ask = async (path) => {
    const p = new URLSearchParams({ stale: "1", responsible: state.me.login, limit: "100" });
    const page = await api("GET", `${path}?${p}`);
    return page.next ? "100+" : (page.deals || page.leads || []).length;
  };
  try {
    [staleDeals, staleLeads] = await Promise.all([ask("/api/deals/list"), ask("/api/leads/list")]);
    const any = (n) => n === "100+" || n > 0;
    $("deals-remind").hidden = !any(staleDeals) && !any(staleLeads);
    $("deals-remind").textContent = any(staleDeals) && any(staleLeads)
      ? t("deal.remind_both", { deals: staleDeals, leads: staleLeads, days })
      : any(staleDeals) ? t("deal.remind", { count: staleDeals, days }) : t("deal.remind_leads", { count: staleLeads, days });
  } catch (e) { /* the next check tries again; a 401 signs out elsewhere */ }
}

let staleDeals = 0;
let staleLeads = 0;

$("deals-remind").addEventListener("click", () => {
  if (staleDeals === 0) { openStaleLeads(); return; }
  openDeals();
  applyFilters({ pipeline: $("deals-pipeline").value, stale: "1", state: "open", responsible: isAdmin() ? state.me.login : "" });
  mode = "list";
  load(false);
});
