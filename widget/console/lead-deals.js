/* The customer's deals on the lead card (GET /api/deals/list?lead=), a new deal for them (POST /api/deals), and the
   lead's conversion into a contact, a company and a deal (POST /api/leads/{id}/convert). */

import { api } from "./api.js";
import { openDeal, pipelineOf, stageInfo } from "./deal.js";
import { $, h } from "./dom.js";
import { t } from "./i18n.js";
import { closePage } from "./pages.js";
import { notify, state } from "./store.js";
import { toast } from "./toast.js";

let shownFor = null;
let seq = 0;

const backToDialogs = () => closePage("deal-view");

/** The deals block of the lead card: read again when another lead is shown (or `force`). */
export async function renderLeadDeals(lead, force) {
  const ro = lead.editable === false || !!lead.merged_into;
  $("lead-convert").hidden = ro;
  $("lead-new-deal").hidden = ro;
  if (shownFor === lead.id && !force) return;
  shownFor = lead.id;
  $("lead-convert-form").hidden = true;
  const mine = ++seq;
  try {
    const page = await api("GET", `/api/deals/list?lead=${encodeURIComponent(lead.id)}&limit=20`);
    if (mine !== seq) return;
    const deals = page.deals || [];
    $("lead-deals").replaceChildren(...(deals.length ? deals.map((d) => {
      const s = stageInfo(d.pipeline, d.stage);
      const c = h("span", { class: "status-chip", text: s.name });
      c.style.setProperty("--chip", s.color);
      return h("li", {}, h("button", { type: "button", class: "dup-name", text: d.title || t("deal.untitled"),
        onclick: () => openDeal(d.id, backToDialogs) }), c);
    }) : [h("li", { class: "muted", text: t("deal.none_yet") })]));
  } catch (e) {
    if (mine === seq && e.status !== 401) $("lead-deals").replaceChildren(h("li", { class: "muted", text: e.message }));
  }
}

$("lead-convert").addEventListener("click", () => {
  const lead = state.lead;
  if (!lead) return;
  const pipes = state.meta.deal_pipelines || [];
  $("convert-pipeline").replaceChildren(...pipes.map((p) => h("option", { value: p.id, text: p.name || p.id })));
  $("convert-title").value = lead.name || "";
  $("convert-company").value = "";
  $("convert-deal").checked = true;
  $("lead-convert-form").hidden = false;
  $("convert-company").focus();
});
$("convert-cancel").addEventListener("click", () => { $("lead-convert-form").hidden = true; });
$("convert-deal").addEventListener("change", () => {
  $("convert-title").disabled = $("convert-pipeline").disabled = !$("convert-deal").checked;
});
// a group inside the lead card's form (forms do not nest): its button, not a submit
$("convert-submit").addEventListener("click", async () => {
  const lead = state.lead;
  if (!lead) return;
  const body = { company: $("convert-company").value.trim() || null,
    deal: $("convert-deal").checked ? { title: $("convert-title").value.trim(), pipeline: pipelineOf($("convert-pipeline").value).id } : null };
  try {
    const made = await api("POST", `/api/leads/${encodeURIComponent(lead.id)}/convert`, body);
    $("lead-convert-form").hidden = true;
    toast(t("deal.converted"));
    const fresh = await api("GET", `/api/leads/${encodeURIComponent(lead.id)}`);
    if (state.lead && state.lead.id === lead.id) { state.lead = fresh; notify("lead"); }
    renderLeadDeals(fresh, true);
    if (made.deal) openDeal(made.deal, backToDialogs);
  } catch (ex) { if (ex.status !== 401) toast(ex.message, ex.code); }
});
$("lead-new-deal").addEventListener("click", async () => {
  const lead = state.lead;
  if (!lead) return;
  try {
    const deal = await api("POST", "/api/deals", { lead_id: lead.id, title: lead.name || "" });
    renderLeadDeals(lead, true);
    openDeal(deal.id, backToDialogs);
  } catch (ex) { if (ex.status !== 401) toast(ex.message, ex.code); }
});
