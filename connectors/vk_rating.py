"""PURE: the customer's rating in VK — the keyboard asking for it, and a press of one of its buttons as a
CustomerRating (or why it is none). Plain dicts in, our events out; no I/O, no clock.

The question goes out with an inline keyboard of callback buttons whose payload is
`{"rating": SCORE, "scale": "like"|"five", "dialog": ID, "asked": MINUTES}` (`asked`: when the question went out,
in minutes since the epoch, so a press after RATE_WITHIN is answered as expired rather than thanked for a rating
the engine refuses; keyboards sent before it existed have none and are taken as before). A press arrives as `message_event`; a client that has no
callback buttons sends it as a text button instead (VK's documented fallback): a `message_new` whose `payload` is
that JSON, which is then a rating and never a customer message. A client known (from its last message's
`client_info`) to have no inline keyboards gets a one-time keyboard of text buttons with the same payload.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

import connectors.rating_texts as rating_texts
from connectors.rating_texts import SCORES, asked_at, label
from queues.messages import CustomerRating, OutboundMessage, event_ts, rating_expired

CHANNEL = "vk"
_COLORS = {"like": {1: "positive", 0: "negative"}}
_DIALOG = re.compile(r"[A-Za-z0-9_-]{1,64}")
PAYLOAD_LIMIT = 255  # characters of a button's payload VK accepts
CHAT_PEER_START = 2_000_000_000
# VK's lang_id (client_info, message_event has none): 0 is Russian; unknown: Russian, VK's usual language
_THANKS = {"ru": "Спасибо за оценку!", "en": "Thank you for your rating!"}


@dataclass(frozen=True)
class Pressed:
    """What one of our buttons says: a score, or (`kind` "comment") "add a comment" to it."""

    kind: str  # "rate" | "comment"
    scale: str
    score: int
    dialog_id: str
    asked: datetime | None  # when the question went out (None: a keyboard from before it was written)
    comment: bool = False  # the line takes a comment with the score


def payload(scale: str, score: int, dialog_id: str, asked: datetime | None, *, comment: bool = False) -> str:
    """A button's payload (JSON text, as VK takes it); without `asked` when it is not known."""
    data: dict[str, Any] = {"rating": score, "scale": scale, "dialog": dialog_id}
    if asked is not None:
        data["asked"] = int(asked.timestamp()) // 60
    if comment:
        data["comment"] = True
    return orjson.dumps(data).decode()


def keyboard(
    scale: str,
    dialog_id: str,
    asked: datetime | None,
    *,
    callback: bool = True,
    inline: bool = True,
    comment: bool = False,
) -> str | None:
    """The `keyboard` parameter of messages.send asking at `asked` for a rating (None: the scale is unknown or the
    id does not fit a payload; the question then goes out as plain text). `callback`: callback buttons (a press is a
    message_event) rather than text buttons (a press is a message_new with the payload); `inline`: under the
    message, else a one-time keyboard below the input field."""
    if scale not in SCORES or not _DIALOG.fullmatch(dialog_id):
        return None
    row = []
    for score in SCORES[scale]:
        action = {"type": "callback" if callback else "text", "label": label(scale, score)}
        action["payload"] = payload(scale, score, dialog_id, asked, comment=comment)
        if len(action["payload"]) > PAYLOAD_LIMIT:
            return None
        row.append({"action": action, "color": _COLORS.get(scale, {}).get(score, "secondary")})
    board: dict[str, Any] = {"buttons": [row], "inline": inline}
    if not inline:
        board["one_time"] = True
    return orjson.dumps(board).decode()


def question_keyboard(msg: OutboundMessage, client: Mapping[str, Any] | None) -> str | None:
    """The keyboard of a message asking for a rating, for the customer's client (its last `client_info`, None:
    not known): inline callback buttons (a client without callback buttons sends their payload as a text
    message, which is taken as the rating too), or a one-time keyboard of text buttons for a client known to
    show no inline keyboards; None for one that shows no keyboards at all (the question goes as text)."""
    if not msg.ask_rating:
        return None
    asked = asked_at(msg.ts)
    if client is not None and client.get("inline_keyboard") is False:
        if client.get("keyboard") is False:
            return None
        return keyboard(msg.ask_rating, msg.dialog_id, asked, callback=False, inline=False)
    return keyboard(msg.ask_rating, msg.dialog_id, asked, comment=msg.ask_comment)


def comment_keyboard(pressed: Pressed, lang_id: Any) -> str:
    """The one callback button left under a rated question of a line that takes comments: "add a comment"."""
    data: dict[str, Any] = {"add_comment": pressed.score, "scale": pressed.scale, "dialog": pressed.dialog_id}
    if pressed.asked is not None:
        data["asked"] = int(pressed.asked.timestamp()) // 60
    text = rating_texts.text("add_comment", language(lang_id))
    button = {"action": {"type": "callback", "label": text, "payload": orjson.dumps(data).decode()}}
    return orjson.dumps({"buttons": [[button]], "inline": True}).decode()


