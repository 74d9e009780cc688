/*
 * The quick answers panel: the operator's own answers (added, edited, deleted after a confirmation) and the ones
 * their lines share (read-only, named by their line), with a search over both. The reply box's popup is told to
 * fetch again after every change.
 */

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { num, onLanguage, t } from "./i18n.js";
import { allAnswers, failureText, forgetAnswers, matches } from "./quick-answers.js";
import { maxMessageLength, state } from "./store.js";

const panel = $("qa-panel");
const form = $("qa-form");

let answers = [];
let loaded = false;
let loadFailure = "";
let editing = null; // the answer being edited, {} for a new one, null when the form is closed
let confirming = null; // the id of the answer whose delete waits for a yes
let loadSeq = 0;

/** Open the panel (from the top bar) and fetch the answers afresh. */
export function openQuickPanel() {
  if (!panel.open) panel.showModal();
  $("qa-search").focus();
  render(); // "Loading…" the first time, the last list until the fresh one comes
  load();
}

/** Sign-out: the panel closes and forgets everything, the next operator starts from nothing. */
export function resetQuickPanel() {
  if (panel.open) panel.close();
  loadSeq++;
  answers = [];
  loaded = false;
  $("qa-search").value = "";
  $("qa-status").textContent = "";
  closeForm();
  render();
}

async function load() {
  const seq = ++loadSeq;
  try {
    const got = await allAnswers();
    if (seq !== loadSeq) return;
    answers = got;
    loadFailure = "";
  } catch (e) {
    if (seq !== loadSeq) return;
    loadFailure = t("qa.load_failed", { message: e.message });
  }
  loaded = true;
  render();
}

const lineName = (a) => {
  const line = state.meta.lines.find((l) => l.id === a.line_id);
  return a.line_name || (line && line.name) || a.line_id || "";
};

function render() {
  const q = $("qa-search").value;
  const shown = answers.filter((a) => matches(a, q));
  const personal = shown.filter((a) => a.scope === "personal");
  const shared = shown.filter((a) => a.scope !== "personal");
  const empty = (all, none) => h("li", { class: "qa-empty", text: !loaded ? t("qa.loading") : loadFailure
    || (all.length ? t("qa.no_match") : none) }); // nothing at all, or nothing the search leaves
  $("qa-personal").replaceChildren(...(personal.length ? personal.map(item)
    : [empty(answers.filter((a) => a.scope === "personal"), t("qa.personal_none"))]));
  $("qa-shared").replaceChildren(...(shared.length ? shared.map(item)
    : [empty(answers.filter((a) => a.scope !== "personal"), t("qa.shared_none"))]));
}

function item(a) {
  const mine = a.scope === "personal";
  const actions = !mine ? null : confirming === a.id
    ? h("div", { class: "qa-confirm", role: "group", "aria-label": t("qa.delete_confirm", { title: a.title }) },
      h("span", { text: t("qa.delete_confirm", { title: a.title }) }),
      h("button", { type: "button", class: "btn btn-danger", "data-action": "confirm-delete", text: t("qa.delete"),
        onclick: () => remove(a) }),
      h("button", { type: "button", class: "btn", "data-action": "cancel-delete", text: t("qa.cancel"),
        onclick: () => { confirming = null; render(); } }))
    : h("div", { class: "qa-item-actions" },
      h("button", { type: "button", class: "btn", "data-action": "edit", text: t("qa.edit"),
        "aria-label": t("qa.edit_named", { title: a.title }), onclick: () => startEdit(a) }),
      h("button", { type: "button", class: "btn btn-ghost btn-danger", "data-action": "delete", text: t("qa.delete"),
        "aria-label": t("qa.delete_named", { title: a.title }),
        onclick: () => { confirming = a.id; render(); focusIn(a.id, "[data-action=cancel-delete]"); } }));
  return h("li", { class: "qa-item", "data-qa-id": a.id, "data-scope": a.scope },
    h("div", { class: "qa-item-head" },
      h("span", { class: "qa-item-title", text: a.title }),
      a.shortcut ? h("span", { class: "qa-shortcut", text: `/${a.shortcut}` }) : null,
      mine ? null : h("span", { class: "chip qa-line", title: t("qa.shared_in"), text: lineName(a) })),
    h("div", { class: "qa-item-text", text: a.text }),
    actions);
}

const focusIn = (id, selector) => {
  const n = $("qa-lists").querySelector(`[data-qa-id="${CSS.escape(id)}"] ${selector}`);
  if (n) n.focus();
};

