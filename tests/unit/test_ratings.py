"""The customer's rating of the answer (router/rules/ratings.py): the scales, which ratings are taken, the question."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from router.app.settings import load_settings
from router.engine.routing import line_policies
from router.rules.ratings import (
    MAX_COMMENT,
    RATE_WITHIN,
    RatingPolicy,
    comment_of,
    counted,
    is_question,
    question_text,
    refusal,
    scores,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CONV = ("widget", "support", "v1")
LIKE = RatingPolicy("like")
FIVE = RatingPolicy("five", comment=True)


def test_the_scales_scores() -> None:
    assert scores("like") == (1, 0)
    assert scores("five") == (1, 2, 3, 4, 5)


@pytest.mark.parametrize(
    ("policy", "score", "state", "closed_ago", "rater", "expected", "asked"),
    [
        (LIKE, 1, "closed", timedelta(minutes=1), CONV, None, True),
        (LIKE, 0, "closed", timedelta(minutes=1), CONV, None, True),
        (FIVE, 5, "closed", timedelta(days=6), CONV, None, True),
        (FIVE, 1, "assigned", None, CONV, None, True),  # reopened after the question: still theirs to rate
        (FIVE, 0, "closed", timedelta(minutes=1), CONV, "bad_score", True),
        (FIVE, 6, "closed", timedelta(minutes=1), CONV, "bad_score", True),
        (LIKE, 2, "closed", timedelta(minutes=1), CONV, "bad_score", True),
        (LIKE, True, "closed", timedelta(minutes=1), CONV, "bad_score", True),  # a JSON true is no score
        (LIKE, "1", "closed", timedelta(minutes=1), CONV, "bad_score", True),
        (FIVE, 4, "closed", RATE_WITHIN + timedelta(seconds=1), CONV, "too_late", True),
        (FIVE, 4, "closed", None, CONV, "too_late", True),
        (None, 1, "closed", timedelta(minutes=1), CONV, "rating_off", True),
        # a visitor can never rate someone else's dialog, not even of the same line, nor another channel's
        (FIVE, 5, "closed", timedelta(minutes=1), ("widget", "support", "v2"), "foreign_dialog", True),
        (FIVE, 5, "closed", timedelta(minutes=1), ("telegram", "support", "v1"), "foreign_dialog", True),
        (None, 5, "closed", timedelta(minutes=1), ("widget", "sales", "v1"), "foreign_dialog", True),
        # never asked: an open dialog whose customer sends a rating of their own accord, a closing without the
        # question (the line asked none then); another's dialog stays "foreign" whether asked or not
        (FIVE, 5, "assigned", None, CONV, "not_asked", False),
        (FIVE, 5, "closed", timedelta(minutes=1), CONV, "not_asked", False),
        (FIVE, 5, "closed", timedelta(minutes=1), ("widget", "support", "v2"), "foreign_dialog", False),
    ],
)
def test_which_ratings_are_taken(policy, score, state, closed_ago, rater, expected, asked) -> None:  # type: ignore[no-untyped-def]
    closed_at = None if closed_ago is None else NOW - closed_ago
    got = refusal(
        policy,
        score=score,
        state=state,
        closed_at=closed_at,
        dialog_conversation=CONV,
        rater_conversation=rater,
        now=NOW,
        asked=asked,
    )
    assert got == expected


def test_the_question_is_known_by_its_author() -> None:
    assert is_question("bot", "rating:five")
    assert is_question("bot", "rating:like:comment")
    assert not is_question("bot", "greeting")
    assert not is_question("operator", "rating:five")  # an operator named like it is not the question
    assert not is_question("bot", None)


@pytest.mark.parametrize(
    ("policy", "language", "expected"),
    [
        (LIKE, "en", "Please rate the answer: did we help you?"),
        (LIKE, "ru", "Оцените, пожалуйста, ответ: мы вам помогли?"),
        (FIVE, "en", "Please rate the answer from 1 to 5."),
        (FIVE, "ru", "Оцените, пожалуйста, ответ от 1 до 5."),
        (RatingPolicy("five", question="How did Anna do?"), "ru", "How did Anna do?"),
    ],
)
def test_the_question_is_the_lines_own_or_the_default_in_its_language(policy, language, expected) -> None:  # type: ignore[no-untyped-def]
    assert question_text(policy, language) == expected


def test_a_comment_is_kept_only_where_the_line_takes_comments() -> None:
    assert comment_of(FIVE, "  Quick and kind \x00\x07") == "Quick and kind"
    assert comment_of(FIVE, "   ") is None
    assert comment_of(FIVE, None) is None
    assert comment_of(FIVE, 5) is None
    assert comment_of(LIKE, "nice") is None  # the line takes no comments
    assert comment_of(FIVE, "x" * (MAX_COMMENT + 10)) == "x" * MAX_COMMENT


def test_a_rating_counts_when_it_is_new_or_its_score_changed() -> None:
    assert counted(None, 4)
    assert counted(4, 2)
    assert not counted(4, 4)  # the same score again: a comment added, or the event delivered again


# ---- the line's `rating` block -------------------------------------------------------------------------------

CONFIG = """\
version: 1
operators:
  - login: anna
    name: Anna
lines:
  - id: support
    name: Support
    language: ru
    queue: [anna]
"""


def test_a_lines_rating_block_is_off_when_absent_and_validated_when_present(tmp_path: Path) -> None:
    path = tmp_path / "openlines.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    settings, problems = load_settings(path, env={})
    assert settings is not None and not problems
    assert line_policies(settings)["support"].rating is None

    path.write_text(CONFIG + "    rating: {scale: five, comment: true}\n", encoding="utf-8")
    settings, problems = load_settings(path, env={})
    assert settings is not None and not problems
    policy = line_policies(settings)["support"].rating
    assert policy == RatingPolicy("five", comment=True)
    assert question_text(policy, "ru") == "Оцените, пожалуйста, ответ от 1 до 5."

    path.write_text(CONFIG + "    rating:\n      scale: ten\n", encoding="utf-8")
    settings, problems = load_settings(path, env={})
    assert settings is None
    assert [(p.line, p.path) for p in problems] == [(11, ("lines", 0, "rating", "scale"))]
