"""The channels of a process: each connector built with its context (sink, checkpoints, files, routes, health,
history), its outbound deliveries started as the role needs them, and the files of channels run elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from connectors import REGISTRY, http_faced
from connectors.base import (
    Binding,
    Connector,
    ConnectorContext,
    Conversation,
    HistoryFile,
    HistoryMessage,
    HistoryPage,
    SendResult,
)
from connectors.shared_limits import RedisLimits
from connectors.widget import WidgetConnector
from crm_core import visitor_history
from crm_core.store import Store
from queues.bus import INBOUND, Bus, conversation_key, process_group
from queues.messages import CustomerConsent, CustomerRating, InboundMessage, OutboundMessage, Receipt, Typing
from router.app import log_events as ev
from router.app.blocks import channel_blocks
from router.app.clock import Clock
from router.app.line_status import LineStatuses, Presences
from router.app.logs import get
from router.app.settings import Settings
from router.engine.delivery import Dispatcher, policy_for
from router.engine.faults import end_tasks
from router.protocol.times import iso
from router.web.app import Health, Routes
from router.web.auth import Signer

log = get(__name__)


class Sink:
    """Publishes what a connector receives onto the inbound stream, keyed by conversation."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def publish(
        self, events: Sequence[InboundMessage | CustomerConsent | CustomerRating | Typing]
    ) -> None:
        await self.submit(events)

    def submit(
        self, events: Sequence[InboundMessage | CustomerConsent | CustomerRating | Typing]
    ) -> asyncio.Future[None]:
        return self._bus.enqueue(
            [(INBOUND, conversation_key(e.channel, e.account, e.chat_id), e) for e in events]
        )


class Checkpoints:
    """A channel's durable positions (offset, ts, IMAP UID) per account, in the store."""

    def __init__(self, store: Store, channel: str, clock: Clock) -> None:
        self._store, self._channel, self._clock = store, channel, clock

    async def get(self, account: str, key: str) -> str | None:
        return await self._store.get_checkpoint(self._channel, account, key)

    async def set(self, account: str, key: str, value: str) -> None:
        await self._store.set_checkpoint(self._channel, account, key, value, self._clock.now())


class Attachments:
    """File bodies under var/attachments, by a random key."""

    def __init__(self, root: Path) -> None:
        self._root = root

    async def put(self, data: bytes, *, name: str, mime: str) -> str:
        key = secrets.token_hex(16)
        self._root.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread((self._root / key).write_bytes, data)
        return key

    async def get(self, key: str) -> bytes | None:
        path = self._root / key
        if not key.isalnum() or not path.exists():
            return None
        return await asyncio.to_thread(path.read_bytes)

    async def exists(self, key: str) -> bool:
        # a stat in a thread: a slow or network disk must not stall every socket of the process
        return key.isalnum() and await asyncio.to_thread((self._root / key).exists)

    async def delete(self, key: str) -> None:
        if key.isalnum():
            await asyncio.to_thread((self._root / key).unlink, missing_ok=True)


class VisitorUploads:
    """Widget visitors' uploads, in the store until a message carries them (router/web/uploads.py sweeps)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store, self._clock = store, clock

    async def track(self, ref: str, account: str, chat_id: str) -> None:
        await self._store.track_visitor_upload(ref, account, chat_id, self._clock.now())


class History:
    """What a customer may read back of their own conversations: public messages of all their dialogs, paged."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def conversation(self, channel: str, account: str, chat_id: str, limit: int) -> Conversation:
        d = await self._store.latest_dialog(channel, account, chat_id)
        if d is None:
            return Conversation(None)
        rows, more = await visitor_history.public_page(
            self._store.engine, channel, account, chat_id, before=None, limit=limit
        )
        return Conversation(d["id"] if d["state"] != "closed" else None, [_history(m) for m in rows], more)

    async def earlier(self, channel: str, account: str, chat_id: str, before: str, limit: int) -> HistoryPage:
        rows, more = await visitor_history.public_page(
            self._store.engine, channel, account, chat_id, before=before, limit=limit
        )
        return HistoryPage([_history(m) for m in rows], more)

    async def message(
        self, channel: str, account: str, chat_id: str, message_id: str
    ) -> HistoryMessage | None:
        row = await visitor_history.public_message(self._store.engine, channel, account, chat_id, message_id)
        return None if row is None else _history(row)


