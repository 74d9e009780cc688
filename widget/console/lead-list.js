/* The leads as a list to work from (GET /api/leads/list): filters (words, status, an admin's responsible), a sort,
   pages by "Show more" (keyset), a row opens the lead's card; admins hand the chosen leads to a colleague at once
   (POST /api/leads/hand-over). */

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { clock } from "./format.js";
import { onLanguage, t } from "./i18n.js";
import { loadLead } from "./lead.js";
import { statusInfo } from "./lead-history.js";
import { closePage, isPageOpen, openPage, registerPage } from "./pages.js";
import { savedFilters } from "./saved-filters.js";
import { isAdmin, operatorName, state } from "./store.js";
import { toast } from "./toast.js";

let next = null;
let seq = 0;
const chosen = new Set();

const isOpen = () => isPageOpen("list-view");

function fillFilters() {
  const statusSel = $("list-status");
  const keep = statusSel.value;
  statusSel.replaceChildren(h("option", { value: "", text: t("list.any_status") }),
    ...(state.meta.pipeline || []).map((s) => h("option", { value: s.id, text: s.name })));
  statusSel.value = keep;
  const ops = state.meta.operators.map((o) => [o.login, o.name || o.login]);
  const resp = $("list-responsible");
  const keepResp = resp.value;
  resp.replaceChildren(h("option", { value: "", text: t("list.anyone") }), h("option", { value: "none", text: t("lead.nobody") }),
    ...ops.map(([l, n]) => h("option", { value: l, text: n })));
  resp.value = keepResp;
  resp.hidden = !isAdmin();
  $("list-to").replaceChildren(h("option", { value: "", text: t("lead.nobody") }), ...ops.map(([l, n]) => h("option", { value: l, text: n })));
}

registerPage("list-view", "list-open");

export function openList() {
  openPage("list-view");
  fillFilters();
  loadSaved();
  load(false);
  $("list-heading").focus();
}

export function closeList() { closePage("list-view"); }

/** The list's filters as query parameters (the list and its export take the same). */
function filters() {
  const p = new URLSearchParams();
  if ($("list-q").value.trim()) p.set("q", $("list-q").value.trim());
  if ($("list-status").value) p.set("status", $("list-status").value);
  if (isAdmin() && $("list-responsible").value) p.set("responsible", $("list-responsible").value);
  if ($("list-stale").checked) p.set("stale", "1");
  return p;
}

function query(cursor) {
  const p = filters();
  p.set("sort", $("list-sort").value);
  p.set("limit", "50");
  if (cursor) p.set("cursor", cursor);
  return `/api/leads/list?${p}`;
}

const loadSaved = savedFilters(
  "leads",
  { select: "list-saved", forget: "list-forget", name: "list-filter-name", save: "list-save-filter" },
  filters,
  (query) => {
    $("list-q").value = query.q || "";
    $("list-status").value = query.status || "";
    if (isAdmin()) $("list-responsible").value = query.responsible || "";
    $("list-stale").checked = query.stale === "1";
    load(false);
  },
);

/** The export link takes the list's filters: the file holds the leads shown. */
function exportLink() {
  const p = filters();
  $("list-export").href = "/api/leads/export" + (p.toString() ? `?${p}` : "");
}

async function load(more) {
  if (!more) exportLink();
  const mine = ++seq;
  $("list-error").textContent = "";
  try {
    const page = await api("GET", query(more ? next : null));
    if (mine !== seq) return;
    if (!more) { $("list-rows").replaceChildren(); chosen.clear(); }
    $("list-rows").append(...(page.leads || []).map(row));
    next = page.next || null;
    $("list-more").hidden = !next;
    if (!$("list-rows").children.length) {
      $("list-rows").append(h("tr", {}, h("td", { colspan: "6", class: "muted", text: t("list.none") })));
    }
    renderBulk();
  } catch (e) {
    if (mine === seq && e.status !== 401) $("list-error").textContent = t("list.failed", { message: e.message });
  }
}

function row(lead) {
  const s = statusInfo(lead.status);
  const chip = h("span", { class: "status-chip", text: s.name });
  chip.style.setProperty("--chip", s.color); // CSSOM: the CSP refuses style attributes
  const box = h("input", { type: "checkbox", "aria-label": t("list.pick_one", { name: lead.name || lead.id }),
    onchange: (e) => { (e.target.checked ? chosen.add(lead.id) : chosen.delete(lead.id)); renderBulk(); } });
  return h("tr", { "data-lead-id": lead.id },
    h("td", { class: "list-pick" }, isAdmin() ? box : null),
    h("td", {}, h("button", { type: "button", class: "dup-name", text: lead.name || t("dup.no_name"),
      onclick: () => { closeList(); loadLead(lead.id); } }),
    lead.stale ? h("span", { class: "deal-stale", title: t("deal.stale"), text: t("deal.stale_short") }) : null),
    h("td", { class: "dup-contacts", text: [...(lead.phones || []), ...(lead.emails || [])].map((c) => c.value).join(", ") }),
    h("td", {}, chip),
    h("td", { text: lead.responsible ? operatorName(lead.responsible) : t("lead.nobody") }),
    h("td", { class: "num", text: clock(lead.updated_at) }));
}

function renderBulk() {
  $("list-bulk").hidden = !isAdmin() || chosen.size === 0;
}

$("list-hand").addEventListener("click", async () => {
  try {
    const res = await api("POST", "/api/leads/hand-over", { ids: [...chosen], responsible: $("list-to").value || null });
    toast(t("list.handed", { count: (res.changed || []).length }));
    load(false);
  } catch (e) {
    if (e.status !== 401) toast(e.message, e.code);
  }
});
$("list-filters").addEventListener("submit", (e) => { e.preventDefault(); load(false); });
$("list-sort").addEventListener("change", () => load(false));
$("list-status").addEventListener("change", () => load(false));
$("list-responsible").addEventListener("change", () => load(false));
$("list-stale").addEventListener("change", () => load(false));

/** Open the list with the operator's leads that need attention (the reminder in the top bar). */
export function openStaleLeads() {
  $("list-stale").checked = true;
  $("list-q").value = "";
  $("list-status").value = "";
  if (isAdmin() && state.me) $("list-responsible").value = state.me.login;
  openList();
}
$("list-more").addEventListener("click", () => load(true));
$("list-open").addEventListener("click", () => (isOpen() ? closeList() : openList()));
$("list-open-side").addEventListener("click", openList);
$("list-back").addEventListener("click", closeList);
onLanguage(() => { if (isOpen()) { fillFilters(); load(false); } });
