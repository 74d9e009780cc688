"""The Connector protocol and the ConnectorContext the composition root gives each connector."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from aiohttp import web
from pydantic import BaseModel

from connectors.ratelimit import Limits
from queues.messages import (
    CustomerConsent,
    CustomerRating,
    InboundMessage,
    OutboundMessage,
    Receipt,
    SendResult,
    Typing,
)

__all__ = ["SendResult"]  # re-exported: connectors import it from here

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class InboundSink(Protocol):
    async def publish(
        self, events: Sequence[InboundMessage | CustomerConsent | CustomerRating | Typing]
    ) -> None:
        """Hand inbound events to the router; their commit receipts come back through `on_receipt`
        (a consent's or a rating's receipt carries its event id as `external_id`)."""
        ...

    def submit(
        self, events: Sequence[InboundMessage | CustomerConsent | CustomerRating | Typing]
    ) -> asyncio.Future[None]:
        """As `publish`, but return at once (calls keep their order); the future fails if the events could not
        be handed over. For a socket handler that reads its next frame meanwhile."""
        ...


class CheckpointStore(Protocol):
    async def get(self, account: str, key: str) -> str | None:
        """A durable position of this channel account (offset, ts, IMAP UID)."""
        ...

    async def set(self, account: str, key: str, value: str) -> None:
        """Save a position; call it only after the commit receipt for what it covers."""
        ...


class AttachmentStore(Protocol):
    async def put(self, data: bytes, *, name: str, mime: str) -> str:
        """Store a file body; returns its key."""
        ...

    async def get(self, key: str) -> bytes | None:
        """A stored file body."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether a file body is stored under the key."""
        ...


class LineStatus(Protocol):
    """Whether a line works now: within its business hours, and with an operator of its queue online."""

    @property
    def open(self) -> bool: ...

    @property
    def staffed(self) -> bool: ...


class LineStatusReader(Protocol):
    async def status(self, account: str) -> LineStatus | None:
        """The status of the line a channel account serves (None: not known)."""
        ...


class UploadLog(Protocol):
    async def track(self, ref: str, account: str, chat_id: str) -> None:
        """Remember a customer's upload until a message carries it (an unsent one is removed after a grace)."""
        ...


class RouteTable(Protocol):
    def add(self, method: str, path: str, handler: Handler) -> None:
        """Mount an HTTP route (webhook, callback, websocket) in the web role."""
        ...


class HealthReporter(Protocol):
    def set(self, account: str, state: str, detail: str | None = None) -> None:
        """Report a channel account's state ("up", "starting", "down", "refused") for /healthz."""
        ...


@dataclass(frozen=True)
class HistoryFile:
    """A file of a stored message: its name, type and size, and where its body is (`stored`: our attachment
    store, under `ref`; otherwise `ref` is the channel's own id for it)."""

    name: str
    mime: str
    size: int | None
    ref: str | None
    stored: bool


@dataclass(frozen=True)
class HistoryMessage:
    """One public message of a conversation, as a channel may replay it to the customer."""

    id: str
    author_kind: str
    author_name: str
    text: str
    ts: str
    external_id: str | None
    dialog_id: str = ""
    files: tuple[HistoryFile, ...] = ()
    # a question asking the customer to rate the answer: the scale (None: not one), whether a comment is taken,
    # and the dialog's rating now (None: not rated yet), so the channel can show it answered
    ask_rating: str | None = None
    ask_comment: bool = False
    rating: int | None = None


@dataclass(frozen=True)
class HistoryPage:
    """Public messages of a customer's dialogs, oldest first, and whether there are older ones."""

    messages: list[HistoryMessage] = field(default_factory=list)
    more: bool = False


@dataclass(frozen=True)
class Conversation:
    """A customer's newest page of history across their dialogs, and their open dialog's id (None: the latest
    one is closed, or there is none)."""

    open_dialog_id: str | None
    messages: list[HistoryMessage] = field(default_factory=list)
    more: bool = False  # there are older messages than these (`HistoryReader.earlier` pages them)


class HistoryReader(Protocol):
    """What a channel may read back of a customer's conversations: only public messages (never an operators'
    internal note) that were not refused delivery, of that one customer."""

    async def conversation(self, channel: str, account: str, chat_id: str, limit: int) -> Conversation:
        """The newest `limit` messages of the customer's dialogs on this channel account, and their open dialog."""
        ...

    async def earlier(self, channel: str, account: str, chat_id: str, before: str, limit: int) -> HistoryPage:
        """The `limit` messages of the customer's dialogs just older than the message id `before`."""
        ...

    async def message(
        self, channel: str, account: str, chat_id: str, message_id: str
    ) -> HistoryMessage | None:
        """One message of the customer's dialogs (None: not theirs, not public, or no such message)."""
        ...


class Signer(Protocol):
    def sign(self, payload: dict[str, Any]) -> str:
        """A tamper-proof token carrying the payload."""
        ...

    def verify(self, token: str, max_age_seconds: float) -> dict[str, Any] | None:
        """The payload of a genuine, unexpired token, else None."""
        ...


@dataclass(frozen=True)
class Binding:
    """One channel block of the config: the line it serves, its account name and its validated settings."""

    line_id: str
    account: str
    settings: Any


@dataclass
class ConnectorContext:
    """Everything a connector may use; it gets nothing else (no engine, no store)."""

    channel: str
    sink: InboundSink
    checkpoints: CheckpointStore
    attachments: AttachmentStore
    routes: RouteTable
    health: HealthReporter
    history: HistoryReader
    signer: Signer
    max_message_length: int = 4000
    limits: Limits | None = None  # message allowances shared by the web processes (None: each its own)
    # the absolute URL customers reach the web role at (settings' http.public_url, else its listen address), for
    # links a channel sends out that lead back to its own routes (the e-mail rating page); None: not known
    public_url: str | None = None
    uploads: UploadLog | None = None  # customers' uploads not yet sent (None: not tracked, never swept)
    lines: LineStatusReader | None = None  # whether the lines work now (None: not known)


@dataclass
class AttachmentBody:
    """A file a channel streams to the console on demand (fetched lazily from the channel)."""

    mime: str
    size: int | None
    chunks: AsyncIterator[bytes]


class Connector(Protocol):
    """One channel type; a single instance serves every line bound to that type."""

    type: ClassVar[str]
    Settings: ClassVar[builtins.type[BaseModel]]

    async def start(self) -> None:
        """Mount routes and start background loops."""
        ...

    async def stop(self) -> None:
        """Stop intake and close connections."""
        ...

    async def open_files(self) -> None:
        """Instead of `start`: only make `fetch_attachment` work, taking nothing in and sending nothing (a web
        process serves operators the files of channels that another process runs)."""
        ...

    async def send(self, msg: OutboundMessage) -> SendResult:
        """Deliver a message to the customer."""
        ...

    async def on_receipt(self, receipt: Receipt) -> None:
        """The router committed an inbound event: acknowledge it to the channel."""
        ...

    async def fetch_attachment(self, account: str, ref: str) -> AttachmentBody | None:
        """Stream an inbound attachment by its reference (e.g. a Telegram file id); None if unknown."""
        ...