def _history(m: dict[str, Any]) -> HistoryMessage:
    files = tuple(
        HistoryFile(
            str(a.get("name") or "file"),
            str(a.get("mime") or "application/octet-stream"),
            a["size"] if isinstance(a.get("size"), int) else None,
            str(a["ref"]) if a.get("ref") else None,
            bool(a.get("stored")),
        )
        for a in (m["attachments"] or [])
        if isinstance(a, dict)
    )
    # the question asking for a rating is the bot's, its author id "rating:<scale>[:comment]" (engine/staging.py)
    asks = str(m.get("author_id") or "").split(":") if m["author_kind"] == "bot" else []
    scale = asks[1] if len(asks) > 1 and asks[0] == "rating" else None
    return HistoryMessage(
        m["id"],
        m["author_kind"],
        m["author_name"],
        m["text"],
        iso(m["created_at"]) or "",
        m["external_id"],
        m["dialog_id"],
        files,
        ask_rating=scale,
        ask_comment=scale is not None and asks[-1] == "comment",
        rating=m.get("rating") if scale is not None else None,
    )


def bindings(settings: Settings, role: str) -> dict[str, list[Binding]]:
    """The channel bindings a role runs: `web` the HTTP-faced ones (widget, webhooks, callbacks), `connectors`
    every other channel (webhook bots too, for sending), `all` every one."""
    out: dict[str, list[Binding]] = defaultdict(list)
    for line, account, block in channel_blocks(settings):
        settings_ = REGISTRY[block["type"]].Settings.model_validate(block)
        web_side = http_faced(block["type"], settings_)
        # the widget and web forms are served by web processes only (their sockets and posts arrive there)
        if (role == "web" and not web_side) or (role == "connectors" and block["type"] in ("widget", "form")):
            continue
        out[block["type"]].append(Binding(line.id, account, settings_))
    return out


def public_url(settings: Settings, port: int | None = None) -> str | None:
    """Where customers reach the web role: `http.public_url`, else its listen address (`port`: the one it was
    bound to; None while a port chosen at bind, 0, is not known yet)."""
    if settings.http.public_url:
        return settings.http.public_url.rstrip("/")
    port = port or settings.http.port
    if not port:
        return None
    host = settings.http.host if settings.http.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


