/* Leads from a CSV file (admins): POST /api/leads/import streams NDJSON — the columns as mapped, progress, then the
   report. "Check" runs it dry (nothing is written) and shows the mapping to correct; "Import" runs it for real.
   Export: a link to GET /api/leads/export, with the lead search's words as its filter. */

import { postStream } from "./api.js";
import { $, h } from "./dom.js";
import { t } from "./i18n.js";
import { isAdmin } from "./store.js";

const FIELDS = ["name", "phone", "email", "status", "responsible", "source"];
let header = [];
let columns = {};
let chosen = {}; // header → field, as the admin corrected the mapping
let running = false;

export function renderImportEntry() {
  $("imp-open").hidden = !isAdmin();
  const q = $("lead-search").value.trim();
  $("exp-link").href = "/api/leads/export" + (q ? `?q=${encodeURIComponent(q)}` : "");
}

function mappingUi() {
  const box = $("imp-columns");
  box.replaceChildren(h("p", { class: "muted", text: t("imp.columns") }), ...header.map((title, i) => {
    const sel = h("select", { "aria-label": title, onchange: (e) => { chosen[title] = e.target.value; } },
      h("option", { value: "skip", text: t("imp.skip_column") }),
      ...FIELDS.map((f) => h("option", { value: f, text: t(`imp.field.${f}`) })));
    sel.value = chosen[title] || columns[String(i)] || "skip";
    return h("label", { class: "imp-column" }, h("span", { text: title || `#${i + 1}` }), sel);
  }));
  box.hidden = !header.length;
}

function showReport(r) {
  const counts = ["created", "updated", "unchanged", "duplicates", "rejected"]
    .map((k) => t(`imp.count.${k}`, { count: r[k] || 0 })).join(" · ");
  const rejected = (r.rejected_rows || []).map((x) => h("li", { text: t("imp.rejected_row", { line: x.line, reason: x.reason }) }));
  $("imp-report").replaceChildren(
    h("p", { class: "imp-summary", text: (r.dry_run ? t("imp.would") : t("imp.did")) + " " + counts }),
    rejected.length ? h("ul", { class: "imp-rejected" }, rejected) : null);
}

async function run(dry) {
  const file = $("imp-file").files[0];
  if (!file) { $("imp-report").textContent = t("imp.pick_file"); return; }
  if (running) return;
  running = true;
  const params = new URLSearchParams({ dry_run: dry ? "1" : "0", on_duplicate: $("imp-duplicates").value });
  if ($("imp-encoding").value) params.set("encoding", $("imp-encoding").value);
  if ($("imp-separator").value) params.set("separator", $("imp-separator").value);
  if (Object.keys(chosen).length) params.set("map", JSON.stringify(chosen));
  const form = new FormData();
  form.append("file", file, file.name);
  const bar = $("imp-progress");
  bar.hidden = false;
  bar.value = 0;
  $("imp-report").textContent = dry ? t("imp.checking") : t("imp.importing");
  try {
    const res = await postStream(`/api/leads/import?${params}`, form);
    // NDJSON: one object a line, read as it arrives
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (msg.type === "columns") { header = msg.header || []; columns = msg.columns || {}; bar.max = Math.max(1, msg.total || 1); mappingUi(); }
        else if (msg.type === "progress") bar.value = msg.done;
        else if (msg.type === "report") showReport(msg);
      }
    }
  } catch (e) {
    $("imp-report").textContent = t("imp.failed", { message: e.message });
  } finally {
    running = false;
  }
}

$("imp-open").addEventListener("click", () => { $("imp-form").hidden = false; $("imp-file").focus(); });
$("imp-cancel").addEventListener("click", () => { $("imp-form").hidden = true; });
$("imp-check").addEventListener("click", () => run(true));
$("imp-form").addEventListener("submit", (e) => { e.preventDefault(); run(false); });
$("imp-file").addEventListener("change", () => { header = []; columns = {}; chosen = {}; $("imp-columns").hidden = true; $("imp-report").textContent = ""; });
$("lead-search").addEventListener("input", renderImportEntry);
