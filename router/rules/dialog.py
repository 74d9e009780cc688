"""PURE: a dialog as the rules see it, a line's routing policy, and the effects a transition asks the engine for."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from router.rules.autoreply import Language, Templates
from router.rules.distribution import Mode
from router.rules.hours import Schedule, always_open
from router.rules.ratings import RatingPolicy

QUEUED, OFFERED, ASSIGNED, CLOSED = "queued", "offered", "assigned", "closed"


@dataclass(frozen=True, slots=True)
class Dialog:
    """One conversation session of a customer on a line."""

    id: str
    line_id: str
    lead_id: str
    identity_id: str
    channel: str
    account: str
    chat_id: str
    state: str
    created_at: datetime
    customer_name: str = ""
    operator: str | None = None
    offered_to: tuple[str, ...] = ()
    offer_deadline: datetime | None = None
    excluded: frozenset[str] = frozenset()
    last_offered: str | None = None
    preferred: str | None = None
    queued_since: datetime | None = None
    retry_at: datetime | None = None
    closed_at: datetime | None = None
    first_response_at: datetime | None = None
    last_message_at: datetime | None = None
    last_message_text: str | None = None
    last_message_author: str | None = None
    source_tag: str | None = None
    off_hours_key: str | None = None
    answer_due: datetime | None = None
    no_answer_sent: bool = False
    auto_close_at: datetime | None = None
    # colleagues the operator invited (Bitrix24's "consult"): they follow the dialog and write internal notes;
    # public replies too when `guests_reply`; the dialog stays the operator's
    invited: tuple[str, ...] = ()
    guests_reply: bool = False
    # the customer's rating of the answer on the line's scale, their comment, when (a re-rating replaces it)
    rating: int | None = None
    rating_comment: str | None = None
    rated_at: datetime | None = None
    version: int = (
        0  # of the stored row, as this worker last read or wrote it (the store refuses a stale write)
    )


_NAMES = tuple(f.name for f in fields(Dialog))
_INDEX = {name: i for i, name in enumerate(_NAMES)}
_VALUES = attrgetter(*_NAMES)


def field_values(d: Dialog) -> tuple[Any, ...]:
    """A dialog's field values in declaration order."""
    return _VALUES(d)


def evolve(d: Dialog, **changes: Any) -> Dialog:
    """`dataclasses.replace` for a Dialog, several times faster (a batch makes a few for every message)."""
    values = list(_VALUES(d))
    for name, value in changes.items():
        values[_INDEX[name]] = value
    return Dialog(*values)


@dataclass(frozen=True, slots=True)
class LinePolicy:
    """The routing rules of a line."""

    id: str
    name: str
    mode: Mode
    queue: tuple[str, ...]
    offer_timeout: timedelta
    retry_interval: timedelta
    sticky: bool = True
    schedule: Schedule = field(default_factory=always_open)
    on_no_answer: str = (
        "none"  # auto_reply | requeue | none: after everyone was offered it and nobody took it
    )
    templates: Templates = field(default_factory=Templates)
    language: Language = "en"
    auto_close_after: timedelta | None = None
    reopen_within: timedelta | None = None
    rating: RatingPolicy | None = None  # the customer is asked to rate the answer on close (None: not asked)


# ---- effects: what the engine must persist and tell the consoles ---------------------------------


@dataclass(frozen=True, slots=True)
class Offered:
    operators: tuple[str, ...]
    deadline: datetime


@dataclass(frozen=True, slots=True)
class Withdrawn:
    operators: tuple[str, ...]
    reason: str  # taken | expired | skipped | away | closed | transferred


@dataclass(frozen=True, slots=True)
class Queued:
    reason: str  # new | nobody_available | transferred


@dataclass(frozen=True, slots=True)
class Assigned:
    operator: str
    previous: str | None
    how: str  # take | reply | transfer


@dataclass(frozen=True, slots=True)
class Transferred:
    by: str
    from_operator: str | None
    to_operator: str | None
    to_line: str | None
    note: str | None = None  # to the next operator: what the customer wants, what was tried


@dataclass(frozen=True, slots=True)
class Closed:
    by: str | None


@dataclass(frozen=True, slots=True)
class ResponsibleChanged:
    operator: str


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """Every operator was offered the dialog and none took it (the line's `on_no_answer` is auto_reply)."""


@dataclass(frozen=True, slots=True)
class Reopened:
    """A closed dialog came back to life: the customer wrote within `reopen_within`."""


@dataclass(frozen=True, slots=True)
class Invited:
    guest: str
    by: str
    replies: bool  # the guests may answer the customer too


@dataclass(frozen=True, slots=True)
class Left:
    guest: str
    by: str  # the guest themselves, or the operator (or an admin) who took them out


@dataclass(frozen=True, slots=True)
class FirstResponse:
    operator: str
    seconds: float


Effect = (
    Offered
    | Withdrawn
    | Queued
    | Assigned
    | Transferred
    | Closed
    | ResponsibleChanged
    | FirstResponse
    | NoAnswer
    | Reopened
    | Invited
    | Left
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The dialog after a transition, its effects in order, or an error (code, message) and no change."""

    dialog: Dialog
    effects: tuple[Effect, ...] = ()
    error: tuple[str, str] | None = field(default=None)
