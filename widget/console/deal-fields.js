/* Custom fields (crm.fields in the YAML, GET /api/meta `fields`): an input for each field's type, and the value it
   holds as the server takes it. Values are put in as text or as form values, never as HTML. */

import { uploadTo } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { toast } from "./toast.js";

/** The declared fields of leads, contacts or deals. */
export const fieldsOf = (meta, entity) => ((meta && meta.fields && meta.fields[entity]) || []);

/** A label and an input for one field, filled with `value`; the input carries data-field for `readFields`.
 * A file field needs `record` ({path: "/api/deals/ID", done}): its file is uploaded at once and `done` called. */
export function fieldInput(spec, value, prefix, disabled, record) {
  const id = `${prefix}-${spec.id}`;
  const label = h("label", { for: id, text: spec.name || spec.id });
  let input;
  if (spec.type === "boolean") {
    input = h("select", { id },
      h("option", { value: "", text: "—" }),
      h("option", { value: "true", text: t("deal.yes") }),
      h("option", { value: "false", text: t("deal.no") }));
    input.value = value === true ? "true" : value === false ? "false" : "";
  } else if (spec.type === "list" && spec.multiple) {
    input = h("select", { id, multiple: true, size: String(Math.min(4, spec.values.length)) },
      ...spec.values.map((v) => h("option", { value: v, text: v })));
    const chosen = new Set(Array.isArray(value) ? value : []);
    for (const o of input.options) o.selected = chosen.has(o.value);
  } else if (spec.type === "list") {
    input = h("select", { id }, h("option", { value: "", text: "—" }), ...spec.values.map((v) => h("option", { value: v, text: v })));
    input.value = value ?? "";
  } else if (spec.type === "address") {
    input = h("textarea", { id, rows: "2", maxlength: "2000" });
    input.value = value ?? "";
  } else if (spec.type === "file") {
    return [label, fileInput(spec, value, id, disabled, record)];
  } else {
    const type = { number: "number", date: "date", datetime: "datetime-local", link: "url" }[spec.type] || "text";
    input = h("input", { id, type, autocomplete: "off", ...(type === "number" ? { step: "any" } : {}) });
    input.value = spec.type === "datetime" && value ? String(value).slice(0, 16) : (value ?? "");
  }
  input.dataset.field = spec.id;
  input.dataset.type = spec.type;
  input.disabled = !!disabled;
  return [label, input];
}

/** The fields' values as typed, for a PATCH: only those that differ from `current` (cleared ones as null). */
export function readFields(container, current) {
  const out = {};
  for (const input of container.querySelectorAll("[data-field]")) {
    if (input.dataset.readonly) continue;
    const key = input.dataset.field;
    let value;
    if (input.multiple) value = [...input.selectedOptions].map((o) => o.value);
    else if (input.dataset.type === "boolean") value = input.value === "" ? null : input.value === "true";
    else if (input.dataset.type === "number") value = input.value === "" ? null : Number(input.value);
    else if (input.dataset.type === "datetime") value = input.value ? `${input.value}${zone()}` : null;
    else value = input.value.trim() === "" ? null : input.value.trim();
    const before = current ? current[key] : undefined;
    const same = JSON.stringify(value ?? null) === JSON.stringify(before ?? null)
      || (Array.isArray(value) && !value.length && before == null)
      || (input.dataset.type === "datetime" && value && before && String(before).slice(0, 16) === input.value);
    if (!same) out[key] = Array.isArray(value) && !value.length ? null : value;
  }
  return out;
}

/** The browser's UTC offset as ±HH:MM (a time typed here is a time here). */
function zone() {
  const m = -new Date().getTimezoneOffset();
  const sign = m >= 0 ? "+" : "-";
  const a = Math.abs(m);
  return `${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
}

/** A file field: a link to its file (downloaded, never opened as a page), and a picker that uploads at once. */
function fileInput(spec, value, id, disabled, record) {
  const base = record ? `${record.path}/fields/${encodeURIComponent(spec.id)}/file` : null;
  const link = value && value.name && base
    ? h("a", { class: "field-file", href: base, download: value.name, text: value.name })
    : h("span", { class: "muted", text: t("field.no_file") });
  const pick = h("input", { id, type: "file", disabled: disabled || !base, "aria-label": spec.name || spec.id });
  pick.dataset.readonly = "1"; // not a value readFields sends: the upload sets it
  pick.addEventListener("change", async () => {
    const file = pick.files && pick.files[0];
    if (!file) return;
    try {
      const res = await uploadTo(base, file);
      if (!res.ok) { toast(res.data.message || t("net.failed"), res.data.code); return; }
      toast(t("field.uploaded", { name: file.name }));
      if (record.done) record.done();
    } catch (e) { toast(e.message, e.code); }
  });
  return h("div", { class: "field-file-row" }, link, pick);
}
