"""PURE: VK events (Bots Long Poll / Callback API objects) as inbound events, names, texts cut for VK, random_ids
and VK error codes sorted into retryable and final. Plain dicts in, our events out; no I/O, no clock."""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import connectors.vk_rating as vk_rating
from connectors.text import split_text as _split
from queues.messages import (
    Attachment,
    CustomerConsent,
    CustomerRating,
    InboundMessage,
    SenderProfile,
    event_ts,
)

CHANNEL = "vk"
TEXT_LIMIT = 4096  # messages.send, in characters
CHAT_PEER_START = 2_000_000_000  # peer ids of group conversations start here
MAX_QUOTE_DEPTH = 3  # forwarded messages inside forwarded messages: deeper ones are left out
# flood control (9), too many requests per second (6), internal server error (10), unknown error (1)
RETRYABLE_CODES = frozenset({1, 6, 9, 10})
# what the operator is told for the usual final errors (VK's own text is appended)
REASONS = {
    5: "the community token was rejected; check it in the channel's config",
    7: "the community token has no right to send messages",
    15: "VK denied access",
    27: "the token is not a community token",
    100: "VK refused a parameter",
    900: "the customer has blocked the community",
    901: "the customer has not allowed messages from the community",
    902: "the customer's privacy settings forbid messages from the community",
    911: "the keyboard format is invalid",
    912: "the community's bot abilities are off (Messages > Bot settings)",
    914: "the message is too long",
    917: "the community has no access to this conversation",
    936: "the contact is not found",
    945: "the conversation is disabled",
}
_PLACEHOLDERS = {
    "sticker": "[sticker]",
    "video": "[video]",
    "wall": "[wall post]",
    "wall_reply": "[comment]",
    "market": "[product]",
    "market_album": "[product collection]",
    "gift": "[gift]",
    "graffiti": "[graffiti]",
    "story": "[story]",
    "call": "[call]",
    "photo": "[photo]",
    "doc": "[document]",
    "audio_message": "[voice message]",
}
_SIZE_ORDER = "smxopqryzw"  # VK photo size letters, smallest to largest


@dataclass(frozen=True)
class Skipped:
    """A VK event that makes no inbound event: why, and what to log about it (never a message body)."""

    reason: str  # "unsupported" | "outgoing" | "chat" | "malformed" | "foreign" (a button press not ours)
    fields: dict[str, Any] = field(default_factory=dict)


def event_type(raw: Mapping[str, Any]) -> str:
    """The type of a VK event (`message_new`, `confirmation`, ...)."""
    return str(raw.get("type") or "")


def message_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The message object of message_new (wrapped with client_info since API 5.103) or message_edit (bare)."""
    obj = raw.get("object") or {}
    inner = obj.get("message") if isinstance(obj, dict) else None
    return inner if isinstance(inner, dict) else obj if isinstance(obj, dict) else {}


def authors(raw: Mapping[str, Any]) -> set[int]:
    """The users whose names the event shows: the sender and the authors of forwarded messages."""
    if event_type(raw) not in ("message_new", "message_edit"):
        return set()
    found: set[int] = set()
    for m in _thread(message_of(raw), 0):
        uid = m.get("from_id")
        if isinstance(uid, int) and 0 < uid < CHAT_PEER_START:
            found.add(uid)
    return found


def _thread(m: Mapping[str, Any], depth: int) -> Iterator[Mapping[str, Any]]:
    yield m
    if depth >= MAX_QUOTE_DEPTH:
        return
    for q in _quoted(m):
        yield from _thread(q, depth + 1)


def _quoted(m: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = [q for q in (m.get("fwd_messages") or []) if isinstance(q, dict)]
    if isinstance(m.get("reply_message"), dict):
        out.insert(0, m["reply_message"])
    return out


def profile(user: Mapping[str, Any] | None, user_id: int) -> SenderProfile:
    """A users.get entry as the CRM identity's profile (a readable fallback when VK told us nothing)."""
    if not user:
        return SenderProfile(display_name=f"VK user {user_id}")
    first, last = user.get("first_name") or None, user.get("last_name") or None
    full = " ".join(p for p in (first, last) if p).strip()
    screen = user.get("screen_name") or None
    return SenderProfile(
        display_name=full or (f"@{screen}" if screen else f"VK user {user_id}"),
        first_name=first,
        last_name=last,
        username=screen,
    )


