"""PURE: the customer's rating of the answer — the line's scale, which ratings are taken, the question's text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from queues.messages import RATE_WITHIN as RATE_WITHIN  # the channels' rating questions work as long
from queues.messages import RATING_COMMENT_MAX, RATING_SCORES

Scale = Literal["like", "five"]
MAX_COMMENT = RATING_COMMENT_MAX
# C0 and C1 control characters and DEL, except tab and newline
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_QUESTIONS = {
    ("like", "en"): "Please rate the answer: did we help you?",
    ("like", "ru"): "Оцените, пожалуйста, ответ: мы вам помогли?",
    ("five", "en"): "Please rate the answer from 1 to 5.",
    ("five", "ru"): "Оцените, пожалуйста, ответ от 1 до 5.",
}


@dataclass(frozen=True, slots=True)
class RatingPolicy:
    """A line's rating: the scale, whether the customer may add a comment, the question (None: the default)."""

    scale: Scale = "like"
    comment: bool = False
    question: str | None = None


def scores(scale: Scale) -> tuple[int, ...]:
    """The scores of a scale: like/dislike is 1/0, five is 1..5."""
    return RATING_SCORES[scale]


def question_text(policy: RatingPolicy, language: str) -> str:
    """The question asked after the closing text: the line's own, else the default in the line's language."""
    if policy.question:
        return policy.question
    return _QUESTIONS.get((policy.scale, language), _QUESTIONS[(policy.scale, "en")])


def refusal(
    policy: RatingPolicy | None,
    *,
    score: object,
    state: str,
    closed_at: datetime | None,
    dialog_conversation: tuple[str, str, str],
    rater_conversation: tuple[str, str, str],
    now: datetime,
    asked: bool,
) -> str | None:
    """Why a rating is not taken (None: it is). Only the dialog's own conversation may rate it (a visitor can
    never rate someone else's dialog), once it was asked to (`asked`: the dialog holds the rating question), on its
    line's scale, while it is open (the customer wrote again after the question) or within RATE_WITHIN of its
    closing."""
    if dialog_conversation != rater_conversation:
        return "foreign_dialog"
    if policy is None:
        return "rating_off"
    if not asked:
        return "not_asked"
    if isinstance(score, bool) or not isinstance(score, int) or score not in scores(policy.scale):
        return "bad_score"
    if state == "closed" and (closed_at is None or now - closed_at > RATE_WITHIN):
        return "too_late"
    return None


def is_question(author_kind: object, author_id: object) -> bool:
    """Whether a stored message is the rating question (router/engine/staging.py `_ask_rating` writes its author
    id as `rating:SCALE[:comment]`)."""
    return author_kind == "bot" and isinstance(author_id, str) and author_id.startswith("rating:")


def comment_of(policy: RatingPolicy, comment: object) -> str | None:
    """The comment as stored: text without control characters, at most MAX_COMMENT characters; None when the
    line takes no comments or there is none."""
    if not policy.comment or not isinstance(comment, str):
        return None
    text = _CONTROL.sub("", comment).strip()
    return text[:MAX_COMMENT] or None


def counted(before: int | None, after: int) -> bool:
    """Whether a stored rating counts in the metrics: a first rating, or a re-rating with another score (a
    comment added to the same score, or the same event delivered again, is not a new rating)."""
    return before != after
