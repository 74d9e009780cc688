/* The toast: one dismissible line for errors the operator should see, gone after ten seconds. */

import { $ } from "./dom.js";
import { t } from "./i18n.js";

const toastEl = $("toast");
let toastTimer = null;

/** Show a message; `code` lands in data-code so tests and styles can tell errors apart. */
export function toast(message, code) {
  toastEl.textContent = String(message || t("toast.default"));
  if (code) toastEl.dataset.code = code; else delete toastEl.dataset.code;
  toastEl.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(hideToast, 10000);
}

function hideToast() { toastEl.hidden = true; clearTimeout(toastTimer); }

toastEl.addEventListener("click", hideToast);
toastEl.addEventListener("keydown", (e) => { if (e.key === "Escape" || e.key === "Enter") hideToast(); });