def translate(
    raw: Mapping[str, Any], account: str, names: Mapping[int, SenderProfile], now: datetime
) -> InboundMessage | CustomerConsent | CustomerRating | Skipped:
    """The inbound event a VK event carries (message_new, message_edit, message_allow/deny, a rating button's
    message_event or message_new with its payload), or why none."""
    kind = event_type(raw)
    if kind in ("message_allow", "message_deny"):
        return _consent(raw, account, kind == "message_allow", now)
    if kind == "message_event":
        pressed = vk_rating.from_event(raw, account, now)
        return pressed[0] if isinstance(pressed, tuple) else Skipped(pressed, {"event_type": kind})
    if kind not in ("message_new", "message_edit"):
        return Skipped("unsupported", {"event_type": kind})
    m = message_of(raw)
    if kind == "message_new" and vk_rating.is_rating_payload(m.get("payload")):
        # a rating button pressed as a text button: a rating, never also a customer message
        rated = vk_rating.from_message(m, account, now)
        return rated if isinstance(rated, CustomerRating) else Skipped(rated, {"event_type": kind})
    peer, sender, cmid = m.get("peer_id"), m.get("from_id"), m.get("conversation_message_id")
    if not isinstance(peer, int) or not isinstance(sender, int) or not isinstance(cmid, int):
        return Skipped("malformed", {"event_type": kind})
    if m.get("out") or sender <= 0:
        return Skipped("outgoing", {"event_type": kind})  # the community's own message (or another's)
    if peer >= CHAT_PEER_START or peer <= 0:
        return Skipped("chat", {"event_type": kind})  # group conversations are not supported
    text, files = render(m, names)
    original = f"{peer}:{cmid}"
    edited = kind == "message_edit"
    vk_event = str(raw.get("event_id") or "")
    external_id = f"{original}:edit:{m.get('update_time') or vk_event}" if edited else original
    when = m.get("update_time") if edited and m.get("update_time") else m.get("date")
    return InboundMessage(
        event_id=vk_event or f"vk:{account}:{external_id}",
        channel=CHANNEL,
        account=account,
        chat_id=str(peer),
        # stable across redelivery: the same VK message (or edit) always maps to the same key
        external_id=external_id,
        text=text,
        ts=event_ts(datetime.fromtimestamp(when, UTC) if isinstance(when, int) else now),
        sender=names.get(sender) or profile(None, sender),
        attachments=tuple(files),
        edit_of=original if edited else None,
    )


def _consent(raw: Mapping[str, Any], account: str, allowed: bool, now: datetime) -> CustomerConsent | Skipped:
    obj = raw.get("object") or {}
    user = obj.get("user_id") if isinstance(obj, dict) else None
    if not isinstance(user, int) or user <= 0:
        return Skipped("malformed", {"event_type": event_type(raw)})
    ts = event_ts(now)
    return CustomerConsent(
        event_id=str(raw.get("event_id") or f"vk:{account}:{user}:{'allow' if allowed else 'deny'}:{ts}"),
        channel=CHANNEL,
        account=account,
        chat_id=str(user),
        allowed=allowed,
        ts=ts,
    )


def render(m: Mapping[str, Any], names: Mapping[int, SenderProfile]) -> tuple[str, list[Attachment]]:
    """The text of a message (placeholders for what is not a file, forwarded messages quoted) and its files."""
    files: list[Attachment] = []
    lines = [str(m["text"])] if m.get("text") else []
    for index, a in enumerate(m.get("attachments") or []):
        file = attachment(a, f"{m.get('peer_id')}:{m.get('conversation_message_id')}:{index}")
        if file is not None:
            files.append(file)
        else:
            lines.append(placeholder(a))
    lines += _geo(m)
    for q in _quoted(m):
        lines += _quote(q, names, 1, is_reply=q is m.get("reply_message"))
    return "\n".join(lines), files


def _quote(
    m: Mapping[str, Any], names: Mapping[int, SenderProfile], depth: int, *, is_reply: bool
) -> list[str]:
    uid = m.get("from_id")
    if isinstance(uid, int) and uid > 0:
        who = (names.get(uid) or profile(None, uid)).display_name
    else:
        who = f"community {abs(uid)}" if isinstance(uid, int) else "someone"
    body = [f"{'In reply to' if is_reply else 'Forwarded from'} {who}:"]
    if m.get("text"):
        body += str(m["text"]).split("\n")
    body += [placeholder(a) for a in m.get("attachments") or []]
    body += _geo(m)
    if depth < MAX_QUOTE_DEPTH:
        for q in _quoted(m):
            body += _quote(q, names, depth + 1, is_reply=q is m.get("reply_message"))
    elif _quoted(m):
        body.append("[more forwarded messages]")
    return [f"> {line}" if line else ">" for line in body]


