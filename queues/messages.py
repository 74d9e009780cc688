"""The events that flow between connectors, the router and the web role: frozen, versioned, JSON-encodable.

Their codec (`to_dict`, `from_dict`, `dumps`, `loads`, `loads_many`) lives in queues/codec.py and is imported from
here too."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from queues.codec import REGISTRY as _REGISTRY
from queues.codec import dumps as dumps
from queues.codec import from_dict as from_dict
from queues.codec import loads as loads
from queues.codec import loads_many as loads_many
from queues.codec import to_dict as to_dict
from queues.event import Event as Event

# The `name as name` imports keep the codec's functions importable from here, where every other package takes them.


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file reference; bodies live in the attachment store, never on the bus."""

    name: str
    mime: str = "application/octet-stream"
    size: int | None = None
    ref: str | None = None  # the channel's own file id or our attachment-store key
    url: str | None = None
    stored: bool = False  # the body is in our attachment store under `ref` (a widget visitor's upload)


@dataclass(frozen=True, slots=True)
class SenderProfile:
    """What the channel tells us about the customer (goes to the CRM identity)."""

    display_name: str = ""
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language: str | None = None
    phone: str | None = None
    email: str | None = None
    # the channel vouches for the phone and e-mail (a shared contact, a signed-in user, the sender of a mail):
    # they may join the customer to a lead that has them. False: typed into a form; they only fill the lead
    verified: bool = True


@dataclass(frozen=True, slots=True)
class InboundMessage(Event):
    """A customer message from a channel; (channel, account, external_id) is its idempotency key."""

    kind: ClassVar[str] = "inbound.message"
    event_id: str
    channel: str
    account: str
    chat_id: str
    external_id: str
    text: str
    ts: str
    sender: SenderProfile = field(default_factory=SenderProfile)
    attachments: tuple[Attachment, ...] = ()
    source_tag: str | None = None
    automatic: bool = False  # sent by an auto-responder (Auto-Submitted, bounces): never auto-replied to
    # this event edits the message with that external id: its text replaces the old one
    edit_of: str | None = None
    # who the customer is when that is not the conversation (an e-mail address writing in several threads);
    # None: the conversation (chat_id) is the customer, as in a messenger's private chat
    sender_id: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerConsent(Event):
    """The customer allowed or denied messages from us in their channel (VK message_allow / message_deny)."""

    kind: ClassVar[str] = "customer.consent"
    event_id: str
    channel: str
    account: str
    chat_id: str
    allowed: bool
    ts: str


# A closed dialog may be rated this long after its closing (an e-mail link is often clicked days later); a channel's
# rating question, asked at the closing, works as long (router/rules/ratings.py refuses later ratings "too_late", and
# the connectors answer a later press as expired rather than thank for a rating that would not count).
RATE_WITHIN = timedelta(days=7)
# the scores of each scale a line may ask on (like/dislike is 1/0, as Bitrix24; five is 1..5, as Chatwoot), in the
# order the messengers' buttons show them
RATING_SCORES: dict[str, tuple[int, ...]] = {"like": (1, 0), "five": (1, 2, 3, 4, 5)}


RATING_COMMENT_MAX = 2000  # characters of a rating's comment kept (every channel cuts there, the engine too)


def event_ts(when: datetime) -> str:
    """An event's `ts`: UTC, milliseconds, with a Z (a naive time is taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rating_expired(asked: datetime | None, now: datetime) -> bool:
    """Whether a rating question asked at `asked` (None: not known) no longer takes ratings."""
    return asked is not None and now - asked > RATE_WITHIN


@dataclass(frozen=True, slots=True)
class CustomerRating(Event):
    """The customer rated the answer in a dialog (the widget's buttons, Telegram's inline keyboard, VK's keyboard,
    the e-mail link). `score` is on the line's scale (like/dislike: 1/0; five: 1..5); a later rating of the same
    dialog replaces the earlier one, so a redelivered event changes nothing."""

    kind: ClassVar[str] = "customer.rating"
    event_id: str
    channel: str
    account: str
    chat_id: str
    dialog_id: str
    score: int
    ts: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class OperatorCommand(Event):
    """An operator's console command (take, reply, skip, transfer, close, typing, reopen, invite, leave), routed
    on the dialog's partition."""

    kind: ClassVar[str] = "operator.command"
    event_id: str
    operator: str
    command: str
    dialog_id: str
    ts: str
    client_msg_id: str | None = None
    text: str | None = None
    visibility: str = "public"
    to_operator: str | None = None
    to_line: str | None = None
    attachments: tuple[Attachment, ...] = ()  # files uploaded for a reply (refs in the attachment store)
    active: bool = False  # `typing`: started (True) or stopped
    allow_replies: bool = (
        False  # `invite`: the guests may answer the customer too (`to_operator` is the guest)
    )


