"""The composition root: builds store, bus, engine, connectors and the web app for a role (the only
place besides cli.py that imports connectors/)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from connectors import REGISTRY, http_faced
from connectors.base import Binding, Connector, ConnectorContext, Conversation, HistoryMessage
from connectors.shared_limits import RedisLimits
from crm_core import migrate
from crm_core.store import Store
from queues.bus import CONSOLE, INBOUND, Bus, conversation_key, outbound_stream, process_group
from queues.memory import MemoryBus
from queues.messages import CustomerConsent, InboundMessage
from queues.redis_streams import RedisBus
from router.app import log_events as ev
from router.app.clock import Clock, SystemClock, iso
from router.app.logs import get
from router.app.metrics import Metrics
from router.app.settings import Settings
from router.cluster.shared_load import RedisSharedLoad, SharedLoad
from router.engine.core import Engine
from router.engine.delivery import Dispatcher, policy_for
from router.web.app import Health, Routes, build_app
from router.web.auth import Passwords, Sessions, Signer
from router.web.console import ConsoleApi
from router.web.files import Files
from router.web.hub import ConsoleHub

log = get(__name__)
VERSION = "0.1.0"
DEMO_PASSWORD_ENV = "OPENLINES_DEMO_PASSWORD"
TRIM_EVERY = 60.0  # seconds between trims of the Redis streams


@dataclass
class Secrets:
    """The secret key and operator password hashes, and the demo password when one was made or given."""

    key: bytes
    hashes: dict[str, str]
    demo_password: str | None = None
    demo_logins: list[str] = field(default_factory=list)
    demo_password_new: bool = False


def prepare_secrets(settings: Settings, env: Mapping[str, str]) -> Secrets:
    """Resolve the secret key (generated into var_dir when unset) and every operator's password hash."""
    var = Path(settings.var_dir)
    var.mkdir(parents=True, exist_ok=True)
    key = settings.secret_key
    if not key:
        if not (var / "secret_key").exists():
            log.info(ev.SECRET_KEY_CREATED, path=str(var / "secret_key"))
        key = _var_secret(var / "secret_key", lambda: secrets.token_urlsafe(32))
    hashes: dict[str, str] = {}
    demo: str | None = None
    new = False
    demo_logins = []
    for op in settings.operators:
        if op.password and op.password.startswith("$argon2"):
            hashes[op.login] = op.password
            continue
        if op.password:
            hashes[op.login] = Passwords.hash(op.password)
            continue
        if demo is None:
            demo = env.get(DEMO_PASSWORD_ENV)
            if not demo:
                path = var / "demo-password"
                new = not path.exists()
                demo = _var_secret(path, lambda: secrets.token_urlsafe(9))
                if new:
                    log.info(ev.DEMO_PASSWORD_CREATED, path=str(path))
        hashes[op.login] = Passwords.hash(demo)
        demo_logins.append(op.login)
    return Secrets(key.encode(), hashes, demo, demo_logins, new)


def _var_secret(path: Path, make: Any) -> str:
    if path.exists():
        return path.read_text().strip()
    value = make()
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    try:
        os.link(tmp, path)  # atomic and exclusive: processes started together all end up with the first one's
    except FileExistsError:
        value = path.read_text().strip()
    finally:
        tmp.unlink()
    return str(value)


class _Sink:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def publish(self, events: Sequence[InboundMessage | CustomerConsent]) -> None:
        await self.submit(events)

    def submit(self, events: Sequence[InboundMessage | CustomerConsent]) -> asyncio.Future[None]:
        return self._bus.enqueue(
            [(INBOUND, conversation_key(e.channel, e.account, e.chat_id), e) for e in events]
        )


class _Checkpoints:
    def __init__(self, store: Store, channel: str, clock: Clock) -> None:
        self._store, self._channel, self._clock = store, channel, clock

    async def get(self, account: str, key: str) -> str | None:
        return await self._store.get_checkpoint(self._channel, account, key)

    async def set(self, account: str, key: str, value: str) -> None:
        await self._store.set_checkpoint(self._channel, account, key, value, self._clock.now())


