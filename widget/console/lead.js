/* The lead card: the selected customer's lead, edited and saved, with identities and previous dialogs. */

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { clock } from "./format.js";
import { leadPipeline, renderHistory, renderScale, statusInfo } from "./lead-history.js";
import { fieldInput, fieldsOf, readFields } from "./deal-fields.js";
import { renderLeadDeals } from "./lead-deals.js";
import { contactsEdited, forgetContactEdits, renderContacts, typedContacts } from "./lead-contacts.js";
import { onLanguage, t } from "./i18n.js";
import { onFrame } from "./socket.js";
import { ratingBadge } from "./rating.js";
import { notify, state, subscribe } from "./store.js";
import { toast } from "./toast.js";

let leadSeq = 0;
const FIELDS = ["lead-name", "lead-status", "lead-responsible"];
// Fields the operator changed and has not saved: a reload of the same lead (after a take, a refresh) keeps them.
const edited = new Set();
let customEdited = false;

export function showLead(lead) {
  if (!lead || !state.lead || state.lead.id !== lead.id) { edited.clear(); forgetContactEdits(); }
  state.lead = lead;
  $("lead-empty").hidden = !!lead;
  $("lead-form").hidden = !lead;
  $("lead-saved").textContent = "";
  if (lead) renderLead(lead);
}

export async function loadLead(id) {
  const seq = ++leadSeq;
  try {
    const lead = await api("GET", `/api/leads/${encodeURIComponent(id)}`);
    if (seq === leadSeq) showLead(lead);
  } catch (e) {
    if (seq === leadSeq && e.status !== 401) toast(t("lead.load_failed", { message: e.message }), e.code);
  }
}

function fillSelect(sel, options, value) {
  const typed = edited.has(sel.id) ? sel.value : null;
  sel.replaceChildren(...options.map(([v, label]) => h("option", { value: v, text: label })));
  sel.value = typed ?? value;
}

function fill(id, value) {
  if (!edited.has(id)) $(id).value = value;
}

export function renderLead(lead) {
  // a colleague invited into the dialog reads the card; the dialog's operator edits it (the server says which)
  const readOnly = lead.editable === false;
  for (const id of FIELDS) $(id).disabled = readOnly;
  $("lead-save").hidden = readOnly;
  $("lead-readonly").hidden = !readOnly;
  fill("lead-name", lead.name || "");
  renderContacts(lead, { keepEdits: true, locked: readOnly || !!lead.merged_into });
  const statuses = leadPipeline(lead).map((x) => x.id);
  if (lead.status && !statuses.includes(lead.status)) statuses.unshift(lead.status);
  fillSelect($("lead-status"), statuses.map((s) => [s, statusInfo(s).name]), lead.status || "");
  $("lead-reason").hidden = statusInfo($("lead-status").value).kind !== "rejected" || $("lead-status").value === lead.status;
  $("lead-reason").disabled = readOnly;
  renderScale(lead);
  renderHistory(lead);
  const ops = state.meta.operators.map((o) => [o.login, o.name || o.login]);
  if (lead.responsible && !ops.some(([l]) => l === lead.responsible)) ops.push([lead.responsible, lead.responsible]);
  fillSelect($("lead-responsible"), [["", t("lead.nobody")], ...ops], lead.responsible || "");

  const ids = Array.isArray(lead.identities) ? lead.identities : [];
  $("lead-identities").replaceChildren(...(ids.length ? ids.map((i) => h("li", {},
    h("span", { class: "chip", text: i.channel || "" }),
    h("span", { class: "ident-name", text: i.display_name || i.external_id || "" }),
    h("span", { class: "ident-sub", text: [i.account, i.external_id].filter(Boolean).join(" · ") }),
  )) : [h("li", { class: "muted", text: t("lead.none") })]));

  renderLeadDeals(lead);
  // the custom fields: drawn again for another lead or after a save, kept as typed otherwise
  const box = $("lead-custom");
  if (box.dataset.lead !== lead.id || !customEdited) {
    const record = { path: `/api/leads/${encodeURIComponent(lead.id)}`, done: () => loadLead(lead.id) };
    box.replaceChildren(...fieldsOf(state.meta, "lead").flatMap((f) => fieldInput(f, (lead.fields || {})[f.id], "lead-f", readOnly, record)));
    box.dataset.lead = lead.id;
    customEdited = false;
  }

  const dialogs = (Array.isArray(lead.dialogs) ? lead.dialogs : []).filter((d) => d.id !== state.selectedId);
  $("lead-dialogs").replaceChildren(...(dialogs.length
    ? dialogs.map(renderLeadDialog) : [h("li", { class: "muted", text: t("lead.no_previous") })]));
}

/** A dialog with its transcript, folded (the lead card's previous dialogs, the deal card's dialogs); `opening` is
 * called before the dialog opens in the thread (a page in front of the columns closes). */