// ---- adding and editing one's own answers

function startEdit(answer) {
  editing = answer || {};
  confirming = null;
  $("qa-form-heading").textContent = answer ? t("qa.form_edit") : t("qa.form_new");
  $("qa-f-title").value = answer ? answer.title : "";
  $("qa-f-shortcut").value = (answer && answer.shortcut) || "";
  $("qa-f-text").value = answer ? answer.text : "";
  showFormError("");
  $("qa-status").textContent = "";
  form.hidden = false;
  render();
  form.scrollIntoView({ block: "nearest" });
  $("qa-f-title").focus();
}

function closeForm() {
  editing = null;
  form.hidden = true;
  form.reset();
  showFormError("");
}

function showFormError(text, code) {
  const el = $("qa-form-error");
  el.textContent = text;
  if (code) el.dataset.code = code; else delete el.dataset.code;
}

/** What the form says, or the first thing the operator must fix before the server is asked. */
function fields() {
  const title = $("qa-f-title").value.trim();
  const text = $("qa-f-text").value.trim();
  // "/greet" is how the operator types it in the reply box: the slash is not part of the shortcut
  const shortcut = $("qa-f-shortcut").value.trim().replace(/^\//, "");
  if (!title) return { problem: t("qa.need_title"), field: "qa-f-title" };
  if (!text) return { problem: t("qa.need_text"), field: "qa-f-text" };
  if ([...text].length > maxMessageLength()) {
    return { problem: t("qa.text_too_long", { max: num(maxMessageLength()) }), field: "qa-f-text" };
  }
  return { title, text, shortcut: shortcut || null };
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!editing) return;
  const f = fields();
  if (f.problem) { showFormError(f.problem, "incomplete"); $(f.field).focus(); return; }
  const was = editing;
  let body;
  if (was.id) { // only what changed; a cleared shortcut is null (removed)
    body = {};
    for (const k of ["title", "text", "shortcut"]) if ((was[k] ?? null) !== f[k]) body[k] = f[k];
    if (!Object.keys(body).length) { closeForm(); return; }
  } else {
    body = { title: f.title, text: f.text };
    if (f.shortcut) body.shortcut = f.shortcut;
  }
  $("qa-save").disabled = true;
  showFormError("");
  try {
    if (was.id) await api("PATCH", `/api/quick-answers/${encodeURIComponent(was.id)}`, body);
    else await api("POST", "/api/quick-answers", body);
    if (editing !== was) return;
    closeForm();
    changed(t("qa.saved"));
  } catch (ex) {
    if (ex.status !== 401 && editing === was) showFormError(failureText(ex), ex.code);
  } finally {
    $("qa-save").disabled = false;
  }
});

async function remove(a) {
  try {
    await api("DELETE", `/api/quick-answers/${encodeURIComponent(a.id)}`);
    confirming = null;
    if (editing && editing.id === a.id) closeForm();
    changed(t("qa.deleted"));
    $("qa-search").focus();
  } catch (ex) {
    if (ex.status === 401) return;
    confirming = null;
    $("qa-status").textContent = failureText(ex);
    $("qa-status").dataset.code = ex.code;
    if (ex.code === "not_found") load(); // gone already (another tab): show the list as it is
    else render();
  }
}

/** After a change: the popup fetches again, the list reloads, the operator is told. */
function changed(message) {
  forgetAnswers();
  $("qa-status").textContent = message;
  delete $("qa-status").dataset.code;
  load();
}

// A placeholder button puts its token where the caret is in the text.
form.querySelectorAll("[data-placeholder]").forEach((b) => b.addEventListener("click", () => {
  const text = $("qa-f-text");
  const token = b.dataset.placeholder;
  const at = text.selectionStart ?? text.value.length;
  text.setRangeText(token, at, text.selectionEnd ?? at, "end");
  text.focus();
}));

$("qa-open").addEventListener("click", openQuickPanel);
$("qa-open-side").addEventListener("click", openQuickPanel);
$("qa-close").addEventListener("click", () => panel.close());
$("qa-new").addEventListener("click", () => startEdit(null));
$("qa-cancel").addEventListener("click", closeForm);
$("qa-search").addEventListener("input", render);
// A click on the dimmed page beside the panel closes it, as Esc does.
panel.addEventListener("click", (e) => { if (e.target === panel) panel.close(); });
onLanguage(() => {
  if (editing) $("qa-form-heading").textContent = editing.id ? t("qa.form_edit") : t("qa.form_new");
  render();
});