class Channels:
    """The connectors a process runs for its role, their deliveries, and those opened for their files only."""

    def __init__(
        self,
        settings: Settings,
        role: str,
        store: Store,
        bus: Bus,
        clock: Clock,
        signer: Signer,
        *,
        limits: RedisLimits | None = None,
    ) -> None:
        self.settings = settings
        self.role = role
        self.store = store
        self.bus = bus
        self.clock = clock
        self.signer = signer
        self.limits = limits  # the widget's allowances, shared by the web processes
        self.attachments = Attachments(Path(settings.var_dir) / "attachments")
        self.routes, self.health = Routes(), Health()
        self.connectors: dict[str, Connector] = {}
        # a web process: the channels with accounts it does not run, opened for their files only
        self.file_connectors: dict[str, Connector] = {}
        self._contexts: list[ConnectorContext] = []
        self._statuses: list[LineStatuses] = []
        self.dispatchers: list[Dispatcher] = []
        self.tasks: list[asyncio.Task[None]] = []

    def bindings(self) -> dict[str, list[Binding]]:
        """The channel bindings this role runs."""
        return bindings(self.settings, self.role)

    async def start(self) -> None:
        """Start every channel of the role with its deliveries; a channel that fails is reported, not fatal."""
        for channel, channel_bindings in self.bindings().items():
            ctx = self._context(channel, self.routes, self.health)
            connector: Connector = REGISTRY[channel](channel_bindings, ctx)
            try:
                await connector.start()
            except Exception as exc:  # one broken channel must not take the others down
                log.error(ev.CHANNEL_FAILED, channel=channel, error=str(exc))
                for b in channel_bindings:
                    ctx.health.set(b.account, "refused", str(exc))
                continue
            log.info(ev.CHANNEL_STARTED, channel=channel, accounts=[b.account for b in channel_bindings])
            self.connectors[channel] = connector
            self._dispatch(channel, connector)

    async def stop(self) -> None:
        """Stop intake of every channel (the deliveries stop with `stop_deliveries`)."""
        for connector in [*self.connectors.values(), *self.file_connectors.values()]:
            with contextlib.suppress(Exception):
                await connector.stop()

    async def stop_deliveries(self) -> None:
        """Cancel the outbound consumers."""
        await end_tasks(self.tasks)
        self.tasks = []

    def _dispatch(self, channel: str, connector: Connector) -> None:
        """Start the channel's outbound consumers as this role needs them (see Dispatcher)."""
        # (group, deliver, report, receipts, what sends)
        consumers: list[tuple[str, bool, bool, bool, Connector | _WidgetReport]]
        if self.role != "web":
            consumers = [("connectors", True, True, True, connector)]
        elif isinstance(connector, WidgetConnector):
            # the visitor's socket may be open in any web process: each pushes every message to its own sockets
            # (the widget drops a frame it already has); one of them, in the shared group, reports it once: sent
            # if it can be delivered, failed with the reason if not (a file missing from the store)
            consumers = [
                (process_group(channel), True, False, True, connector),
                ("connectors", True, True, False, _WidgetReport(connector)),
            ]
        else:  # sent by the connectors process; a webhook's answer waits for its receipt in this process
            consumers = [(process_group(channel), False, False, True, connector)]
        for group, deliver, report, receipts, sender in consumers:
            d = Dispatcher(
                channel,
                sender,
                self.bus,
                self.clock,
                policy_for(connector),
                group=group,
                deliver=deliver,
                report=report,
                receipts=receipts,
                # web processes share the "connectors" group of the widget: each needs a name of its own, or
                # they would read each other's pending entries as their own
                consumer=f"{channel}-{process_name()}" if self.role == "web" else channel,
            )
            self.dispatchers.append(d)
            self.tasks.append(asyncio.create_task(d.run(), name=f"dispatch.{channel}"))

    def line_statuses(self, channel: str) -> LineStatuses:
        """The lines' status for a channel's context (the operators' presence is added when the hub starts)."""
        statuses = LineStatuses(self.settings, channel, self.clock)
        self._statuses.append(statuses)
        return statuses

    def hear_presence(self, presences: Presences) -> None:
        """The console hub is up: the lines' status counts who is online from now on."""
        for statuses in self._statuses:
            statuses.presences = presences

    def bound(self, port: int) -> None:
        """The web side listens on `port` now: links the channels send out name it (a port chosen at bind)."""
        for ctx in self._contexts:
            ctx.public_url = public_url(self.settings, port)

    def _context(self, channel: str, routes: Routes, health: Health) -> ConnectorContext:
        ctx = ConnectorContext(
            channel=channel,
            sink=Sink(self.bus),
            checkpoints=Checkpoints(self.store, channel, self.clock),
            attachments=self.attachments,
            routes=routes,
            health=health.reporter(channel),
            history=History(self.store),
            signer=self.signer,
            max_message_length=self.settings.limits.max_message_length,
            limits=self.limits,
            public_url=public_url(self.settings),
            uploads=VisitorUploads(self.store, self.clock) if channel == "widget" else None,
            lines=self.line_statuses(channel),
        )
        self._contexts.append(ctx)
        return ctx

    async def open_files(self) -> None:
        """A web process: a channel with accounts it does not run is opened for files only, with all of its
        accounts, to serve the console the files of whichever process received them."""
        mine = self.bindings()
        for channel, channel_bindings in bindings(self.settings, "all").items():
            if all(b in mine.get(channel, []) for b in channel_bindings):
                continue
            # its health is reported by the process that runs it; the routes it mounts to be opened for files
            # (the e-mail rating page) are served here
            ctx = self._context(channel, self.routes, Health())
            connector: Connector = REGISTRY[channel](channel_bindings, ctx)
            try:
                await connector.open_files()
            except Exception as exc:
                log.warning(ev.CHANNEL_FILES_FAILED, channel=channel, error=str(exc))
                continue
            self.file_connectors[channel] = connector

    async def open_attachment(
        self, channel: str, account: str, meta: dict[str, Any]
    ) -> tuple[str, int | None, AsyncIterator[bytes]] | None:
        """A stored message's file: from our store (operators' uploads) or fetched lazily from its channel."""
        mime = str(meta.get("mime") or "application/octet-stream")
        if meta.get("stored"):
            data = await self.attachments.get(str(meta.get("ref") or ""))
            return None if data is None else (mime, len(data), _once(data))
        connector = self.file_connectors.get(channel) or self.connectors.get(channel)
        body = await connector.fetch_attachment(account, str(meta.get("ref") or "")) if connector else None
        return None if body is None else (body.mime or mime, body.size, body.chunks)


class _WidgetReport:
    """The widget in a web process's shared delivery group: says whether a message can be delivered (every web
    process pushes it to its own visitors' sockets), without pushing it."""

    immediate = True
    delivered_on_commit = True

    def __init__(self, widget: WidgetConnector) -> None:
        self._widget = widget

    async def send(self, msg: OutboundMessage) -> SendResult:
        return await self._widget.deliverable(msg)

    async def on_receipt(self, receipt: Receipt) -> None:
        return None


def process_name() -> str:
    """Unique per process and readable in XINFO: which machine and which pid reads what."""
    return f"{socket.gethostname()}-{os.getpid()}"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def delivered_on_commit() -> frozenset[str]:
    """The channels whose messages the engine stores `sent` (their connectors deliver what is stored)."""
    return frozenset(t for t, cls in REGISTRY.items() if getattr(cls, "delivered_on_commit", False))