export function renderLeadDialog(d, opening) {
  const transcript = Array.isArray(d.transcript) ? d.transcript : [];
  const when = clock(d.created_at);
  const summary = h("summary", {},
    h("span", { class: "ld-when", text: when }),
    h("span", { class: "ld-line", text: [d.line_name || d.line_id, d.channel].filter(Boolean).join(" · ") }),
    h("span", { class: "state-badge", "data-state": d.state || "", text: d.state ? t(`state.${d.state}`) : "" }),
    ratingBadge(d),
    h("span", { class: "ld-count", text: t("lead.msg_count", { count: transcript.length }) }));
  const body = h("div", { class: "transcript" }, transcript.length ? transcript.map((m) => {
    const a = m.author || {};
    const internal = m.visibility === "internal";
    return h("div", {
      class: "t-msg" + (internal ? " is-internal" : ""),
      "data-author-kind": a.kind || "system", "data-visibility": internal ? "internal" : "public",
    },
    h("div", { class: "t-meta", text: `${clock(m.ts)} ${a.name || a.id || a.kind || ""}${internal ? t("lead.internal_suffix") : ""}` }),
    h("div", { class: "t-text", text: m.text ?? "" }));
  }) : [h("p", { class: "muted", text: t("lead.empty_dialog") })]);
  // open it in the thread (a closed one offers "Write again" there)
  const open = h("button", { type: "button", class: "btn btn-ghost ld-open", text: t("lead.open_dialog"),
    onclick: () => { if (opening) opening(); notify("open", d.id); } });
  return h("li", { "data-dialog-id": d.id }, h("details", {}, summary, body, open));
}

// a rejection may say why: the box shows while a rejected status is chosen
$("lead-status").addEventListener("change", () => {
  $("lead-reason").hidden = statusInfo($("lead-status").value).kind !== "rejected";
});

["input", "change"].forEach((type) => $("lead-custom").addEventListener(type, () => { customEdited = true; $("lead-saved").textContent = ""; }));
FIELDS.forEach((id) => ["input", "change"].forEach((type) =>
  $(id).addEventListener(type, () => { edited.add(id); $("lead-saved").textContent = ""; })));

$("lead-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const lead = state.lead;
  if (!lead) return;
  const current = {
    name: $("lead-name").value.trim(),
    status: $("lead-status").value,
    responsible: $("lead-responsible").value || null,
  };
  // Send only what changed; an untouched empty field (null on the server) must not become "".
  const patch = {};
  for (const [k, v] of Object.entries(current)) if ((lead[k] ?? "") !== (v ?? "")) patch[k] = v;
  if (patch.status && $("lead-reason").value.trim()) patch.reason = $("lead-reason").value.trim();
  const custom = readFields($("lead-custom"), lead.fields || {});
  if (Object.keys(custom).length) patch.fields = custom;
  if (contactsEdited()) {
    const typed = typedContacts();
    for (const key of ["phones", "emails"]) {
      if (JSON.stringify(typed[key]) !== JSON.stringify(lead[key] || [])) patch[key] = typed[key];
    }
  }
  const saved = $("lead-saved");
  saved.dataset.state = "";
  if (!Object.keys(patch).length) { saved.textContent = t("lead.no_changes"); return; }
  $("lead-save").disabled = true;
  saved.textContent = t("lead.saving");
  try {
    const updated = await api("PATCH", `/api/leads/${encodeURIComponent(lead.id)}`, patch);
    if (!state.lead || state.lead.id !== lead.id) return;
    // PATCH answers with the lead; keep identities/dialogs if it left them out.
    state.lead = { ...lead, ...updated, identities: updated.identities || lead.identities, dialogs: updated.dialogs || lead.dialogs, history: updated.history || lead.history };
    edited.clear();
    customEdited = false;
    forgetContactEdits();
    $("lead-reason").value = "";
    renderLead(state.lead);
    saved.dataset.state = "ok";
    saved.textContent = t("lead.saved", { time: clock(new Date().toISOString()) });
    syncLeadIntoDialogs(state.lead);
  } catch (ex) {
    saved.dataset.state = "error";
    saved.textContent = ex.message;
    if (ex.status !== 401) toast(ex.message, ex.code);
  } finally {
    $("lead-save").disabled = false;
  }
});

/** Dialog summaries embed the lead's name and status (lists and the header name a dialog by its lead): keep them
 * in step after an edit. */
function syncLeadIntoDialogs(lead) {
  for (const d of state.dialogs.values()) {
    if (d.lead && d.lead.id === lead.id) d.lead = { ...d.lead, name: lead.name, status: lead.status };
  }
  if (state.selected && state.selected.lead && state.selected.lead.id === lead.id) {
    state.selected.lead = { ...state.selected.lead, name: lead.name, status: lead.status };
    notify("header");
  }
  notify("lists");
}

onLanguage(() => { if (state.lead) renderLead(state.lead); });
subscribe("lead", () => { if (state.lead) renderLead(state.lead); }); // a dialog of it was rated (rating.js)

// Another console (or this one) saved a lead: its dialogs in the lists and the header follow, and the card does
// when it shows that lead (fields being edited here keep what was typed).
onFrame("lead.updated", (f) => {
  const lead = f.lead;
  if (!lead || typeof lead.id !== "string") return;
  if (state.lead && state.lead.id === lead.id) {
    state.lead = { ...state.lead, ...lead };
    renderLead(state.lead);
  }
  syncLeadIntoDialogs(lead);
});
