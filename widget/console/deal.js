/* The deal card (GET /api/deals/{id}): the stage scale (a click moves the deal; a move a stage's required fields
   refuse names them and marks their inputs), the deal's own and custom fields, the customer, the dialogs and the
   timeline with notes. Saved with PATCH /api/deals/{id} and the card's version (a deal changed meanwhile is read
   again, not overwritten). */

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { fieldInput, fieldsOf, readFields } from "./deal-fields.js";
import { clock } from "./format.js";
import { onLanguage, t } from "./i18n.js";
import { loadLead, renderLeadDialog } from "./lead.js";
import { closePage, openPage, registerPage } from "./pages.js";
import { notify, operatorName, state } from "./store.js";
import { toast } from "./toast.js";

let deal = null;
let seq = 0;
let back = () => {};

registerPage("deal-view", "deals-open");

export const pipelineOf = (id) => (state.meta.deal_pipelines || []).find((p) => p.id === id)
  || (state.meta.deal_pipelines || [])[0] || { id, stages: [] };

/** A stage's name and colour. */
export function stageInfo(pipelineId, stageId) {
  const s = pipelineOf(pipelineId).stages.find((x) => x.id === stageId);
  return s ? { name: s.name || s.id, color: s.color || "#64748b", kind: s.kind } : { name: stageId, color: "#64748b", kind: "work" };
}

/** Open a deal's card; `from` is called by its Back button. */
export async function openDeal(id, from) {
  back = from || back;
  openPage("deal-view");
  const mine = ++seq;
  $("deal-error").textContent = "";
  try {
    const got = await api("GET", `/api/deals/${encodeURIComponent(id)}`);
    if (mine === seq) { deal = got; render(); $("deal-heading").focus(); }
  } catch (e) {
    if (mine === seq && e.status !== 401) $("deal-error").textContent = t("deal.load_failed", { message: e.message });
  }
}

/** A required field's name as the operator reads it: a deal's own in their language, a custom one as declared. */
export const fieldName = (id) => {
  const own = { title: t("deal.title_field"), amount: t("deal.amount"), contact: t("deal.contact"), company: t("deal.company"),
    responsible: t("lead.responsible"), request: t("deal.request") };
  return own[id] || (fieldsOf(state.meta, "deal").find((f) => f.id === id) || {}).name || id;
};

function render() {
  const d = deal;
  const ro = d.editable === false;
  $("deal-heading").textContent = d.title || t("deal.untitled");
  const stages = pipelineOf(d.pipeline).stages;
  const at = stages.findIndex((s) => s.id === d.stage);
  $("deal-stages").replaceChildren(...stages.map((s, i) => {
    const b = h("button", { type: "button", class: "deal-stage", "data-stage": s.id, "data-kind": s.kind || "work",
      "aria-current": s.id === d.stage ? "step" : null, disabled: ro || s.id === d.stage,
      title: (s.required || []).length ? t("deal.needs", { fields: s.required.map(fieldName).join(", ") }) : null,
      text: s.name || s.id, onclick: () => save({ stage: s.id }) });
    b.style.setProperty("--chip", s.color || "#64748b"); // CSSOM: the CSP refuses style attributes
    if (i <= at && (s.kind || "work") === "work" && stages[at].kind !== "lost") b.classList.add("is-done");
    return h("li", {}, b);
  }));
  $("deal-title").value = d.title || "";
  $("deal-amount").value = d.amount ?? "";
  $("deal-currency").value = d.currency || "";
  $("deal-request").value = d.request || "";
  const ops = state.meta.operators.map((o) => [o.login, o.name || o.login]);
  $("deal-responsible").replaceChildren(h("option", { value: "", text: t("lead.nobody") }), ...ops.map(([l, n]) => h("option", { value: l, text: n })));
  $("deal-responsible").value = d.responsible || "";
  const record = { path: `/api/deals/${encodeURIComponent(d.id)}`, done: () => openDeal(d.id) };
  $("deal-fields").replaceChildren(...fieldsOf(state.meta, "deal").flatMap((f) => fieldInput(f, (d.fields || {})[f.id], "deal-f", ro, record)));
  for (const id of ["deal-title", "deal-amount", "deal-currency", "deal-request", "deal-responsible"]) $(id).disabled = ro;
  $("deal-save").hidden = ro;
  $("deal-state").textContent = d.closed_at ? (d.won ? t("deal.won") : t("deal.lost")) : (d.stale ? t("deal.stale") : "");
  $("deal-state").dataset.state = d.closed_at ? (d.won ? "won" : "lost") : (d.stale ? "stale" : "");
  const c = d.customer || {};
  $("deal-customer").replaceChildren(...[
    h("button", { type: "button", class: "dup-name", text: c.name || t("dup.no_name"), onclick: () => { closePage("deal-view"); loadLead(c.id); } }),
    h("p", { class: "dup-contacts", text: [...(c.phones || []), ...(c.emails || [])].map((x) => x.value).join(", ") }),
    h("p", { class: "muted", text: [d.contact ? t("deal.has_contact") : t("deal.no_contact"), d.company ? d.company.name : null].filter(Boolean).join(" · ") }),
    // a stage that needs the contact: the customer's lead converted from here, the deal staying as it is
    !d.contact && !ro ? h("button", { id: "deal-make-contact", type: "button", class: "btn", text: t("deal.make_contact"), onclick: makeContact }) : null].filter(Boolean));
  $("deal-dialogs").replaceChildren(...(d.dialogs.length
    ? d.dialogs.map((x) => renderLeadDialog(x, () => closePage("deal-view")))
    : [h("li", { class: "muted", text: t("deal.no_dialogs") })]));
  $("deal-timeline").replaceChildren(...d.timeline.map(line));
  $("deal-note-form").hidden = false;
}

