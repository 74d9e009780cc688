/* Duplicate control: leads that share a phone, an e-mail or a full name (GET /api/duplicates), the main record of
   each group first, what matched for each other one; "not duplicates" (POST /api/duplicates/skip), a merge of the
   chosen ones (merge.js), the merge history for admins, and a lead made by hand, checked for duplicates first. */

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { onLanguage, t } from "./i18n.js";
import { loadLead } from "./lead.js";
import { renderImportEntry } from "./lead-import.js";
import { openMerge, renderJournal } from "./merge.js";
import { closePage, isPageOpen, openPage, registerPage } from "./pages.js";
import { isAdmin, operatorName } from "./store.js";
import { toast } from "./toast.js";

let by = "phone";
let groups = [];
let next = null;
let seq = 0;

const isOpen = () => isPageOpen("dup-view");

registerPage("dup-view", "dup-open");

export function openDuplicates() {
  openPage("dup-view");
  $("dup-journal-tab").hidden = !isAdmin();
  renderImportEntry();
  refresh();
  $("dup-heading").focus();
}

export function closeDuplicates() {
  $("dup-merge").hidden = true;
  $("dup-create").hidden = true;
  $("imp-form").hidden = true;
  closePage("dup-view");
}

/** Load the first page of the chosen criterion (or the merge history) again. */
export async function refresh() {
  const mine = ++seq;
  for (const tab of document.querySelectorAll(".dup-tab")) tab.setAttribute("aria-selected", String(tab.dataset.by === by));
  $("dup-error").textContent = "";
  $("dup-merge").hidden = true;
  if (by === "journal") {
    $("dup-more").hidden = true;
    await renderJournal($("dup-list"), () => mine === seq);
    return;
  }
  try {
    const page = await api("GET", `/api/duplicates?by=${by}`);
    if (mine !== seq) return;
    groups = page.groups || [];
    next = page.next || null;
    render();
  } catch (e) {
    if (mine === seq && e.status !== 401) $("dup-error").textContent = t("dup.failed", { message: e.message });
  }
}

async function more() {
  if (!next) return;
  const mine = ++seq;
  try {
    const page = await api("GET", `/api/duplicates?by=${by}&after=${encodeURIComponent(next)}`);
    if (mine !== seq) return;
    groups = groups.concat(page.groups || []);
    next = page.next || null;
    render();
  } catch (e) {
    if (e.status !== 401) $("dup-error").textContent = t("dup.failed", { message: e.message });
  }
}

/** "2 matches by phone, full name" */
export function matchText(m) {
  const parts = [];
  if (m.phone) parts.push(t("dup.match.phone", { count: m.phone }));
  if (m.email) parts.push(t("dup.match.email", { count: m.email }));
  if (m.name) parts.push(t("dup.match.name"));
  return parts.join(", ");
}

/** One record of a group: name, contacts, who owns it, how much links to it. */
export function recordLine(lead) {
  const contacts = [...(lead.phones || []), ...(lead.emails || [])].map((c) => c.value).join(", ");
  return h("div", { class: "dup-record" },
    h("button", { type: "button", class: "dup-name", text: lead.name || t("dup.no_name"),
      onclick: () => { closeDuplicates(); loadLead(lead.id); } }),
    h("span", { class: "dup-contacts", text: contacts }),
    h("span", { class: "dup-meta", text: [
      lead.responsible ? operatorName(lead.responsible) : t("lead.nobody"),
      t("dup.links", { dialogs: lead.dialog_count || 0, messages: lead.message_count || 0 }),
    ].join(" · ") }));
}

