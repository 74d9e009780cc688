/* "Write again": a closed dialog offers to reopen it (the console's `reopen` command) instead of a dead reply box. */

import { $ } from "./dom.js";
import { language, t } from "./i18n.js";
import { sendFrame } from "./socket.js";
import { myLogin, state } from "./store.js";

const CODES = new Set(["bad_state", "customer_busy", "consent_denied", "forbidden", "not_found"]);

let asked = null; // the dialog we sent `reopen` for, until it comes back assigned or is refused

/** The header decides: a closed dialog shows "Write again" in place of the reply box. */
export function showReopen(d) {
  const closed = !!d && d.state === "closed";
  $("reply-form").hidden = closed;
  $("reopen-box").hidden = !closed;
  if (!d || d.id !== asked) { $("reopen-error").textContent = ""; }
  if (closed) {
    $("btn-reopen").disabled = asked === d.id;
    $("btn-reopen").textContent = asked === d.id ? t("reopen.sending") : t("reopen.button");
  } else if (asked && d && d.id === asked && d.state === "assigned" && d.operator === myLogin()) {
    asked = null;
    $("reply-text").focus();
  }
}

/** Our `reopen` was refused: say why, politely (the server's words in English, ours in other languages). */
export function reopenRefused(f) {
  if (!asked || (f.dialog_id ? f.dialog_id !== asked : !CODES.has(f.code))) return false;
  asked = null;
  const own = CODES.has(f.code) ? t(`reopen.error.${f.code}`) : t("reopen.error.other");
  $("reopen-error").textContent = language() === "en" && f.message ? f.message : own;
  $("btn-reopen").disabled = false;
  $("btn-reopen").textContent = t("reopen.button");
  return true;
}

/** Sign-out or another dialog: nothing is pending any more. */
export function forgetReopen() { asked = null; $("reopen-error").textContent = ""; }

$("btn-reopen").addEventListener("click", () => {
  const id = state.selectedId;
  if (!id) return;
  $("reopen-error").textContent = "";
  if (!sendFrame({ type: "reopen", dialog_id: id })) return;
  asked = id;
  $("btn-reopen").disabled = true;
  $("btn-reopen").textContent = t("reopen.sending");
});
