"""What the messenger channels show of a rating question (Telegram's and VK's buttons): each scale's scores, their
labels, the question once answered, and the answer to a press on an expired one."""

from __future__ import annotations

from datetime import UTC, datetime

from queues.messages import RATING_SCORES

SCORES = RATING_SCORES  # in button order
_LABELS = {"like": {1: "👍", 0: "👎"}, "five": {n: f"{n}⭐" for n in range(1, 6)}}
_YOUR_RATING = {"en": "Your rating: {label}", "ru": "Ваша оценка: {label}"}
_EXPIRED = {
    "en": "This question has expired: the rating cannot be taken any more.",
    "ru": "Срок этого вопроса истёк: оценку уже нельзя принять.",
}
# the comment a line may take with the score (Telegram, VK)
_TEXTS = {
    "en": {
        "add_comment": "✏️ Add a comment",
        "comment_prompt": "Please write your comment in reply to this message.",
        "comment_prompt_next": "Please write your comment in your next message.",
        "comment_placeholder": "Your comment",
        "comment_thanks": "Thank you for your comment!",
    },
    "ru": {
        "add_comment": "✏️ Добавить комментарий",
        "comment_prompt": "Напишите, пожалуйста, комментарий в ответ на это сообщение.",
        "comment_prompt_next": "Напишите, пожалуйста, комментарий следующим сообщением.",
        "comment_placeholder": "Ваш комментарий",
        "comment_thanks": "Спасибо за комментарий!",
    },
}


def text(key: str, language: str) -> str:
    """One of the comment's texts ("en" or "ru")."""
    return _TEXTS[language][key]


def asked_at(ts: str) -> datetime | None:
    """When a rating question went out: its message's time (the engine's; None if it is not one)."""
    try:
        at = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def expired_text(language: str) -> str:
    """What a press on a question past RATE_WITHIN is answered ("en" or "ru")."""
    return _EXPIRED[language]


def label(scale: str, score: int) -> str:
    """How a score shows on its button (and in the "your rating" line)."""
    return _LABELS.get(scale, {}).get(score, str(score))


def rated_text(question: str, scale: str, score: int, language: str) -> str:
    """The question's message once rated ("en" or "ru"): the question and the chosen rating (its buttons are gone);
    a rating line an earlier press left is replaced, not repeated."""
    head, sep, tail = question.rpartition("\n\n")
    if sep and any(tail.startswith(t.split("{")[0]) for t in _YOUR_RATING.values()):
        question = head
    line = _YOUR_RATING[language].format(label=label(scale, score))
    return f"{question}\n\n{line}" if question else line