class _Attachments:
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
        return key.isalnum() and (self._root / key).exists()


class _History:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def conversation(self, channel: str, account: str, chat_id: str) -> Conversation:
        d = await self._store.latest_dialog(channel, account, chat_id)
        if d is None:
            return Conversation(None)
        rows = await self._store.dialog_messages([d["id"]], public_only=True)
        msgs = [
            HistoryMessage(
                m["id"],
                m["author_kind"],
                m["author_name"],
                m["text"],
                iso(m["created_at"]) or "",
                m["external_id"],
            )
            for m in rows
        ]
        return Conversation(d["id"] if d["state"] != "closed" else None, msgs)


ROLES = ("all", "web", "router", "connectors")


def _bindings(settings: Settings, role: str) -> dict[str, list[Binding]]:
    """The channel bindings a role runs: `web` the HTTP-faced ones (widget, webhooks, callbacks), `connectors`
    every other channel (webhook bots too, for sending), `all` every one."""
    out: dict[str, list[Binding]] = defaultdict(list)
    for line in settings.lines:
        for block in line.channels:
            cls = REGISTRY[block["type"]]
            settings_ = cls.Settings.model_validate(block)
            web_side = http_faced(block["type"], settings_)
            if (role == "web" and not web_side) or (role == "connectors" and block["type"] == "widget"):
                continue
            out[block["type"]].append(Binding(line.id, str(block.get("account") or line.id), settings_))
    return out


