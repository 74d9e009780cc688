"""The composition root: builds store, bus, engine, connectors and the web app for a role (the only
place besides cli.py that imports connectors/)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from connectors import REGISTRY
from connectors.base import Binding, Connector, ConnectorContext, Conversation, HistoryMessage
from crm_core import migrate
from crm_core.store import Store
from queues.bus import INBOUND, Bus, conversation_key
from queues.memory import MemoryBus
from queues.messages import CustomerConsent, InboundMessage
from router import log_events as ev
from router.auth import Passwords, Sessions, Signer
from router.clock import Clock, SystemClock, iso
from router.console import ConsoleApi
from router.delivery import Dispatcher, policy_for
from router.engine import Engine
from router.files import Files
from router.hub import ConsoleHub
from router.logs import get
from router.settings import Settings
from router.web import Health, Routes, build_app

log = get(__name__)
VERSION = "0.1.0"
DEMO_PASSWORD_ENV = "OPENLINES_DEMO_PASSWORD"


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
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return str(value)


class _Sink:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def publish(self, events: Sequence[InboundMessage | CustomerConsent]) -> None:
        for e in events:
            await self._bus.publish(INBOUND, [e], key=conversation_key(e.channel, e.account, e.chat_id))


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


class Daemon:
    """Everything of role `all` in one event loop: store, bus, engine, connectors, web server."""

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.env = os.environ if env is None else env
        self.port: int | None = None
        self.secrets: Secrets | None = None
        self.store: Store | None = None
        self.bus: Bus | None = None
        self.engine: Engine | None = None
        self.connectors: dict[str, Connector] = {}
        self._runner: web.AppRunner | None = None
        self._hub: ConsoleHub | None = None
        self._dispatchers: list[asyncio.Task[None]] = []
        self._stopped = False

    async def start(self) -> None:
        """Migrate, resume and start serving."""
        s = self.settings
        self.secrets = prepare_secrets(s, self.env)
        await asyncio.to_thread(migrate.upgrade, s.database_url)
        log.info(ev.DB_MIGRATED, url=_redact(s.database_url))
        self.store = store = Store.open(s.database_url)
        self.bus = bus = MemoryBus()
        self.engine = Engine(s, store, bus, self.clock)
        await self.engine.start()
        signer = Signer(self.secrets.key)
        self._hub = hub = ConsoleHub(s, bus, store, self.clock)
        hub.start()
        attachments = _Attachments(Path(s.var_dir) / "attachments")
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
        routes, health = Routes(), Health()
        for channel, bindings in self._bindings().items():
            ctx = ConnectorContext(
                channel=channel,
                sink=_Sink(bus),
                checkpoints=_Checkpoints(store, channel, self.clock),
                attachments=attachments,
                routes=routes,
                health=health.reporter(channel),
                history=_History(store),
                signer=signer,
                max_message_length=s.limits.max_message_length,
            )
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
            dispatcher = Dispatcher(channel, connector, bus, self.clock, policy_for(connector))
            self._dispatchers.append(asyncio.create_task(dispatcher.run(), name=f"dispatch.{channel}"))
        app = build_app(
            api, routes, health, {"store": store.kind, "bus": bus.name}, VERSION, self.engine.metrics
        )
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, s.http.host, s.http.port)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else s.http.port
        log.info(ev.DAEMON_STARTED, port=self.port, store=store.kind, bus=bus.name)

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
        connector = self.connectors.get(channel)
        body = await connector.fetch_attachment(account, str(meta.get("ref") or "")) if connector else None
        return None if body is None else (body.mime or mime, body.size, body.chunks)

    def _bindings(self) -> dict[str, list[Binding]]:
        out: dict[str, list[Binding]] = defaultdict(list)
        for line in self.settings.lines:
            for block in line.channels:
                cls = REGISTRY[block["type"]]
                settings = cls.Settings.model_validate(block)
                out[block["type"]].append(Binding(line.id, str(block.get("account") or line.id), settings))
        return out

    async def stop(self) -> None:
        """Stop intake, drain, close the bus and the database (a second call does nothing)."""
        if self._stopped:
            return
        self._stopped = True
        log.info(ev.DAEMON_STOPPING)
        for connector in self.connectors.values():
            with contextlib.suppress(Exception):
                await connector.stop()
        if self._hub:
            await self._hub.stop()
        if self._runner:
            await self._runner.cleanup()
        if self.engine:
            await self.engine.stop()
        for t in self._dispatchers:
            t.cancel()
        for t in self._dispatchers:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self.bus:
            await self.bus.close()
        if self.store:
            await self.store.close()
        log.info(ev.DAEMON_STOPPED)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
