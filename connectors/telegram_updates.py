"""PURE: a Telegram update as an InboundMessage (or the reason it is skipped), and long texts cut into parts.

Works on aiogram's `Update` objects by attribute only, so this module never imports aiogram itself.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.text import split_text as _split
from connectors.text import utf16_len
from queues.messages import Attachment, InboundMessage, SenderProfile, event_ts

CHANNEL = "telegram"
TEXT_LIMIT = 4096  # sendMessage, in UTF-16 code units
CAPTION_LIMIT = 1024  # sendPhoto / sendDocument
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]  # callback_query: the rating buttons
# a deep-link payload (t.me/bot?start=PAYLOAD): 1-64 of these characters, per the Bot API
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
_START = re.compile(r"^/start(?:@\w+)?(?:\s+(\S+))?\s*$")


@dataclass(frozen=True)
class Skipped:
    """An update that makes no message: why, and what to log about it (no message bodies)."""

    reason: str  # "group" | "unsupported" | "service"
    fields: dict[str, Any] = field(default_factory=dict)


def translate(update: Any, account: str, *, allow_groups: bool) -> InboundMessage | Skipped:
    """The customer message an update carries, or why it carries none."""
    edited = update.message is None and update.edited_message is not None
    m = update.edited_message if edited else update.message
    if m is None:
        return Skipped("unsupported", {"update_type": _update_type(update)})
    chat = m.chat
    if chat.type != "private" and not allow_groups:
        return Skipped("group", {"chat_type": chat.type, "chat": chat.id})
    user = m.from_user
    if user is not None and user.is_bot:
        return Skipped("service", {"what": "bot_author"})
    text, attachments, phone, kind = _content(m, user)
    if kind is None:
        return Skipped("unsupported", {"message_type": _message_type(m)})
    sender = _sender(user, phone)
    if chat.type != "private":
        # one conversation per group: the lead is the group, each line says who wrote it
        author = sender.display_name
        sender = SenderProfile(display_name=chat.title or f"Telegram group {chat.id}")
        text = f"{author}: {text}" if text else author
    original = f"{chat.id}:{m.message_id}"
    source_tag = None
    if not edited and (start := _START.match(m.text or "")) and start.group(1):
        payload = start.group(1)
        source_tag = payload if _PAYLOAD.fullmatch(payload) else None
    when = datetime.fromtimestamp(m.edit_date, UTC) if edited and m.edit_date else m.date
    return InboundMessage(
        event_id=secrets.token_hex(12),
        channel=CHANNEL,
        account=account,
        chat_id=str(chat.id),
        # stable across redelivery: the same update always maps to the same key
        external_id=f"{original}:{m.edit_date or 0}" if edited else original,
        text=text,
        ts=event_ts(when),
        sender=sender,
        attachments=tuple(attachments),
        source_tag=source_tag,
        edit_of=original if edited else None,
    )


def _content(m: Any, user: Any) -> tuple[str, list[Attachment], str | None, str | None]:
    """(text, attachments, the customer's own phone, kind); kind None for what we do not support."""
    text = m.text or m.caption or ""
    files: list[Attachment] = []
    if m.photo:
        best = m.photo[-1]  # the sizes come smallest first
        files.append(
            Attachment(f"photo_{best.file_unique_id}.jpg", "image/jpeg", best.file_size, best.file_id)
        )
    if m.document:
        d = m.document
        files.append(Attachment(d.file_name or "document", d.mime_type or _OCTETS, d.file_size, d.file_id))
    if m.voice:
        v = m.voice
        files.append(Attachment("voice.ogg", v.mime_type or "audio/ogg", v.file_size, v.file_id))
    if m.video_note:
        n = m.video_note
        files.append(Attachment("video_note.mp4", "video/mp4", n.file_size, n.file_id))
    if m.video:
        v = m.video
        files.append(
            Attachment(v.file_name or "video.mp4", v.mime_type or "video/mp4", v.file_size, v.file_id)
        )
    if m.audio:
        a = m.audio
        files.append(Attachment(a.file_name or "audio", a.mime_type or "audio/mpeg", a.file_size, a.file_id))
    if files:
        return text, files, None, "media"
    if m.contact:
        c = m.contact
        phone = _plus(c.phone_number)
        # only a customer sharing their own number gives us a verified phone of theirs
        if user is not None and c.user_id == user.id:
            return f"Shared a contact: {phone}", [], phone, "contact"
        name = " ".join(p for p in (c.first_name, c.last_name) if p)
        return f"Shared a contact: {name} {phone}".replace("  ", " "), [], None, "contact"
    if m.location:
        loc = m.location
        return f"Shared a location: {loc.latitude:.6f}, {loc.longitude:.6f}", [], None, "location"
    if m.sticker:
        return f"Sticker {m.sticker.emoji or ''}".strip(), [], None, "sticker"
    if m.text is not None:
        return text, [], None, "text"
    return "", [], None, None


_OCTETS = "application/octet-stream"


def _sender(user: Any, phone: str | None) -> SenderProfile:
    if user is None:
        return SenderProfile(display_name="Telegram user", phone=phone)
    full = " ".join(p for p in (user.first_name, user.last_name) if p).strip()
    display = full or (f"@{user.username}" if user.username else f"Telegram user {user.id}")
    return SenderProfile(
        display_name=display,
        first_name=user.first_name or None,
        last_name=user.last_name,
        username=user.username,
        language=user.language_code,
        phone=phone,
    )


def _plus(phone: str) -> str:
    """Telegram gives international numbers, usually without the +."""
    p = phone.strip()
    return p if p.startswith("+") else f"+{p}"


def _update_type(update: Any) -> str:
    data = update.model_dump(exclude_none=True) if hasattr(update, "model_dump") else {}
    return next((k for k in data if k != "update_id"), "unknown")


def _message_type(m: Any) -> str:
    known = {"message_id", "date", "chat", "from_user", "sender_chat", "message_thread_id"}
    data = m.model_dump(exclude_none=True) if hasattr(m, "model_dump") else {}
    return next((k for k in data if k not in known), "unknown")


# ---- outbound text -----------------------------------------------------------------------------------


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Telegram's parts of a long text: its limits count UTF-16 code units."""
    return _split(text, limit, measure=utf16_len)
