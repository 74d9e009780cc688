/* The leads as a list to work from (GET /api/leads/list): filters (words, status, an admin's responsible), a sort,
   pages by "Show more" (keyset), a row opens the lead's card; admins hand the chosen leads to a colleague at once
   (POST /api/leads/hand-over). */

import { api } from "./api.js";
import { closeBoard } from "./board.js";
import { $, h } from "./dom.js";
import { clock } from "./format.js";
import { onLanguage, t } from "./i18n.js";
import { loadLead } from "./lead.js";
import { statusInfo } from "./lead-history.js";
import { isAdmin, operatorName, state } from "./store.js";
import { toast } from "./toast.js";

let next = null;
let seq = 0;
const chosen = new Set();

const isOpen = () => !$("list-view").hidden;

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

export function openList() {
  closeBoard();
  $("dup-view").hidden = true;
  $("layout").hidden = true;
  $("list-view").hidden = false;
  $("list-open").setAttribute("aria-pressed", "true");
  fillFilters();
  load(false);
  $("list-heading").focus();
}

export function closeList() {
  $("list-view").hidden = true;
  $("layout").hidden = false;
  $("list-open").setAttribute("aria-pressed", "false");
}

function query(cursor) {
  const p = new URLSearchParams({ sort: $("list-sort").value, limit: "50" });
  if ($("list-q").value.trim()) p.set("q", $("list-q").value.trim());
  if ($("list-status").value) p.set("status", $("list-status").value);
  if (isAdmin() && $("list-responsible").value) p.set("responsible", $("list-responsible").value);
  if (cursor) p.set("cursor", cursor);
  return `/api/leads/list?${p}`;
}

/** The export link takes the list's filters (words, status, an admin's responsible). */
function exportLink() {
  const p = new URLSearchParams();
  if ($("list-q").value.trim()) p.set("query", $("list-q").value.trim());
  if ($("list-status").value) p.set("status", $("list-status").value);
  const resp = $("list-responsible").value;
  if (isAdmin() && resp && resp !== "none") p.set("responsible", resp);
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
      onclick: () => { closeList(); loadLead(lead.id); } })),
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
$("list-more").addEventListener("click", () => load(true));
$("list-open").addEventListener("click", () => (isOpen() ? closeList() : openList()));
$("list-open-side").addEventListener("click", openList);
$("list-back").addEventListener("click", closeList);
$("board-open").addEventListener("click", () => { if (isOpen()) closeList(); });
$("dup-open").addEventListener("click", () => { if (isOpen()) closeList(); });
onLanguage(() => { if (isOpen()) { fillFilters(); load(false); } });
