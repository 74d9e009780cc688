/* The customer's rating of the answer (docs/protocol.md, "rating"): how a score reads (👍 / 👎, or 4 of 5 stars),
   the badge in the dialog's header and on the lead card's dialogs, kept current on `dialog.rated`. The customer's
   comment is put in as text only, never as HTML. */

import { $, h } from "./dom.js";
import { t } from "./i18n.js";
import { onFrame } from "./socket.js";
import { notify, state } from "./store.js";

/** The scale a score was given on: the event's or frame's own, else its line's (GET /api/meta), else by value. */
export function scaleOf(lineId, score, scale) {
  if (scale === "like" || scale === "five") return scale;
  const line = state.meta.lines.find((l) => l.id === lineId);
  if (line && (line.rating === "like" || line.rating === "five")) return line.rating;
  return score === 0 || score === 1 ? "like" : "five";
}

/** "👍 Helpful" / "👎 Not helpful", or "★★★★☆ 4/5". */
export function scoreText(score, scale) {
  const n = Number(score);
  if (scale === "like") return n ? t("rating.like") : t("rating.dislike");
  const stars = Math.max(0, Math.min(5, n));
  return `${"★".repeat(stars)}${"☆".repeat(5 - stars)} ${t("rating.of_five", { score: n })}`;
}

/** The thread's system line for a `rated` event: "Rated: 👍", "Rated 4 of 5 — «comment»". */
export function ratedText(data) {
  const d = data || {};
  const scale = scaleOf(null, d.score, d.scale);
  const line = scale === "like" ? t("sys.rated_like", { face: scoreText(d.score, "like") })
    : t("sys.rated_five", { score: Number(d.score) });
  return d.comment ? t("sys.rated_comment", { line, comment: String(d.comment) }) : line;
}

/** A small badge with a dialog's rating (null when it is not rated), its comment in the tooltip and beside it. */
export function ratingBadge(d, { withComment = false } = {}) {
  if (!d || d.rating == null) return null;
  const scale = scaleOf(d.line_id, d.rating, d.rating_scale);
  const label = t("rating.label", { rating: scoreText(d.rating, scale) });
  return h("span", {
    class: "rating-badge", "data-rating": String(d.rating), "data-scale": scale,
    title: d.rating_comment ? `${label} — ${d.rating_comment}` : label,
  }, h("span", { class: "rating-score", text: label }),
  withComment && d.rating_comment ? h("span", { class: "rating-comment", text: `«${d.rating_comment}»` }) : null);
}

/** The header's rating (dialog.js calls it with the selected dialog). */
export function renderHeaderRating(d) {
  const slot = $("dlg-rating");
  if (!slot) return;
  const badge = ratingBadge(d, { withComment: true });
  slot.replaceChildren(...(badge ? [badge] : []));
  slot.hidden = !badge;
}

// ---- live: the customer rated a dialog this console shows (the header, the lists, the lead card)

onFrame("dialog.rated", (f) => {
  if (!f || typeof f.dialog_id !== "string") return;
  const fields = { rating: f.rating, rating_comment: f.comment ?? null, rated_at: f.rated_at ?? null,
    rating_scale: f.scale };
  const listed = state.dialogs.get(f.dialog_id);
  if (listed) state.dialogs.set(f.dialog_id, { ...listed, ...fields });
  if (state.selected && state.selected.id === f.dialog_id) {
    state.selected = { ...state.selected, ...fields };
    notify("header");
  }
  const lead = state.lead;
  if (lead && Array.isArray(lead.dialogs) && lead.dialogs.some((d) => d.id === f.dialog_id)) {
    state.lead = { ...lead, dialogs: lead.dialogs.map((d) => (d.id === f.dialog_id ? { ...d, ...fields } : d)) };
    notify("lead");
  }
});
