"""PURE: which conversation a mail belongs to, and the headers that keep our answers in the customer's thread.

A conversation (chat_id) is the thread's root Message-ID. Our answers carry `References: root … last`, so the
customer's reply names the root first; a reply whose client kept only In-Reply-To is found through the ids we
remember, and one that lost every header but kept the subject tag `[#TAG]` through the tag.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Any

from connectors.email.parse import Mail

TAG = re.compile(r"\[#([A-Z2-7]{8})\]")
_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv|wg|ответ|отв|пересл)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
MAX_REFERENCES = 20  # root + the latest ones: long threads must not grow the header without bound


@dataclass(frozen=True)
class Thread:
    """What we remember of a conversation to answer in it."""

    root: str  # the chat_id
    subject: str  # the customer's subject, without Re: and our tag
    to: str  # where answers go (the latest customer mail's Reply-To or From)
    name: str
    last: str | None  # the customer's latest Message-ID: our answer's In-Reply-To
    refs: tuple[str, ...] = field(default=())  # the thread's Message-IDs we know, oldest first

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict (stored as a checkpoint value)."""
        return {
            "root": self.root,
            "subject": self.subject,
            "to": self.to,
            "name": self.name,
            "last": self.last,
            "refs": list(self.refs),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Thread:
        """The inverse of `to_json`."""
        return cls(
            str(data["root"]),
            str(data.get("subject") or ""),
            str(data.get("to") or ""),
            str(data.get("name") or ""),
            data.get("last"),
            tuple(data.get("refs") or ()),
        )


def tag_of(chat_id: str) -> str:
    """The subject tag of a conversation: 8 base32 characters of its root's hash."""
    return base64.b32encode(hashlib.sha256(chat_id.encode()).digest()).decode()[:8]


def subject_tag(subject: str) -> str | None:
    """The tag `[#TAG]` in a subject (the last one), or None."""
    found = TAG.findall(subject.upper())
    return found[-1] if found else None


def referenced(mail: Mail) -> list[str]:
    """The Message-IDs a reply names, the most recent first: In-Reply-To, then References from the end (and
    the bounced mail of a delivery report)."""
    ids = [
        *([mail.in_reply_to] if mail.in_reply_to else []),
        *reversed(mail.references),
        *([mail.reported] if mail.reported else []),  # a bounce belongs with the mail that bounced
    ]
    seen: set[str] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]


def root_of(mail: Mail) -> str:
    """The thread root by the headers alone: the first of References, else In-Reply-To, else the mail itself."""
    if mail.references:
        return mail.references[0]
    return mail.in_reply_to or mail.message_id


def base_subject(subject: str) -> str:
    """A subject without reply/forward prefixes and our tags."""
    return " ".join(_PREFIX.sub("", TAG.sub("", subject)).split())


def reply_subject(subject: str, chat_id: str) -> str:
    """`Re: <original subject> [#TAG]`."""
    base = base_subject(subject)
    return f"Re: {base} [#{tag_of(chat_id)}]" if base else f"Re: [#{tag_of(chat_id)}]"


def customer_wrote(thread: Thread | None, chat_id: str, mail: Mail) -> Thread:
    """The conversation after a customer's mail in it (a mail seen before changes nothing)."""
    if thread is not None and mail.message_id in thread.refs:
        return thread
    ids = [*(thread.refs if thread else ()), *mail.references, mail.message_id]
    refs = _bounded([chat_id, *ids])
    return Thread(
        root=chat_id,
        subject=(thread.subject if thread and thread.subject else base_subject(mail.subject)),
        to=mail.reply_address or (thread.to if thread else ""),
        name=mail.reply_name or (thread.name if thread else ""),
        last=mail.message_id if mail.real_message_id else (thread.last if thread else None),
        refs=refs,
    )


def we_sent(thread: Thread, message_id: str) -> Thread:
    """The conversation after our answer went out."""
    if message_id in thread.refs:
        return thread
    return replace(thread, refs=_bounded([*thread.refs, message_id]))


def references(thread: Thread, message_id: str) -> list[str]:
    """Our answer's References: the root first, then the thread's latest ids (never our own new one)."""
    return [i for i in _bounded([thread.root, *thread.refs]) if i != message_id]


def our_message_id(message_id: str, address: str) -> str:
    """The Message-ID of our answer: derived from the stored message id, so a retry sends the same one."""
    safe = re.sub(r"[^A-Za-z0-9.-]", "-", message_id)
    return f"<openlines.{safe}@{address.rpartition('@')[2]}>"


def is_ours(message_id: str, address: str) -> bool:
    """A Message-ID we made (our own answer came back into the mailbox)."""
    return message_id.startswith("<openlines.") and message_id.endswith(f"@{address.rpartition('@')[2]}>")


def _bounded(ids: list[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    unique = [i for i in ids if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]
    if len(unique) <= MAX_REFERENCES:
        return tuple(unique)
    return (unique[0], *unique[-(MAX_REFERENCES - 1) :])
