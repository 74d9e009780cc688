/* How times and previews read in the console: clock times, "5 min" ages, offer countdowns, one-line previews. */

import { language, t } from "./i18n.js";

const pad2 = (n) => String(n).padStart(2, "0");

export const toDate = (ts) => { const d = ts ? new Date(ts) : null; return d && !isNaN(d.getTime()) ? d : null; };

/** Local HH:MM, with the date in front when it is not today. */
export function clock(ts) {
  const d = toDate(ts);
  if (!d) return "";
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  return d.toDateString() === new Date().toDateString()
    ? hm : `${d.toLocaleDateString(language(), { day: "numeric", month: "short" })} ${hm}`;
}

/** "now", "5 min", "3 h", "12 Nov". */
export function relative(ts) {
  const d = toDate(ts);
  if (!d) return "";
  const s = Math.max(0, (Date.now() - d.getTime()) / 1000);
  if (s < 45) return t("time.now");
  if (s < 3600) return t("time.min", { n: Math.round(s / 60) });
  if (s < 86400) return t("time.hours", { n: Math.floor(s / 3600) });
  return d.toLocaleDateString(language(), { day: "numeric", month: "short" });
}

/** "1:05 left" until an offer's deadline, then "expired". */
export function countdown(deadline) {
  const d = toDate(deadline);
  if (!d) return "";
  const left = Math.ceil((d.getTime() - Date.now()) / 1000);
  if (left <= 0) return t("time.expired");
  return t("time.left", { m: Math.floor(left / 60), ss: pad2(left % 60) });
}

export const truncate = (s, n) => { s = String(s ?? "").replace(/\s+/g, " ").trim(); return s.length > n ? s.slice(0, n - 1) + "…" : s; };
