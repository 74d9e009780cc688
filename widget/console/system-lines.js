/* The thread's system lines: what happened to the dialog (offers, takes, transfers, closing, auto-replies), as
   GET /api/dialogs/{id}/events tells it, localized; kept current on the open dialog's dialog.* frames. */

import { api } from "./api.js";
import { h } from "./dom.js";
import { clock } from "./format.js";
import { t } from "./i18n.js";
import { ratedText } from "./rating.js";
import { onFrame } from "./socket.js";
import { operatorName, state } from "./store.js";

const AUTO_REPLIES = new Set(["welcome", "off_hours", "no_answer", "closing", "rating"]);
const WITHDRAWALS = new Set(["taken", "skipped", "away", "expired", "transferred", "closed"]);

const names = (logins) => (Array.isArray(logins) && logins.length ? logins.map(operatorName).join(", ") : t("item.nobody"));

function lineName(id) {
  const l = state.meta.lines.find((x) => x.id === id);
  return (l && l.name) || id;
}

/** The sentence for one event, or null for kinds this console does not show. */
export function eventText(ev) {
  const data = (ev && ev.data) || {};
  const who = ev.operator ? operatorName(ev.operator) : "";
  switch (ev && ev.kind) {
    case "offered": return t("sys.offered", { names: names(data.operators) });
    case "withdrawn":
      return WITHDRAWALS.has(data.reason) ? t(`sys.withdrawn.${data.reason}`, { names: names(data.operators) })
        : t("sys.withdrawn", { names: names(data.operators) });
    case "queued": return t("sys.queued");
    case "assigned":
      if (data.how === "transfer") return t("sys.assigned", { name: who });
      if (data.how === "reopen") return t("sys.assigned_reopen", { name: who });
      if (data.previous && data.previous !== ev.operator) {
        return t("sys.taken_over", { name: who, previous: operatorName(data.previous) });
      }
      return data.how === "take" || data.how === "reply" ? t("sys.taken", { name: who }) : t("sys.assigned", { name: who });
    case "transferred": {
      const from = data.from ? operatorName(data.from) : "";
      const to = data.to_operator ? operatorName(data.to_operator) : t("sys.to_line", { line: lineName(data.to_line) });
      const line = from ? t("sys.transferred", { from, to }) : t("sys.transferred_to", { to });
      return data.note ? t("sys.with_note", { line, note: data.note }) : line;
    }
    case "closed": return who ? t("sys.closed_by", { name: who }) : t("sys.closed_auto");
    case "reopened": return who ? t("sys.reopened_by", { name: who }) : t("sys.reopened");
    case "auto_reply":
      return t("sys.auto_reply", { kind: AUTO_REPLIES.has(data.kind) ? t(`sys.auto.${data.kind}`) : String(data.kind || "") });
    case "no_answer": return t("sys.no_answer");
    case "rated": return ratedText(data);
    case "invited":
      return t(data.replies ? "sys.invited_replies" : "sys.invited", { name: who, guest: operatorName(data.guest) });
    case "left":
      return ev.operator === data.guest ? t("sys.left", { guest: operatorName(data.guest) })
        : t("sys.left_by", { name: who, guest: operatorName(data.guest) });
    default: return null;
  }
}

/** A small centred grey line for an event (null when the kind is not shown). */
export function renderEvent(ev) {
  const text = eventText(ev);
  if (!text) return null;
  return h("div", { class: "sys-line", "data-event": ev.id || null, "data-kind": ev.kind, "data-ts": ev.at || "" },
    h("span", { class: "sys-text", text }), h("span", { class: "sys-time", text: clock(ev.at) }));
}

/** The dialog's events, oldest first ([] when the server cannot say: the messages still show). */
export async function loadEvents(id) {
  try {
    const res = await api("GET", `/api/dialogs/${encodeURIComponent(id)}/events`);
    return Array.isArray(res.events) ? withoutSuperseded(res.events) : [];
  } catch {
    return [];
  }
}

/** The widget sends a score, then the comment to it: the first `rated` says nothing the second does not, so it
 * is left out (and taken off the thread when it was shown live). A re-rating with another score stays. */
function withoutSuperseded(events) {
  const gone = new Set();
  let last = null;
  for (const ev of events) {
    if (!ev || ev.kind !== "rated") continue;
    const before = (last && last.data) || {};
    if (last && !before.comment && before.score === (ev.data || {}).score) gone.add(last.id);
    last = ev;
  }
  for (const id of gone) document.querySelector(`#thread [data-event="${CSS.escape(String(id))}"]`)?.remove();
  return events.filter((ev) => !gone.has(ev && ev.id));
}

// ---- live: the open dialog's dialog.* frames bring its new events (fetched, so names and who-did-it are exact)

let insert = () => {}; // thread.js: put events not shown yet into the thread in time order
let timer = null;

/** thread.js hands over how events go into the thread. */
export function whenEvents(fn) { insert = fn; }

function refetch(f) {
  if (!f || f.dialog_id !== state.selectedId) return;
  clearTimeout(timer);
  timer = setTimeout(async () => {
    const id = state.selectedId;
    if (!id) return;
    const events = await loadEvents(id);
    if (id === state.selectedId) insert(events);
  }, 250);
}

for (const type of ["dialog.offered", "dialog.assigned", "dialog.transferred", "dialog.closed", "dialog.queued",
  "dialog.withdrawn", "dialog.invited", "dialog.left", "dialog.rated"]) {
  onFrame(type, refetch);
}