function line(e) {
  const who = e.by ? operatorName(e.by) : t("deal.by_routing");
  const stage = (id) => stageInfo(deal.pipeline, id).name;
  const text = {
    created: () => t("deal.ev.created", { stage: stage(e.to) }),
    stage: () => t("deal.ev.stage", { from: stage(e.from), to: stage(e.to) }),
    responsible: () => t("deal.ev.responsible", { from: e.from ? operatorName(e.from) : t("lead.nobody"), to: e.to ? operatorName(e.to) : t("lead.nobody") }),
    note: () => e.text || "",
    dialog: () => t("deal.ev.dialog"),
  }[e.kind];
  return h("li", { class: `deal-ev deal-ev-${e.kind}` },
    h("span", { class: "deal-ev-meta", text: `${clock(e.at)} · ${who}` }),
    h("span", { class: "deal-ev-text", text: text ? text() : e.kind }));
}

/** What the form holds that differs from the deal. */
function edits() {
  const d = deal;
  const out = {};
  const typed = { title: $("deal-title").value.trim(), amount: $("deal-amount").value.trim() || null,
    currency: $("deal-currency").value.trim().toUpperCase(), request: $("deal-request").value.trim(),
    responsible: $("deal-responsible").value || null };
  for (const [k, v] of Object.entries(typed)) if ((d[k] ?? "") !== (v ?? "")) out[k] = v;
  if (out.amount && d.amount && Number(String(out.amount).replace(/\s/g, "").replace(",", ".")) === Number(d.amount)) delete out.amount;
  const fields = readFields($("deal-fields"), d.fields || {});
  if (Object.keys(fields).length) out.fields = fields;
  return out;
}

async function save(extra) {
  if (!deal) return;
  for (const el of document.querySelectorAll("#deal-view [aria-invalid]")) el.removeAttribute("aria-invalid");
  const body = { version: deal.version, ...edits(), ...(extra || {}) };
  if (Object.keys(body).length === 1) { $("deal-saved").textContent = t("lead.no_changes"); return; }
  $("deal-error").textContent = "";
  $("deal-saved").textContent = t("lead.saving");
  try {
    deal = await api("PATCH", `/api/deals/${encodeURIComponent(deal.id)}`, body);
    render();
    $("deal-saved").textContent = t("lead.saved", { time: clock(new Date().toISOString()) });
  } catch (e) {
    $("deal-saved").textContent = "";
    if (e.status === 401) return;
    if (e.code === "required_fields") {
      const names = (e.data.missing || []).map((m) => fieldName(m.id));
      $("deal-error").textContent = t("deal.missing", { fields: names.join(", ") });
      markMissing((e.data.missing || []).map((m) => m.id));
    } else if (e.code === "changed") {
      $("deal-error").textContent = t("deal.changed");
      openDeal(deal.id);
    } else {
      $("deal-error").textContent = e.message;
    }
  }
}

async function makeContact() {
  const id = deal && deal.id;
  try {
    await api("POST", `/api/leads/${encodeURIComponent(deal.customer.id)}/convert`, { deal: null });
    toast(t("deal.contact_made"));
    if (deal && deal.id === id) openDeal(id);
  } catch (e) { if (e.status !== 401) toast(e.message, e.code); }
}

/** The inputs of the fields a stage still needs, marked and the first focused. */
function markMissing(ids) {
  const own = { title: "deal-title", amount: "deal-amount", request: "deal-request", responsible: "deal-responsible",
    contact: "deal-make-contact" };
  const inputs = ids.map((id) => $(own[id] || `deal-f-${id}`)).filter(Boolean);
  for (const el of inputs) el.setAttribute("aria-invalid", "true");
  if (inputs.length) inputs[0].focus();
}

$("deal-form").addEventListener("submit", (e) => { e.preventDefault(); save(); });
$("deal-note-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("deal-note").value.trim();
  if (!text || !deal) return;
  try {
    deal = await api("POST", `/api/deals/${encodeURIComponent(deal.id)}/notes`, { text });
    $("deal-note").value = "";
    render();
  } catch (ex) {
    if (ex.status !== 401) toast(ex.message, ex.code);
  }
});
$("deal-back").addEventListener("click", () => back());
onLanguage(() => { if (deal && !$("deal-view").hidden) render(); });
