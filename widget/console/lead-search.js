/* Lead search in the sidebar: matching leads as you type; picking one opens it on the lead card. */

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { t } from "./i18n.js";
import { loadLead } from "./lead.js";
import { toast } from "./toast.js";

let searchTimer = null;
let searchSeq = 0; // only the latest query's answer is shown

async function searchLeads() {
  const q = $("lead-search").value.trim();
  const box = $("lead-search-results");
  const seq = ++searchSeq;
  if (!q) { box.hidden = true; box.replaceChildren(); return; }
  try {
    const res = await api("GET", `/api/leads?query=${encodeURIComponent(q)}`);
    if (seq !== searchSeq) return;
    const leads = res.leads || [];
    box.replaceChildren(...(leads.length ? leads.map((l) => h("li", {
      class: "result", "data-lead-id": l.id, tabindex: "0", role: "button",
      onclick: () => openLeadFromSearch(l.id),
      onkeydown: (e) => { if (e.key === "Enter") openLeadFromSearch(l.id); },
    },
    h("span", { class: "result-name", text: l.name || t("search.noname") }),
    h("span", { class: "result-sub", text: [l.phone, l.email, l.status].filter(Boolean).join(" · ") }),
    )) : [h("li", { class: "muted", text: t("search.none") })]));
    box.hidden = false;
  } catch (e) {
    if (seq === searchSeq && e.status !== 401) toast(t("search.failed", { message: e.message }), e.code);
  }
}

function openLeadFromSearch(id) {
  loadLead(id);
  // On a phone the card is far below the sidebar.
  if (window.matchMedia("(max-width: 900px)").matches) $("lead").scrollIntoView({ block: "start" });
}

/** Sign-out: leave no query or results for the next operator. */
export function clearSearch() {
  $("lead-search").value = "";
  $("lead-search-results").hidden = true;
}

$("lead-search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(searchLeads, 250); });
$("lead-search").addEventListener("keydown", (e) => {
  if (e.key === "Enter") { e.preventDefault(); clearTimeout(searchTimer); searchLeads(); }
  if (e.key === "Escape") { $("lead-search").value = ""; searchLeads(); }
});