function render() {
  const list = $("dup-list");
  $("dup-more").hidden = !next;
  if (!groups.length) {
    list.replaceChildren(h("p", { class: "muted dup-empty", text: t("dup.none") }));
    return;
  }
  list.replaceChildren(...groups.map((g) => {
    const picks = new Map();
    const others = g.others.map((o) => {
      const box = h("input", { type: "checkbox", checked: o.editable, disabled: !o.editable,
        "aria-label": t("dup.pick", { name: o.name || o.id }) });
      picks.set(o.id, box);
      const skip = h("button", { type: "button", class: "btn btn-ghost", text: t("dup.skip"),
        onclick: () => skipPair(g.main.id, o.id) });
      return h("li", { class: "dup-other", "data-lead-id": o.id },
        h("label", { class: "dup-pick" }, box), recordLine(o),
        h("span", { class: "dup-match", text: matchText(o.matches || {}) }),
        o.editable ? skip : h("span", { class: "muted", text: t("dup.view_only") }));
    });
    const merge = h("button", { type: "button", class: "btn btn-primary", text: t("dup.merge"),
      onclick: () => {
        const chosen = g.others.filter((o) => picks.get(o.id).checked).map((o) => o.id);
        if (!chosen.length) { toast(t("dup.pick_some")); return; }
        openMerge(g.main.id, chosen, refresh);
      } });
    return h("article", { class: "dup-group", "data-key": g.key },
      h("div", { class: "dup-main" }, h("span", { class: "dup-badge", text: t("dup.main") }), recordLine(g.main)),
      h("ul", { class: "dup-others" }, others),
      h("div", { class: "dup-actions" }, merge));
  }));
}

async function skipPair(a, b) {
  try {
    await api("POST", "/api/duplicates/skip", { a, b });
    toast(t("dup.skipped"));
    refresh();
  } catch (e) {
    if (e.status !== 401) toast(e.message, e.code);
  }
}

// ---- a lead made by hand: the server refuses likely duplicates until the operator says "create anyway"

let force = false;

function showCreate() {
  force = false;
  $("dup-create").hidden = false;
  $("dup-create-found").hidden = true;
  $("dup-create-state").textContent = "";
  $("dup-create-save").textContent = t("dup.create");
  $("dup-create-name").focus();
}

$("dup-create").addEventListener("submit", async (e) => {
  e.preventDefault();
  const phone = $("dup-create-phone").value.trim();
  const email = $("dup-create-email").value.trim();
  const body = { name: $("dup-create-name").value.trim(), phones: phone ? [phone] : [], emails: email ? [email] : [], force };
  try {
    const lead = await api("POST", "/api/leads", body);
    $("dup-create").reset();
    $("dup-create").hidden = true;
    toast(t("dup.created", { name: lead.name }));
    refresh();
  } catch (ex) {
    if (ex.status === 401) return;
    if (ex.code !== "likely_duplicates") { $("dup-create-state").textContent = ex.message; return; }
    const found = (ex.data && ex.data.duplicates) || [];
    const hidden = (ex.data && ex.data.hidden) || 0;
    $("dup-create-found").replaceChildren(
      h("p", { text: t("dup.likely") }),
      ...found.map((lead) => recordLine(lead)),
      hidden ? h("p", { class: "muted", text: t("dup.hidden", { count: hidden }) }) : null);
    $("dup-create-found").hidden = false;
    force = true; // the next press creates it anyway
    $("dup-create-save").textContent = t("dup.create_anyway");
    $("dup-create-state").textContent = "";
  }
});
$("dup-create-cancel").addEventListener("click", () => { $("dup-create").hidden = true; });
for (const id of ["dup-create-name", "dup-create-phone", "dup-create-email"]) {
  $(id).addEventListener("input", () => { force = false; $("dup-create-save").textContent = t("dup.create"); });
}

$("dup-open").addEventListener("click", () => (isOpen() ? closeDuplicates() : openDuplicates()));
$("dup-open-side").addEventListener("click", openDuplicates);
$("dup-back").addEventListener("click", closeDuplicates);
$("dup-refresh").addEventListener("click", refresh);
$("dup-more").addEventListener("click", more);
$("dup-new").addEventListener("click", showCreate);
for (const tab of document.querySelectorAll(".dup-tab")) {
  tab.addEventListener("click", () => { by = tab.dataset.by; refresh(); });
}
onLanguage(() => { if (isOpen()) refresh(); });
