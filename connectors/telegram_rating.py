"""PURE: the customer's rating in Telegram — the inline keyboard's buttons (labels and callback_data) for a scale,
and a callback query of one of those buttons as a CustomerRating, an "add a comment" press, or why it is none.

callback_data is `rt:<scale letter><score>:<dialog id>:<asked>` (e.g. `rt:l1:01J…:ht3k2p`, 39 bytes for our
26-character ids), well inside Telegram's 64 bytes, the letter in upper case when the line takes a comment: the
rated question then keeps one button, `rc:<scale letter><score>:<dialog id>:<asked>`, "add a comment"; `asked` is when the question went out, in minutes since the
epoch in base 36, so a press after RATE_WITHIN is answered as expired (the engine would refuse the rating) without
a word from the engine. Keyboards sent before it existed have no `:<asked>`; their message's date, when Telegram
still shows it, tells their age. Works on aiogram's objects by attribute only, so this module never imports aiogram.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import connectors.rating_texts as rating_texts
from connectors.rating_texts import SCORES, label
from queues.messages import CustomerRating, event_ts, rating_expired

CHANNEL = "telegram"
CALLBACK_LIMIT = 64  # bytes of callback_data Telegram accepts
PREFIX = "rt"
COMMENT_PREFIX = "rc"
# the scales a line may ask on, as one letter in callback_data (upper case: the line takes a comment too)
SCALES = {"like": "l", "five": "f"}
_DATA = re.compile(r"(rt|rc):([lfLF])(\d):([A-Za-z0-9_-]{1,58})(?::([0-9a-z]{1,8}))?")
_THANKS = {"en": "Thank you!", "ru": "Спасибо!"}


@dataclass(frozen=True)
class Skipped:
    """A callback query that makes no rating: why (logged, with no data echoed beyond a short prefix)."""

    reason: str  # "foreign" (not our data) | "malformed" | "no_message" | "group" | "expired"


@dataclass(frozen=True)
class Press:
    """What one of our buttons says: a score (`rate`) or "add a comment" to it (`comment`)."""

    kind: str  # "rate" | "comment"
    scale: str
    score: int
    dialog_id: str
    asked: datetime | None  # when the question went out (None: a keyboard from before it was written)
    comment: bool  # the line takes a comment with the score


def keyboard(
    scale: str, dialog_id: str, asked: datetime | None, *, comment: bool = False
) -> list[list[tuple[str, str]]] | None:
    """The rows of (label, callback_data) buttons asking at `asked` for a rating of `dialog_id` on `scale`
    (`comment`: the line takes a comment with it); None when the scale is unknown or the id would not fit
    callback_data (the question then goes out as plain text)."""
    letter = SCALES.get(scale)
    if letter is None:
        return None
    letter = letter.upper() if comment else letter
    at = "" if asked is None else ":" + _base36(int(asked.timestamp()) // 60)
    row = [(label(scale, score), f"{PREFIX}:{letter}{score}:{dialog_id}{at}") for score in SCORES[scale]]
    if not all(_DATA.fullmatch(data) and len(data.encode()) <= CALLBACK_LIMIT for _, data in row):
        return None
    return [row]


def comment_keyboard(press: Press, code: str | None) -> list[list[tuple[str, str]]]:
    """The one button left under a rated question of a line that takes comments: "add a comment" to that score."""
    at = "" if press.asked is None else ":" + _base36(int(press.asked.timestamp()) // 60)
    data = f"{COMMENT_PREFIX}:{SCALES[press.scale]}{press.score}:{press.dialog_id}{at}"
    return [[(rating_texts.text("add_comment", language(code)), data)]]


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, d = divmod(n, 36)
        out = digits[d] + out
        if n == 0:
            return out


def decode(data: str | None) -> Press | Skipped:
    """What our callback_data says, or why it is not ours."""
    if not data or not data.startswith((f"{PREFIX}:", f"{COMMENT_PREFIX}:")):
        return Skipped("foreign")
    m = _DATA.fullmatch(data)
    if m is None:
        return Skipped("malformed")
    kind = "rate" if m.group(1) == PREFIX else "comment"
    letter = m.group(2)
    if kind == "comment" and letter.isupper():
        return Skipped("malformed")
    scale = next(name for name, one in SCALES.items() if one == letter.lower())
    score = int(m.group(3))
    if score not in SCORES[scale]:
        return Skipped("malformed")
    asked = datetime.fromtimestamp(int(m.group(5), 36) * 60, UTC) if m.group(5) else None
    return Press(kind, scale, score, m.group(4), asked, comment=letter.isupper())


def translate(
    query: Any, account: str, *, allow_groups: bool, now: datetime
) -> tuple[CustomerRating, Press] | Press | Skipped:
    """The rating a pressed score button carries, with what the button said; a pressed "add a comment" button
    as what it says; or why it is neither. The chat is the one the keyboard's message is in (a private chat's
    id is the customer's); the event id comes from the callback query's id, so a redelivered update makes the
    same event."""
    press = decode(query.data)
    if isinstance(press, Skipped):
        return press
    message = query.message
    chat = getattr(message, "chat", None)
    if chat is None:  # a keyboard of an inline-mode message: not one we sent
        return Skipped("no_message")
    if chat.type != "private" and not allow_groups:
        return Skipped("group")
    asked = press.asked
    if asked is None:  # a keyboard from before `asked`: its message's date, unless Telegram hides it (0)
        date = getattr(message, "date", None)
        asked = date if isinstance(date, datetime) and date.timestamp() > 0 else None
    if rating_expired(asked, now):
        return Skipped("expired")
    if press.kind == "comment":
        return press
    rating = CustomerRating(
        event_id=f"tg:{account}:cb:{query.id}",
        channel=CHANNEL,
        account=account,
        chat_id=str(chat.id),
        dialog_id=press.dialog_id,
        score=press.score,
        ts=event_ts(now),
    )
    return rating, press


def language(code: str | None) -> str:
    """ "ru" for a customer whose Telegram speaks Russian (its language_code), else "en"."""
    return "ru" if (code or "").lower().split("-")[0] == "ru" else "en"


def thanks(code: str | None) -> str:
    """The answerCallbackQuery text in the customer's language."""
    return _THANKS[language(code)]


def expired(code: str | None) -> str:
    """The answerCallbackQuery text for a press on an expired question, in the customer's language."""
    return rating_texts.expired_text(language(code))


def rated_text(question: str, scale: str, score: int, code: str | None) -> str:
    """The question's message once rated, in the customer's language (rating_texts.rated_text)."""
    return rating_texts.rated_text(question, scale, score, language(code))