class Daemon:
    """One process of a role: `all` runs everything in one event loop; `web` the console, widget and webhooks;
    `router` a routing engine worker; `connectors` the channels' loops and their outbound deliveries."""

    def __init__(
        self,
        settings: Settings,
        *,
        role: str = "all",
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if role != "all" and settings.queue.backend == "memory":
            raise ValueError(
                f"role {role!r} needs queue.backend: redis (the memory bus lives in one process)"
            )
        self.settings = settings
        self.role = role
        self.clock = clock or SystemClock()
        self.env = os.environ if env is None else env
        self.port: int | None = None
        self.secrets: Secrets | None = None
        self.store: Store | None = None
        self.bus: Bus | None = None
        self.shared: SharedLoad | None = None
        self.limits: RedisLimits | None = None  # the widget's allowances, shared by the web processes
        self.engine: Engine | None = None
        self.connectors: dict[str, Connector] = {}
        # a web process: the channels with accounts it does not run, opened for their files only
        self._file_connectors: dict[str, Connector] = {}
        self.dispatchers: list[Dispatcher] = []
        self._runner: web.AppRunner | None = None
        self._hub: ConsoleHub | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False

    def _has(self, part: str) -> bool:
        return self.role in ("all", part)

    async def start(self) -> None:
        """Migrate, resume and start serving."""
        s = self.settings
        self.secrets = prepare_secrets(s, self.env)
        await asyncio.to_thread(migrate.upgrade, s.database_url)
        log.info(ev.DB_MIGRATED, url=_redact(s.database_url))
        self.store = store = Store.open(s.database_url)
        self.bus = bus = self._open_bus()
        if self._has("router"):
            if s.queue.backend == "redis":
                assert s.queue.url
                self.shared = RedisSharedLoad(s.queue.url, cluster=s.queue.cluster)
            self.engine = Engine(s, store, bus, self.clock, consumer=_consumer_name(), shared=self.shared)
            await self.engine.start()
            if isinstance(bus, RedisBus):
                self._tasks.append(asyncio.create_task(self._trim(bus), name="bus.trim"))
        if self.role == "router":
            log.info(ev.DAEMON_STARTED, role=self.role, port=None, store=store.kind, bus=bus.name)
            return
        signer = Signer(self.secrets.key)
        attachments = _Attachments(Path(s.var_dir) / "attachments")
        routes, health = Routes(), Health()
        if s.queue.backend == "redis" and self._has("web"):
            assert s.queue.url  # several web processes: one widget allowance per client across all of them
            self.limits = RedisLimits(s.queue.url, cluster=s.queue.cluster)
        for channel, bindings in self._bindings().items():
            ctx = self._context(channel, attachments, signer, routes, health)
            connector: Connector = REGISTRY[channel](bindings, ctx)
            try:
                await connector.start()
            except Exception as exc:  # one broken channel must not take the others down
                log.error(ev.CHANNEL_FAILED, channel=channel, error=str(exc))
                for b in bindings:
                    ctx.health.set(b.account, "refused", str(exc))
                continue
            log.info(ev.CHANNEL_STARTED, channel=channel, accounts=[b.account for b in bindings])
            self.connectors[channel] = connector
            self._dispatch(channel, connector)
        if not self._has("web"):
            log.info(ev.DAEMON_STARTED, role=self.role, port=None, store=store.kind, bus=bus.name)
            return
        if self.role == "web":  # operators open the files of channels the connectors process runs
            await self._open_files(attachments, signer)
        if s.queue.backend == "redis" and self.shared is None:
            assert s.queue.url
            self.shared = RedisSharedLoad(s.queue.url, cluster=s.queue.cluster)  # the operators' tabs
        self._hub = hub = ConsoleHub(s, bus, store, self.clock, tabs=self.shared)
        hub.start()
        files = Files(attachments, self._open_attachment)
        api = ConsoleApi(
            s,
            store,
            Sessions(store, self.secrets.key, self.clock),
            Passwords(self.secrets.hashes),
            hub,
            self.clock,
            files,
        )
        metrics = self.engine.metrics if self.engine else Metrics()
        app = build_app(api, routes, health, {"store": store.kind, "bus": bus.name}, VERSION, metrics)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, s.http.host, s.http.port, reuse_port=s.http.reuse_port or None)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else s.http.port
        log.info(ev.DAEMON_STARTED, role=self.role, port=self.port, store=store.kind, bus=bus.name)

    def _open_bus(self) -> Bus:
        q = self.settings.queue
        if q.backend == "memory":
            return MemoryBus()
        assert q.url
        return RedisBus(
            q.url,
            stream_partitions={INBOUND: q.partitions},
            lease_time=q.lease_time.total_seconds(),
            cluster=q.cluster,
        )

    def _dispatch(self, channel: str, connector: Connector) -> None:
        """Start the channel's outbound consumers as this role needs them (see Dispatcher)."""
        assert self.bus is not None
        # (group, deliver, report, receipts)
        consumers: list[tuple[str, bool, bool, bool]]
        if self.role != "web":
            consumers = [("connectors", True, True, True)]
        elif channel == "widget":
            # the visitor's socket may be open in any web process: each pushes every message to its own sockets
            # (the widget drops a frame it already has); one of them, in the shared group, reports it sent once
            consumers = [(process_group(channel), True, False, True), ("connectors", False, True, False)]
        else:  # sent by the connectors process; a webhook's answer waits for its receipt in this process
            consumers = [(process_group(channel), False, False, True)]
        for group, deliver, report, receipts in consumers:
            d = Dispatcher(
                channel,
                connector,
                self.bus,
                self.clock,
                policy_for(connector),
                group=group,
                deliver=deliver,
                report=report,
                receipts=receipts,
                # web processes share the "connectors" group of the widget: each needs a name of its own, or
                # they would read each other's pending entries as their own
                consumer=f"{channel}-{_process_name()}" if self.role == "web" else channel,
            )
            self.dispatchers.append(d)
            self._tasks.append(asyncio.create_task(d.run(), name=f"dispatch.{channel}"))

    async def _trim(self, bus: RedisBus) -> None:
        streams = [INBOUND, CONSOLE, *(outbound_stream(c) for c in self._bindings())]
        while True:
            await asyncio.sleep(TRIM_EVERY)
            for stream in streams:
                try:
                    removed = await bus.trim(stream)
                except Exception as exc:  # Redis away for a moment: the next round trims
                    log.warning(ev.BUS_TRIM_FAILED, stream=stream, error=str(exc))
                    continue
                if removed:
                    log.debug(ev.BUS_TRIMMED, stream=stream, removed=removed)

    def _context(
        self, channel: str, attachments: _Attachments, signer: Signer, routes: Routes, health: Health
    ) -> ConnectorContext:
        assert self.store is not None and self.bus is not None
        return ConnectorContext(
            channel=channel,
            sink=_Sink(self.bus),
            checkpoints=_Checkpoints(self.store, channel, self.clock),
            attachments=attachments,
            routes=routes,
            health=health.reporter(channel),
            history=_History(self.store),
            signer=signer,
            max_message_length=self.settings.limits.max_message_length,
            limits=self.limits,
        )

    async def _open_files(self, attachments: _Attachments, signer: Signer) -> None:
        """A web process: a channel with accounts it does not run is opened for files only, with all of its
        accounts, to serve the console the files of whichever process received them."""
        mine = self._bindings()
        for channel, bindings in _bindings(self.settings, "all").items():
            if all(b in mine.get(channel, []) for b in bindings):
                continue
            # its routes are served nowhere, its health is reported by the process that runs it
            ctx = self._context(channel, attachments, signer, Routes(), Health())
            connector: Connector = REGISTRY[channel](bindings, ctx)
            try:
                await connector.open_files()
            except Exception as exc:
                log.warning(ev.CHANNEL_FILES_FAILED, channel=channel, error=str(exc))
                continue
            self._file_connectors[channel] = connector

    async def _open_attachment(
        self, channel: str, account: str, meta: dict[str, Any]
    ) -> tuple[str, int | None, AsyncIterator[bytes]] | None:
        """A stored message's file: from our store (operators' uploads) or fetched lazily from its channel."""
        mime = str(meta.get("mime") or "application/octet-stream")
        if meta.get("stored"):
            data = await _Attachments(Path(self.settings.var_dir) / "attachments").get(
                str(meta.get("ref") or "")
            )
            return None if data is None else (mime, len(data), _once(data))
        connector = self._file_connectors.get(channel) or self.connectors.get(channel)
        body = await connector.fetch_attachment(account, str(meta.get("ref") or "")) if connector else None
        return None if body is None else (body.mime or mime, body.size, body.chunks)

    def _bindings(self) -> dict[str, list[Binding]]:
        """The channel bindings this role runs: `web` the HTTP-faced ones (widget, webhooks, callbacks),
        `connectors` every other channel (webhook bots too, for sending), `all` every one."""
        return _bindings(self.settings, self.role)

    async def stop(self) -> None:
        """Stop intake, drain, close the bus and the database (a second call does nothing)."""
        if self._stopped:
            return
        self._stopped = True
        log.info(ev.DAEMON_STOPPING)
        for connector in [*self.connectors.values(), *self._file_connectors.values()]:
            with contextlib.suppress(Exception):
                await connector.stop()
        if self._hub:
            await self._hub.stop()
        if self._runner:
            await self._runner.cleanup()
        if self.engine:
            await self.engine.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self.bus:
            await self.bus.close()
        if self.shared:
            await self.shared.close()
        if self.limits:
            await self.limits.close()
        if self.store:
            await self.store.close()
        log.info(ev.DAEMON_STOPPED)


def _process_name() -> str:
    # unique per process and readable in XINFO: which machine and which pid reads what
    return f"{socket.gethostname()}-{os.getpid()}"


def _consumer_name() -> str:
    return f"router-{_process_name()}"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
