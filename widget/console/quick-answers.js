/*
 * Quick answers (canned responses): fetching them, the per-dialog cache the reply box's popup reads, and the one
 * way of matching a typed filter that the popup and the panel share.
 */

import { api } from "./api.js";
import { language, t } from "./i18n.js";

// dialog id -> {name, answers}: the server fills each answer's placeholders for that dialog, and the customer's
// name among them, so a renamed lead's dialog is fetched again.
const perDialog = new Map();

/** The quick answers for a dialog, with `filled` texts (cached for the session, per dialog). */
export function answersFor(dialogId, customerName) {
  let entry = perDialog.get(dialogId);
  if (!entry || entry.name !== customerName) {
    const answers = api("GET", `/api/quick-answers?dialog_id=${encodeURIComponent(dialogId)}`)
      .then((res) => (Array.isArray(res.quick_answers) ? res.quick_answers : []));
    entry = { name: customerName, answers };
    perDialog.set(dialogId, entry);
    // a failure is not remembered: the next "/" asks again
    answers.catch(() => { if (perDialog.get(dialogId) === entry) perDialog.delete(dialogId); });
  }
  return entry.answers;
}

/** Every quick answer the operator may use: their own and their lines' shared ones (no placeholders filled). */
export async function allAnswers() {
  const res = await api("GET", "/api/quick-answers");
  return Array.isArray(res.quick_answers) ? res.quick_answers : [];
}

/** The operator changed their answers (or signed out): every dialog's copy is stale. */
export function forgetAnswers() { perDialog.clear(); }

// Case and accents folded as the server's search does (router/rules/quick_answers.py): any script, ё finds е.
const fold = (s) => String(s ?? "").toLocaleLowerCase(language()).normalize("NFKD").replace(/\p{M}/gu, "");

/** Whether an answer matches a typed filter: every word of it in the title, the shortcut or the text. */
export function matches(answer, query) {
  const words = fold(query).split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const where = [answer.title, answer.shortcut, answer.filled, answer.text].map(fold).join("\n");
  return words.every((w) => where.includes(w));
}

/**
 * The answers a filter leaves, best first: a shortcut that starts with it, then a title that does, then the rest,
 * each group in the server's order (personal first, then by title).
 */
export function ranked(answers, query) {
  const q = fold(query).trim();
  const rank = (a) => (q && fold(a.shortcut).startsWith(q) ? 0 : q && fold(a.title).startsWith(q) ? 1 : 2);
  return answers.filter((a) => matches(a, query))
    .map((a, i) => ({ a, i, r: rank(a) }))
    .sort((x, y) => x.r - y.r || x.i - y.i)
    .map((x) => x.a);
}

/**
 * What a refused change of a quick answer says to the operator: the server's own (English, more precise) message
 * in English, our text for its code in another language when we have one.
 */
export function failureText(e) {
  const key = `qa.error.${e.code}`;
  const ours = t(key);
  if (language() !== "en" && ours !== key) return ours;
  return e.message || (ours !== key ? ours : t("toast.default"));
}
