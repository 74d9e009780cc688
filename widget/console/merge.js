/* A merge, field by field: the records side by side (POST /api/merges/preview), a choice per field, the phones and
   e-mails combined, a warning when a customer is taken from an operator; then POST /api/merges. And the merge
   history (GET /api/merges, admins) with its undo (POST /api/merges/{id}/undo). */

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { clock } from "./format.js";
import { t } from "./i18n.js";
import { operatorName } from "./store.js";
import { toast } from "./toast.js";

const FIELDS = ["name", "status", "responsible", "source"];

function shown(field, value) {
  if (value == null || value === "") return "—";
  return field === "responsible" ? operatorName(value) : String(value);
}

/** Open the merge of these duplicates into the main record; `done` runs after a merge. */
export async function openMerge(mainId, duplicateIds, done) {
  const box = $("dup-merge");
  const choose = {};
  let confirmed = false;
  const body = () => ({ main: mainId, duplicates: duplicateIds, choose, confirm: confirmed });
  async function draw() {
    let plan;
    try {
      plan = await api("POST", "/api/merges/preview", body());
    } catch (e) {
      if (e.status !== 401) toast(e.message, e.code);
      return;
    }
    const records = plan.records || [];
    const head = h("tr", {}, h("th", { scope: "col", text: t("merge.field") }),
      ...records.map((r, i) => h("th", { scope: "col", text: i === 0 ? t("merge.main_record") : t("merge.duplicate") })),
      h("th", { scope: "col", text: t("merge.result") }));
    const rows = FIELDS.map((f) => h("tr", {}, h("th", { scope: "row", text: t(`merge.f.${f}`) }),
      ...records.map((r) => {
        const current = choose[f] ? choose[f] === r.id
          : records.find((x) => (x[f] ?? null) === (plan.result[f] ?? null)) === r;
        const radio = h("input", { type: "radio", name: `merge-${f}`, value: r.id, checked: current,
          "aria-label": `${t(`merge.f.${f}`)}: ${shown(f, r[f])}`,
          onchange: () => { choose[f] = r.id; draw(); } });
        return h("td", {}, h("label", { class: "merge-cell" }, radio, h("span", { text: shown(f, r[f]) })));
      }),
      h("td", { class: "merge-result", text: shown(f, plan.result[f]) })));
    const contacts = ["phones", "emails"].map((key) => h("tr", {},
      h("th", { scope: "row", text: t(`merge.f.${key}`) }),
      ...records.map((r) => h("td", { text: (r[key] || []).map((c) => c.value).join(", ") || "—" })),
      h("td", { class: "merge-result", text: (plan.result[key] || []).map((c) => c.value).join(", ") || "—" })));
    const warnings = plan.warnings || [];
    const warn = warnings.length ? h("label", { class: "merge-warning check" },
      h("input", { type: "checkbox", id: "merge-confirm", checked: confirmed,
        onchange: (e) => { confirmed = e.target.checked; } }),
      h("span", { text: t("merge.takes", { who: [...new Set(warnings.map((w) => operatorName(w.operator)))].join(", ") }) }))
      : null;
    const go = h("button", { type: "button", id: "merge-go", class: "btn btn-primary", text: t("merge.go"),
      onclick: async () => {
        if (warnings.length && !confirmed) { toast(t("merge.confirm_first")); return; }
        try {
          await api("POST", "/api/merges", body());
          box.hidden = true;
          toast(t("merge.done"));
          done();
        } catch (e) {
          if (e.status !== 401) toast(e.message, e.code);
        }
      } });
    const cancel = h("button", { type: "button", class: "btn", text: t("dup.cancel"), onclick: () => { box.hidden = true; } });
    box.replaceChildren(
      h("h2", { text: t("merge.title") }),
      h("p", { class: "muted", text: t("merge.hint") }),
      h("div", { class: "merge-scroll" }, h("table", { class: "merge-table" }, h("thead", {}, head), h("tbody", {}, rows, contacts))),
      warn, h("div", { class: "dup-actions" }, go, cancel));
    box.hidden = false;
  }
  await draw();
  box.scrollIntoView({ block: "start" });
}

/** The merge history into `list` (admins); `current()` says whether the answer is still wanted. */
export async function renderJournal(list, current) {
  let merges;
  try {
    merges = (await api("GET", "/api/merges")).merges || [];
  } catch (e) {
    if (e.status !== 401 && current()) $("dup-error").textContent = t("dup.failed", { message: e.message });
    return;
  }
  if (!current()) return;
  if (!merges.length) { list.replaceChildren(h("p", { class: "muted dup-empty", text: t("merge.no_history") })); return; }
  list.replaceChildren(...merges.map((m) => {
    const undo = h("button", { type: "button", class: "btn", text: t("merge.undo"),
      onclick: async () => {
        try {
          await api("POST", `/api/merges/${encodeURIComponent(m.id)}/undo`);
          toast(t("merge.undone"));
          renderJournal(list, current);
        } catch (e) {
          if (e.status !== 401) toast(e.message, e.code);
        }
      } });
    const what = t("merge.entry", {
      main: m.main.name || m.main.id,
      others: m.duplicates.map((d) => d.name || d.id).join(", "),
      dialogs: m.duplicates.reduce((n, d) => n + d.dialogs, 0),
    });
    return h("article", { class: "dup-group merge-entry", "data-merge-id": m.id },
      h("div", { class: "dup-meta", text: `${clock(m.at)} · ${operatorName(m.by)}` }),
      h("div", { text: what }),
      m.undone_at ? h("div", { class: "muted", text: t("merge.undone_by", { who: operatorName(m.undone_by), time: clock(m.undone_at) }) })
        : h("div", { class: "dup-actions" }, undo));
  }));
}
