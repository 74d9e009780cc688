/* The lead card's status scale (the pipeline's working steps, the lead's own lit up to where it is; won or rejected
   shown as the end it reached) and its history (every status and responsible change: who, when, from → to, why). */

import { $, h } from "./dom.js";
import { clock } from "./format.js";
import { t } from "./i18n.js";
import { operatorName, state } from "./store.js";

/** A status's name and colour from GET /api/meta's pipeline (an unknown one: its id, grey). */
export function statusInfo(id) {
  const s = (state.meta.pipeline || []).find((x) => x.id === id);
  return s || { id, name: id || "", color: "#94a3b8", kind: "work" };
}

/** The statuses of a lead's pipeline: its line's own (`lines[].crm.statuses`, the line of its latest dialog), or
 * every status. */
export function leadPipeline(lead) {
  const all = state.meta.pipeline || [];
  const line = ((lead && lead.dialogs) || [])[0];
  const own = line && (state.meta.lines.find((l) => l.id === line.line_id) || {}).statuses;
  return own && own.length ? own.map((id) => all.find((s) => s.id === id)).filter(Boolean) : all;
}

export function renderScale(lead) {
  const pipeline = leadPipeline(lead);
  const current = statusInfo(lead.status);
  const steps = pipeline.filter((s) => s.kind === "work");
  const at = steps.findIndex((s) => s.id === lead.status);
  const reached = current.kind === "work" ? at : steps.length - 1;
  // colours through the CSSOM (the CSP refuses style attributes)
  const coloured = (node, color) => { node.style.setProperty("--step", color); return node; };
  const items = steps.map((s, i) => {
    const li = h("li", {
      class: "scale-step" + (i <= reached ? " is-reached" : "") + (s.id === lead.status ? " is-current" : ""),
      title: s.name, "aria-current": s.id === lead.status ? "step" : null,
    }, h("span", { class: "scale-name", text: s.name }));
    return i <= reached ? coloured(li, current.kind === "rejected" ? "#94a3b8" : s.color) : li;
  });
  if (current.kind !== "work") {
    items.push(coloured(h("li", { class: "scale-step scale-end is-current is-reached", "data-kind": current.kind,
      "aria-current": "step" }, h("span", { class: "scale-name", text: current.name })), current.color));
  }
  $("lead-scale").replaceChildren(...items);
}

function who(login) { return login ? operatorName(login) : t("history.routing"); }

function shown(kind, value) {
  if (value == null || value === "") return t("lead.nobody");
  return kind === "status" ? statusInfo(value).name : operatorName(value);
}

export function renderHistory(lead) {
  const events = Array.isArray(lead.history) ? lead.history : [];
  $("lead-history").replaceChildren(...(events.length ? events.map((e) => h("li", { "data-kind": e.kind },
    h("span", { class: "ld-when", text: clock(e.at) }),
    h("span", { class: "history-what", text: t(`history.${e.kind === "status" ? "status" : "responsible"}`, {
      from: shown(e.kind, e.from), to: shown(e.kind, e.to), who: who(e.by) }) }),
    e.reason ? h("span", { class: "history-reason", text: e.reason }) : null,
  )) : [h("li", { class: "muted", text: t("history.none") })]));
}
