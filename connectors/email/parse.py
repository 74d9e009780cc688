"""PURE: one fetched mail (RFC 5322 bytes) → who wrote, which thread it belongs to, its text and its files."""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses

from connectors.email.text import html_to_text, strip_quotes

_MSG_ID = re.compile(r"<([^<>\s]+)>")
_BARE_ID = re.compile(r"^[^<>\s@]+@[^<>\s@]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_AUTOMATIC_SENDERS = {
    "mailer-daemon", "postmaster", "noreply", "no-reply", "no_reply", "donotreply", "do-not-reply",
}  # fmt: skip
_AUTOMATIC_PRECEDENCE = {"bulk", "list", "junk", "auto_reply"}
MAX_ID = 250  # the store keeps conversation and message ids in 255 characters


@dataclass(frozen=True)
class Part:
    """A file of the mail, with its body."""

    name: str
    mime: str
    data: bytes


@dataclass(frozen=True)
class Dropped:
    """A file left out for being over the size limit."""

    name: str
    size: int


@dataclass(frozen=True)
class Mail:
    """What the connector needs of one mail."""

    message_id: str  # "<id>": the header's, or a hash of the headers when it has none
    real_message_id: bool
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    from_address: str  # normalised (lower case); "" when the mail names no sender
    from_name: str
    reply_address: str  # where answers go: Reply-To, else From
    reply_name: str
    text: str  # the new text: quotes and signature stripped, HTML made text, notes on dropped files
    full_text: str  # the whole body as text
    html_only: bool
    shortened: (
        bool  # the console text leaves something of the body out (quotes, a signature, HTML formatting)
    )
    automatic: bool
    parts: tuple[Part, ...] = ()
    dropped: tuple[Dropped, ...] = field(default=())
    reported: str | None = None  # a delivery report's: the Message-ID of the mail that bounced


