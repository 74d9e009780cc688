/* The console's language: English or Russian (strings/en.js, strings/ru.js), as the operator chose it on this
   browser, else the browser's own languages, else English. Texts are put in with textContent, never as HTML. */

import en from "./strings/en.js";
import ru from "./strings/ru.js";

const LANGS = { en, ru };
const KEY = "openlines.console.lang";

export const LANGUAGES = Object.keys(LANGS);

function chosen() {
  try {
    const saved = localStorage.getItem(KEY);
    if (saved && LANGS[saved]) return saved;
  } catch { /* storage off: the browser decides */ }
  const wanted = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language || "en"];
  for (const tag of wanted) {
    const base = String(tag || "").toLowerCase().split("-")[0];
    if (LANGS[base]) return base;
  }
  return "en";
}

let current = chosen();
const listeners = [];

export const language = () => current;

/** The text of `key` in the current language (English when missing), with {name} filled from `params`. */
export function t(key, params) {
  const s = LANGS[current][key] ?? en[key] ?? key;
  if (!params) return s;
  return s.replace(/\{(\w+)\}/g, (m, k) => (Object.prototype.hasOwnProperty.call(params, k) ? String(params[k]) : m));
}

/** A number as the operator reads them (4,000 / 4 000). */
export const num = (n) => Number(n).toLocaleString(current);

/**
 * What a server error says to the operator. The server speaks English: in English its own (more precise) message,
 * in another language our text for the code when we have one, else the server's message.
 */
export function errorText(code, message, params) {
  const key = `error.${code}`;
  if (current !== "en" && LANGS[current][key]) return t(key, params);
  return message || (en[key] ? t(key, params) : String(code || t("toast.default")));
}

/** Fill the page's fixed texts: data-i18n (text), data-i18n-placeholder / -title / -aria-label (attributes). */
export function applyStatic(root = document) {
  document.documentElement.lang = current;
  root.querySelectorAll("[data-i18n]").forEach((n) => { n.textContent = t(n.dataset.i18n); });
  for (const attr of ["placeholder", "title", "aria-label"]) {
    root.querySelectorAll(`[data-i18n-${attr}]`).forEach((n) => n.setAttribute(attr, t(n.getAttribute(`data-i18n-${attr}`))));
  }
  root.querySelectorAll("select.lang-select").forEach((sel) => { sel.value = current; });
}

/** Views that draw texts at run time redraw when the language changes. */
export function onLanguage(fn) { listeners.push(fn); }

export function setLanguage(lang) {
  if (!LANGS[lang] || lang === current) return;
  current = lang;
  try { localStorage.setItem(KEY, lang); } catch { /* remembered for this page only */ }
  applyStatic();
  listeners.forEach((fn) => fn());
}

// Every language picker (the login card's, the top bar's) offers each language in its own words.
document.querySelectorAll("select.lang-select").forEach((sel) => {
  sel.replaceChildren(...LANGUAGES.map((l) => {
    const o = document.createElement("option");
    o.value = l;
    o.textContent = LANGS[l]["lang.name"];
    return o;
  }));
  sel.addEventListener("change", () => setLanguage(sel.value));
});
applyStatic();
