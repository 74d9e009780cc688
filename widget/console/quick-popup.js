/*
 * The quick answers popup of the reply box: "/" as the first character lists the dialog's quick answers, the text
 * after it filters them, and the chosen one's text (its placeholders filled for this dialog) takes the place of
 * the "/filter". A listbox whose active option the reply box names (aria-activedescendant), so focus never leaves
 * the text.
 */

import { $, h } from "./dom.js";
import { onLanguage, t } from "./i18n.js";
import { answersFor, ranked } from "./quick-answers.js";
import { dialogName, state } from "./store.js";

const box = $("reply-text");
const popup = $("qa-popup");
const list = $("qa-options");
const note = $("qa-popup-note");

let open = false;
let dismissed = false; // Esc (or an insert) closed it: it stays closed until the "/" is typed again
let answers = null; // the selected dialog's answers; null while they load
let failure = ""; // why they did not load
let shown = []; // the answers the filter leaves, as listed
let active = 0; // the index in `shown` that Enter inserts
let loadSeq = 0;

const trigger = () => box.value.startsWith("/") && !box.value.includes("\n");
const query = () => box.value.slice(1);

/** Open, refilter or close the popup after the reply box's text changed. */
export function quickInput() {
  if (!trigger()) { dismissed = false; closeQuick(); return; }
  if (dismissed || box.disabled || !state.selectedId) return;
  if (!open) start();
  else render();
}

function start() {
  open = true;
  active = 0;
  answers = null;
  failure = "";
  popup.hidden = false;
  box.setAttribute("aria-controls", "qa-options");
  box.setAttribute("aria-autocomplete", "list");
  render();
  const seq = ++loadSeq;
  const id = state.selectedId;
  answersFor(id, dialogName(state.selected)).then((got) => {
    if (seq !== loadSeq || !open || id !== state.selectedId) return;
    answers = got;
    render();
  }, (e) => {
    if (seq !== loadSeq || !open) return;
    failure = t("qa.load_failed", { message: e.message });
    render();
  });
}

/** Close it, leaving the text as it is (a dialog switch, a send, sign-out, Esc). */
export function closeQuick() {
  if (!open) return;
  open = false;
  loadSeq++;
  popup.hidden = true;
  list.replaceChildren();
  shown = [];
  box.removeAttribute("aria-activedescendant");
  box.removeAttribute("aria-controls");
  box.removeAttribute("aria-autocomplete");
}

function render() {
  if (!open) return;
  const before = shown[active];
  shown = answers ? ranked(answers, query()) : [];
  const kept = shown.indexOf(before); // the selection stays on its answer while the filter still lists it
  active = kept >= 0 ? kept : 0;
  list.replaceChildren(...shown.map((a, i) => h("li", {
    id: `qa-opt-${i}`, role: "option", class: "qa-opt", "aria-selected": i === active ? "true" : "false",
    "data-qa-id": a.id, "data-scope": a.scope,
    onmousedown: (e) => e.preventDefault(), // keep the focus (and the caret) in the reply box
    onclick: () => insert(a),
  },
  h("span", { class: "qa-opt-head" },
    h("span", { class: "qa-opt-title", text: a.title }),
    a.shortcut ? h("span", { class: "qa-opt-shortcut", text: `/${a.shortcut}` }) : null),
  h("span", { class: "qa-opt-text", text: oneLine(a.filled ?? a.text) }))));
  list.hidden = !shown.length;
  note.textContent = failure || (!answers ? t("qa.loading") : !shown.length
    ? (answers.length ? t("qa.no_match") : t("qa.none_yet")) : "");
  note.hidden = !note.textContent;
  select(active);
}

const oneLine = (s) => String(s ?? "").replace(/\s+/g, " ").trim();

function select(i) {
  if (!shown.length) { box.removeAttribute("aria-activedescendant"); return; }
  active = (i + shown.length) % shown.length;
  list.querySelectorAll("[role=option]").forEach((n, j) => n.setAttribute("aria-selected", j === active ? "true" : "false"));
  const opt = $(`qa-opt-${active}`);
  box.setAttribute("aria-activedescendant", opt.id);
  // scrolled within the list only: scrollIntoView would move the page too (a phone's keyboard leaves little room)
  if (opt.offsetTop < list.scrollTop) list.scrollTop = opt.offsetTop;
  else if (opt.offsetTop + opt.offsetHeight > list.scrollTop + list.clientHeight) {
    list.scrollTop = opt.offsetTop + opt.offsetHeight - list.clientHeight;
  }
}

function insert(answer) {
  dismissed = true;
  closeQuick();
  box.value = answer.filled ?? answer.text;
  box.setSelectionRange(box.value.length, box.value.length);
  box.focus();
  box.dispatchEvent(new Event("input", { bubbles: true })); // the draft and the length counter follow
}

/** The reply box's keydown while the popup is open: true when the popup used the key (then nothing else may). */
export function quickKeydown(e) {
  if (!open || e.isComposing) return false;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    select(active + (e.key === "ArrowDown" ? 1 : -1));
    return true;
  }
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault(); // never sends the "/filter"
    if (shown.length) insert(shown[active]);
    return true;
  }
  if (e.key === "Escape") {
    e.preventDefault();
    dismissed = true;
    closeQuick();
    return true;
  }
  return false;
}

box.addEventListener("input", quickInput);
box.addEventListener("blur", closeQuick);
box.addEventListener("focus", quickInput); // back in a "/filter" left by a click elsewhere: the list again
popup.addEventListener("mousedown", (e) => e.preventDefault()); // scrolling the list keeps the focus too
onLanguage(render);