def _geo(m: Mapping[str, Any]) -> list[str]:
    coords = (m.get("geo") or {}).get("coordinates") if isinstance(m.get("geo"), dict) else None
    if isinstance(coords, dict) and "latitude" in coords and "longitude" in coords:
        return [f"[location: {float(coords['latitude']):.6f}, {float(coords['longitude']):.6f}]"]
    return []


def placeholder(a: Mapping[str, Any]) -> str:
    """A readable stand-in for an attachment shown as text."""
    kind = str(a.get("type") or "attachment")
    found = a.get(kind)
    body: Mapping[str, Any] = found if isinstance(found, dict) else {}
    if kind == "link" and body.get("url"):
        return f"[link: {body['url']}]"
    if kind == "audio" and (body.get("artist") or body.get("title")):
        return f"[audio: {body.get('artist') or ''} - {body.get('title') or ''}]"
    if kind == "poll" and body.get("question"):
        return f"[poll: {body['question']}]"
    if kind == "doc" and body.get("title"):
        return f"[document: {body['title']}]"
    return _PLACEHOLDERS.get(kind, f"[{kind}]")


def attachment(a: Mapping[str, Any], ref: str) -> Attachment | None:
    """A photo, document or voice message as a file reference (its VK URL, and a ref that can fetch it again)."""
    kind = a.get("type")
    body = a.get(kind) if isinstance(kind, str) and isinstance(a.get(kind), dict) else None
    if body is None:
        return None
    if kind == "photo":
        url = best_photo_url(body)
        return Attachment(f"photo_{body.get('id', 'vk')}.jpg", "image/jpeg", None, ref, url) if url else None
    if kind == "doc" and body.get("url"):
        title = str(body.get("title") or f"document.{body.get('ext') or 'bin'}")
        ext = body.get("ext")
        mime = mimetypes.guess_type(f"x.{ext}")[0] if ext else None
        size = body.get("size") if isinstance(body.get("size"), int) else None
        return Attachment(title, mime or "application/octet-stream", size, ref, str(body["url"]))
    if kind == "audio_message":
        if body.get("link_ogg"):
            return Attachment(
                f"voice_{body.get('id', 'vk')}.ogg", "audio/ogg", None, ref, str(body["link_ogg"])
            )
        if body.get("link_mp3"):
            return Attachment(
                f"voice_{body.get('id', 'vk')}.mp3", "audio/mpeg", None, ref, str(body["link_mp3"])
            )
    return None


def best_photo_url(photo: Mapping[str, Any]) -> str | None:
    """The URL of a photo's largest size (by pixels, then by VK's size letter)."""
    sizes = [s for s in photo.get("sizes") or [] if isinstance(s, dict) and s.get("url")]
    if not sizes:
        return str(photo["url"]) if photo.get("url") else None

    def rank(s: Mapping[str, Any]) -> tuple[int, int]:
        pixels = int(s.get("width") or 0) * int(s.get("height") or 0)
        letter = str(s.get("type") or "")
        return pixels, _SIZE_ORDER.find(letter) if letter else -1

    return str(max(sizes, key=rank)["url"])


def attachment_url(message: Mapping[str, Any], index: int) -> str | None:
    """The URL of the `index`-th attachment of a message fetched again from VK (URLs of files expire)."""
    items = message.get("attachments") or []
    if not 0 <= index < len(items):
        return None
    file = attachment(items[index], "")
    return file.url if file is not None else None


# ---- outbound ----------------------------------------------------------------------------------------


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """VK's parts of a long text (its limit counts characters)."""
    return _split(text, limit)


def random_id(message_id: str, part: int) -> int:
    """messages.send's random_id for one part of our outbound message: the same on every retry, so VK
    delivers a retried send once; a positive int31 (0 would switch VK's deduplication off)."""
    digest = hashlib.sha256(f"{message_id}:{part}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 0x7FFFFFFF + 1


def classify(code: int | None, message: str) -> tuple[bool, str]:
    """(retryable, the reason shown to the operator) of a failed VK call; None is a network or HTTP failure."""
    if code is None:
        return True, f"VK is unreachable: {message}"
    if code in RETRYABLE_CODES:
        return True, f"VK error {code}: {message}"
    reason = REASONS.get(code)
    return False, f"VK error {code}: {reason} ({message})" if reason else f"VK error {code}: {message}"