EMPTY_INLINE = '{"buttons":[],"inline":true}'  # messages.edit with it takes the buttons away


def decode(raw: Any) -> Pressed | None:
    """What our payload (a JSON text or an already parsed object) says, else None."""
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(raw, dict):
        return None
    kind, key = ("comment", "add_comment") if "add_comment" in raw else ("rate", "rating")
    required = {key, "scale", "dialog"}
    if not required <= set(raw) or set(raw) - required - {"asked", "comment"}:
        return None
    minutes = raw.get("asked")
    if minutes is not None and (not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 0):
        return None
    if raw.get("comment", True) is not True or (kind == "comment" and "comment" in raw):
        return None
    scale, score, dialog_id = raw["scale"], raw[key], raw["dialog"]
    if not isinstance(scale, str) or scale not in SCORES:
        return None
    if not isinstance(score, int) or isinstance(score, bool) or score not in SCORES[scale]:
        return None
    if not isinstance(dialog_id, str) or not _DIALOG.fullmatch(dialog_id):
        return None
    try:
        asked = None if minutes is None else datetime.fromtimestamp(minutes * 60, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return Pressed(kind, scale, score, dialog_id, asked, comment="comment" in raw)


def is_rating_payload(raw: Any) -> bool:
    """Whether a message_new's payload looks like a rating press (ours or a forged one): such a message is never
    a customer text message, also when its payload does not decode."""
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return False
    return isinstance(raw, dict) and ("rating" in raw or "add_comment" in raw)


def from_event(raw: Mapping[str, Any], account: str, now: datetime) -> tuple[CustomerRating, str] | str:
    """A message_event (a callback button pressed) as a rating and its scale, or why it is none."""
    obj = raw.get("object")
    if not isinstance(obj, dict):
        return "malformed"
    peer, user = obj.get("peer_id"), obj.get("user_id")
    if not isinstance(peer, int) or not isinstance(user, int) or not isinstance(obj.get("event_id"), str):
        return "malformed"
    if peer >= CHAT_PEER_START or peer <= 0:
        return "chat"
    decoded = decode(obj.get("payload"))
    if decoded is None:
        return "foreign"
    if rating_expired(decoded.asked, now):
        return "expired"
    if decoded.kind == "comment":
        return "add_comment"  # the connector sends the prompt (connectors/vk_comments.py)
    scale, score, dialog_id = decoded.scale, decoded.score, decoded.dialog_id
    # the Long Poll / Callback API event_id is the same on every redelivery of this press
    event_id = str(raw.get("event_id") or f"vk:{account}:event:{obj['event_id']}")
    return _rating(event_id, account, peer, dialog_id, score, now), scale


def from_message(message: Mapping[str, Any], account: str, now: datetime) -> CustomerRating | str:
    """A message_new whose payload is a rating (a text button, or a callback button on a client without them)."""
    decoded = decode(message.get("payload"))
    peer, cmid = message.get("peer_id"), message.get("conversation_message_id")
    if decoded is None or not isinstance(peer, int) or not isinstance(cmid, int):
        return "malformed"
    if peer >= CHAT_PEER_START or peer <= 0 or message.get("out"):
        return "chat"
    if rating_expired(decoded.asked, now):
        return "expired"
    if decoded.kind == "comment":
        return "add_comment"  # pressed as a text button: the connector sends the prompt
    score, dialog_id = decoded.score, decoded.dialog_id
    return _rating(f"vk:{account}:{peer}:{cmid}:rating", account, peer, dialog_id, score, now)


def _rating(
    event_id: str, account: str, peer: int, dialog_id: str, score: int, now: datetime
) -> CustomerRating:
    return CustomerRating(
        event_id=event_id,
        channel=CHANNEL,
        account=account,
        chat_id=str(peer),
        dialog_id=dialog_id,
        score=score,
        ts=event_ts(now),
    )


def language(lang_id: Any) -> str:
    """ "ru" or "en" from VK's lang_id (0 ru, 3 en, ...); unknown (no message of theirs seen yet): Russian."""
    return "ru" if lang_id is None or lang_id == 0 else "en"


def snackbar(lang_id: Any, *, expired: bool = False) -> str:
    """messages.sendMessageEventAnswer's event_data: a snackbar saying thank you (or that the question expired)."""
    lang = language(lang_id)
    text = rating_texts.expired_text(lang) if expired else _THANKS[lang]
    return orjson.dumps({"type": "show_snackbar", "text": text}).decode()


def rated_text(question: str, scale: str, score: int, lang_id: Any) -> str:
    """The question's message once rated, in the customer's language (rating_texts.rated_text)."""
    return rating_texts.rated_text(question, scale, score, language(lang_id))