@dataclass(frozen=True, slots=True)
class OperatorPresence(Event):
    """An operator went online, away or offline."""

    kind: ClassVar[str] = "operator.presence"
    event_id: str
    operator: str
    status: str
    ts: str
    # several web processes: the number of the change in the operator's tabs registry (router/cluster/shared_load.py);
    # the router skips an event older than the last it applied. 0: unnumbered (one web process)
    seq: int = 0


@dataclass(frozen=True, slots=True)
class DialogTimer(Event):
    """A stored deadline of a dialog came due: an offer expired or a queued dialog is to be offered again."""

    kind: ClassVar[str] = "dialog.timer"
    event_id: str
    dialog_id: str
    timer: str  # "offer_expired" | "queue_retry"
    due: str  # the deadline this timer was for; a stale one is a no-op
    ts: str


@dataclass(frozen=True, slots=True)
class OutboundMessage(Event):
    """A message to deliver to a customer in their channel."""

    kind: ClassVar[str] = "outbound.message"
    event_id: str
    message_id: str
    dialog_id: str
    channel: str
    account: str
    chat_id: str
    text: str
    ts: str
    author_kind: str = "operator"
    author_name: str = ""
    attachments: tuple[Attachment, ...] = ()
    # this message asks the customer to rate the answer on that scale ("like": 1 like / 0 dislike; "five": 1..5):
    # the channel shows it its own way (widget buttons, Telegram's inline keyboard, VK's keyboard, an e-mail link)
    # and turns the answer into a CustomerRating for `dialog_id`
    ask_rating: str | None = None
    # with `ask_rating`: the line takes a comment with the score (a channel that can ask for one offers it)
    ask_comment: bool = False


@dataclass(frozen=True, slots=True)
class Receipt(Event):
    """The engine's commit receipt for an inbound event: it is stored (or was already)."""

    kind: ClassVar[str] = "receipt"
    event_id: str
    channel: str
    account: str
    chat_id: str
    external_id: str
    message_id: str | None
    dialog_id: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryStatus(Event):
    """What became of an outbound message: sent (with the channel's id for it) or failed (with the reason)."""

    kind: ClassVar[str] = "delivery.status"
    event_id: str
    message_id: str
    dialog_id: str
    channel: str
    state: str  # "sent" | "failed"
    attempts: int
    ts: str
    error: str | None = None
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConsoleEvent(Event):
    """A frame for the operator consoles of `recipients`."""

    kind: ClassVar[str] = "console.event"
    event_id: str
    recipients: tuple[str, ...]
    frame: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Typing(Event):
    """Someone started or stopped typing in a conversation: shown to the other side, never stored (one lost on the
    way only hides an indicator). From a customer: inbound, to the console of the dialog's operators; from an
    operator: outbound, to the customer's channel (the widget, Telegram's chat action, VK's activity)."""

    kind: ClassVar[str] = "typing"
    event_id: str
    channel: str
    account: str
    chat_id: str
    who: str  # "customer" | "operator"
    active: bool
    ts: str
    dialog_id: str | None = None
    name: str = ""  # the operator's name the customer sees


TYPING_REPEAT = 2.0  # seconds: a "still typing" within this long of the last one passed on is not passed on


def typing_is_news(last: tuple[bool, float] | None, active: bool, now: float) -> bool:
    """Whether a typing frame says something new against the last one passed on (its state, when): a change, or
    "still typing" TYPING_REPEAT after the last (clients repeat every few seconds; Telegram's action lasts 5 s)."""
    return last is None or last[0] != active or (active and now - last[1] >= TYPING_REPEAT)


for _cls in (
    InboundMessage,
    CustomerConsent,
    CustomerRating,
    OperatorCommand,
    OperatorPresence,
    DialogTimer,
    OutboundMessage,
    Receipt,
    DeliveryStatus,
    ConsoleEvent,
    Typing,
):
    _REGISTRY[_cls.kind] = _cls


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one delivery attempt: the channel's id for it, or an error that is retryable or final."""

    ok: bool
    external_id: str | None = None
    error: str | None = None
    retryable: bool = False
