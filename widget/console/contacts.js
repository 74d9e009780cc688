/* Contacts (converted leads): a list to work from (GET /api/contacts/list: words, an admin's responsible, keyset
   pages) and a contact's card (GET/PATCH /api/contacts/{id}): the customer's name, phones and e-mails (edited on their
   lead), the company (found or made by name), custom fields, the responsible and the contact's deals. */

import { api } from "./api.js";
import { openDeal, stageInfo } from "./deal.js";
import { fieldInput, fieldsOf, readFields } from "./deal-fields.js";
import { $, h } from "./dom.js";
import { clock } from "./format.js";
import { onLanguage, t } from "./i18n.js";
import { loadLead } from "./lead.js";
import { closePage, isPageOpen, openPage, registerPage } from "./pages.js";
import { savedFilters } from "./saved-filters.js";
import { isAdmin, operatorName, state } from "./store.js";
import { toast } from "./toast.js";

let next = null;
let seq = 0;
let contact = null;

registerPage("contacts-view", "list-open");
registerPage("contact-view", "list-open");

export function openContacts() {
  openPage("contacts-view");
  const ops = state.meta.operators.map((o) => [o.login, o.name || o.login]);
  const keep = $("contacts-responsible").value;
  $("contacts-responsible").replaceChildren(h("option", { value: "", text: t("list.anyone") }), h("option", { value: "none", text: t("lead.nobody") }),
    ...ops.map(([l, n]) => h("option", { value: l, text: n })));
  $("contacts-responsible").value = keep;
  $("contacts-responsible").hidden = !isAdmin();
  loadSaved();
  load(false);
  $("contacts-heading").focus();
}

/** The list's filters as query parameters (the list, its export and a saved filter take the same). */
function filters() {
  const p = new URLSearchParams();
  if ($("contacts-q").value.trim()) p.set("q", $("contacts-q").value.trim());
  if (isAdmin() && $("contacts-responsible").value) p.set("responsible", $("contacts-responsible").value);
  return p;
}

const loadSaved = savedFilters(
  "contacts",
  { select: "contacts-saved", forget: "contacts-forget", name: "contacts-filter-name", save: "contacts-save-filter" },
  filters,
  (query) => {
    $("contacts-q").value = query.q || "";
    if (isAdmin()) $("contacts-responsible").value = query.responsible || "";
    load(false);
  },
);

async function load(more) {
  const mine = ++seq;
  $("contacts-error").textContent = "";
  $("contacts-export").href = `/api/contacts/export?${filters()}`;
  const p = filters();
  p.set("limit", "50");
  p.set("sort", $("contacts-sort").value);
  if (more && next) p.set("cursor", next);
  try {
    const page = await api("GET", `/api/contacts/list?${p}`);
    if (mine !== seq) return;
    if (!more) $("contacts-rows").replaceChildren();
    $("contacts-rows").append(...(page.contacts || []).map(row));
    next = page.next || null;
    $("contacts-more").hidden = !next;
    if (!$("contacts-rows").children.length) $("contacts-rows").append(h("tr", {}, h("td", { colspan: "4", class: "muted", text: t("contact.none") })));
  } catch (e) {
    if (mine === seq && e.status !== 401) $("contacts-error").textContent = t("list.failed", { message: e.message });
  }
}

function row(c) {
  return h("tr", { "data-contact-id": c.id },
    h("td", {}, h("button", { type: "button", class: "dup-name", text: c.name || t("dup.no_name"), onclick: () => openContact(c.id) })),
    h("td", { class: "dup-contacts", text: [...(c.phones || []), ...(c.emails || [])].map((x) => x.value).join(", ") }),
    h("td", { text: c.responsible ? operatorName(c.responsible) : t("lead.nobody") }),
    h("td", { class: "num", text: clock(c.updated_at) }));
}