def parse_mail(raw: bytes, *, max_attachment_bytes: int) -> Mail:
    """Decode a mail: RFC 2047 headers, QP/base64 bodies, any charset; text/plain preferred over HTML."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    from_name, from_address = _address(msg, "From")
    reply_name, reply_address = _address(msg, "Reply-To")
    if not reply_address:
        reply_name, reply_address = from_name, from_address
    own_id = _first_id(_header(msg, "Message-ID"))
    body = msg.get_body(preferencelist=("plain", "html"))
    full, html_only = ("", False) if body is None else _body_text(body)
    extra, parts, dropped = _parts(msg, body, max_attachment_bytes)
    full = "\n\n".join(t for t in (full, *extra) if t.strip())
    text = strip_quotes(full) if full.strip() else ""
    shortened = html_only or _normal(text) != _normal(full)
    notes = [
        f"[attachment {d.name} ({_size(d.size)}) was not kept: larger than {_size(max_attachment_bytes)}]"
        for d in dropped
    ]
    text = "\n\n".join(t for t in (text, *notes) if t)
    return Mail(
        message_id=own_id or _synthetic_id(msg, raw),
        real_message_id=own_id is not None,
        in_reply_to=_first_id(_header(msg, "In-Reply-To")),
        references=tuple(_all_ids(_header(msg, "References"))),
        subject=" ".join(_CONTROL.sub("", _header(msg, "Subject")).split()),
        from_address=from_address,
        from_name=from_name,
        reply_address=reply_address,
        reply_name=reply_name,
        text=text,
        full_text=full.strip(),
        html_only=html_only,
        shortened=shortened,
        automatic=is_automatic(msg, from_address),
        parts=tuple(parts),
        dropped=tuple(dropped),
        reported=_reported(msg),
    )


def unreadable_mail(raw: bytes) -> Mail:
    """A mail the parser chokes on still reaches an operator: as a note with the original attached."""
    own_id = f"<{hashlib.sha256(raw).hexdigest()[:40]}@openlines.invalid>"
    note = "(this mail could not be decoded; the original is attached as original.eml)"
    return Mail(
        message_id=own_id,
        real_message_id=False,
        in_reply_to=None,
        references=(),
        subject="",
        from_address="",
        from_name="",
        reply_address="",
        reply_name="",
        text=note,
        full_text="",
        html_only=False,
        shortened=True,
        automatic=False,
    )


def is_automatic(msg: Message, from_address: str) -> bool:
    """Sent by a machine (auto-reply, bounce, list, no-reply sender): never to be auto-replied to (RFC 3834)."""
    auto = _header(msg, "Auto-Submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return True
    if _header(msg, "Precedence").strip().lower() in _AUTOMATIC_PRECEDENCE:
        return True
    for name in ("X-Auto-Response-Suppress", "List-Id", "X-Autoreply", "X-Autorespond"):
        if _header(msg, name).strip():
            return True
    if msg.get_content_type() == "multipart/report":
        return True
    if _header(msg, "Return-Path").strip() == "<>":  # the null sender: a delivery report
        return True
    return from_address.partition("@")[0] in _AUTOMATIC_SENDERS


def normalize_address(raw: str) -> str:
    """An e-mail address as an identity: trimmed and lower-cased ("" when it is none)."""
    s = raw.strip().strip("<>").strip().lower()
    return s if "@" in s and not any(c.isspace() for c in s) else ""


# ---- headers ------------------------------------------------------------------------------------------


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse: read it raw
        value = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    return "" if value is None else str(value)


def _address(msg: Message, name: str) -> tuple[str, str]:
    """(display name, normalised address) of the first address in a header."""
    value = _header(msg, name)
    if not value:
        return "", ""
    for display, addr in getaddresses([value]):
        address = normalize_address(addr)
        if address:
            return _CONTROL.sub("", display).strip(), address
    return "", ""


def _first_id(value: str) -> str | None:
    ids = _all_ids(value)
    return ids[0] if ids else None


def _all_ids(value: str) -> list[str]:
    """Message-IDs in a header, in order, as "<id>"; a bare "id@host" (some clients omit the brackets) too."""
    found = [_fit(f"<{m}>") for m in _MSG_ID.findall(value)]
    if not found and _BARE_ID.match(value.strip()):
        found = [_fit(f"<{value.strip()}>")]
    seen: set[str] = set()
    return [i for i in found if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]


def _reported(msg: Message) -> str | None:
    """The Message-ID of the bounced mail a delivery report (multipart/report) returns."""
    if msg.get_content_type() != "multipart/report":
        return None
    for part, _ in _leaves(msg):
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return _first_id(_header(inner[0], "Message-ID"))
        elif ctype == "text/rfc822-headers":
            headers = BytesParser(policy=policy.default).parsebytes(_payload(part), headersonly=True)
            return _first_id(_header(headers, "Message-ID"))
    return None


def _fit(message_id: str) -> str:
    """A Message-ID as an id we store (at most 255 characters): an absurdly long one becomes its hash."""
    if len(message_id) <= MAX_ID:
        return message_id
    return f"<{hashlib.sha256(message_id.encode()).hexdigest()[:40]}@long.openlines.invalid>"


def _synthetic_id(msg: Message, raw: bytes) -> str:
    """A stable id for a mail without Message-ID: the same mail fetched twice gets the same one."""
    h = hashlib.sha256()
    for name in ("From", "To", "Cc", "Date", "Subject"):
        h.update(name.encode() + b"\0" + _header(msg, name).encode("utf-8", "replace") + b"\0")
    _, _, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    h.update(hashlib.sha256(body).digest())
    return f"<{h.hexdigest()[:40]}@openlines.invalid>"


# ---- bodies and files ---------------------------------------------------------------------------------


def _decode(part: Message) -> str:
    """A text part's characters: the declared charset, else UTF-8, never an exception."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    declared = part.get_content_charset()
    for charset in (declared, "utf-8"):
        if not charset:
            continue
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    try:
        return payload.decode(declared or "utf-8", "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _body_text(part: Message) -> tuple[str, bool]:
    text = _decode(part)
    if part.get_content_type() == "text/html":
        return html_to_text(text), True
    return text.replace("\r\n", "\n").strip(), False


def _leaves(part: Message, parent: str = "") -> list[tuple[Message, str]]:
    """Every leaf part with its parent's content type; an attached mail (message/rfc822) is one leaf."""
    ctype = part.get_content_type()
    if ctype == "message/rfc822" and parent:
        return [(part, parent)]
    if part.is_multipart():
        out: list[tuple[Message, str]] = []
        for sub in part.get_payload():
            if isinstance(sub, Message):
                out += _leaves(sub, ctype)
        return out
    return [(part, parent)]


def _parts(
    msg: EmailMessage, body: Message | None, limit: int
) -> tuple[list[str], list[Part], list[Dropped]]:
    """More inline text (Apple Mail splits text around images), the files, and the files over the limit."""
    extra: list[str] = []
    parts: list[Part] = []
    dropped: list[Dropped] = []
    for n, (part, parent) in enumerate(_leaves(msg), start=1):
        if part is body:
            continue
        ctype = part.get_content_type()
        filename = part.get_filename()
        attached = part.get_content_disposition() == "attachment" or bool(filename)
        if not attached and ctype in ("text/plain", "text/html"):
            if parent == "multipart/alternative":
                continue  # another rendering of the body
            if ctype == "text/plain":
                extra.append(_decode(part).strip())
                continue
        data = _payload(part)
        name = _filename(filename, ctype, n)
        if len(data) > limit:
            dropped.append(Dropped(name, len(data)))
        else:
            parts.append(Part(name, ctype, data))
    return extra, parts, dropped


def _payload(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            try:
                return inner[0].as_bytes()
            except Exception:
                return str(inner[0]).encode("utf-8", "replace")
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _filename(filename: str | None, ctype: str, n: int) -> str:
    name = _UNSAFE_NAME.sub("_", filename or "").strip(" ._")[:200]
    if name:
        return name
    if ctype == "message/rfc822":
        return f"message-{n}.eml"
    return f"part-{n}{mimetypes.guess_extension(ctype) or '.bin'}"


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{max(1, round(n / 1024))} KB"


def _normal(text: str) -> str:
    return " ".join(text.split())