export async function openContact(id) {
  openPage("contact-view");
  $("contact-error").textContent = "";
  try {
    contact = await api("GET", `/api/contacts/${encodeURIComponent(id)}`);
    render();
    $("contact-heading").focus();
  } catch (e) { if (e.status !== 401) $("contact-error").textContent = e.message; }
}

function render() {
  const c = contact;
  const ro = !c.editable;
  $("contact-heading").textContent = c.name || t("dup.no_name");
  $("contact-ways").textContent = [...(c.phones || []), ...(c.emails || [])].map((x) => x.value).join(", ") || t("contact.no_ways");
  $("contact-company").value = c.company ? c.company.name : "";
  const ops = state.meta.operators.map((o) => [o.login, o.name || o.login]);
  $("contact-responsible").replaceChildren(h("option", { value: "", text: t("lead.nobody") }), ...ops.map(([l, n]) => h("option", { value: l, text: n })));
  $("contact-responsible").value = c.responsible || "";
  const record = { path: `/api/contacts/${encodeURIComponent(c.id)}`, done: () => openContact(c.id) };
  $("contact-fields").replaceChildren(...fieldsOf(state.meta, "contact").flatMap((f) => fieldInput(f, (c.fields || {})[f.id], "contact-f", ro, record)));
  for (const id of ["contact-company", "contact-responsible"]) $(id).disabled = ro;
  $("contact-save").hidden = ro;
  $("contact-deals").replaceChildren(...(c.deals.length ? c.deals.map((d) => {
    const s = stageInfo(d.pipeline, d.stage);
    const chip = h("span", { class: "status-chip", text: s.name });
    chip.style.setProperty("--chip", s.color);
    return h("li", {}, h("button", { type: "button", class: "dup-name", text: d.title || t("deal.untitled"), onclick: () => openDeal(d.id, () => openContact(c.id)) }), chip);
  }) : [h("li", { class: "muted", text: t("deal.none_yet") })]));
}

$("contact-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!contact) return;
  const body = {};
  const company = $("contact-company").value.trim();
  if (company !== (contact.company ? contact.company.name : "")) body.company = company;
  const resp = $("contact-responsible").value || null;
  if (resp !== (contact.responsible || null)) body.responsible = resp;
  const fields = readFields($("contact-fields"), contact.fields || {});
  if (Object.keys(fields).length) body.fields = fields;
  if (!Object.keys(body).length) { $("contact-saved").textContent = t("lead.no_changes"); return; }
  try {
    contact = await api("PATCH", `/api/contacts/${encodeURIComponent(contact.id)}`, body);
    render();
    $("contact-saved").textContent = t("lead.saved", { time: clock(new Date().toISOString()) });
  } catch (ex) {
    if (ex.status !== 401) $("contact-error").textContent = ex.message;
  }
});
// the company's name as typed finds the companies there are (a new name makes a new one on save)
$("contact-company").addEventListener("input", async () => {
  const q = $("contact-company").value.trim();
  if (q.length < 2) return;
  try {
    const got = await api("GET", `/api/companies?query=${encodeURIComponent(q)}`);
    $("contact-companies").replaceChildren(...got.companies.map((x) => h("option", { value: x.name })));
  } catch (e) { /* suggestions only */ }
});
$("contact-lead").addEventListener("click", () => { if (contact) { closePage("contact-view"); loadLead(contact.lead_id); } });
$("contact-back").addEventListener("click", openContacts);
$("contacts-back").addEventListener("click", () => closePage("contacts-view"));
$("contacts-filters").addEventListener("submit", (e) => { e.preventDefault(); load(false); });
$("contacts-sort").addEventListener("change", () => load(false));
$("contacts-responsible").addEventListener("change", () => load(false));
$("contacts-more").addEventListener("click", () => load(true));
$("list-contacts").addEventListener("click", openContacts);
$("contacts-leads").addEventListener("click", () => { closePage("contacts-view"); $("list-open").click(); });
onLanguage(() => { if (isPageOpen("contacts-view")) load(false); if (contact && isPageOpen("contact-view")) render(); });
