"""The composition root: builds store, bus, engine, connectors and the web app for a role (the only
place besides cli.py that imports connectors/, through router/app/channels.py)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

from aiohttp import web

from connectors.base import Connector
from connectors.shared_limits import RedisLimits
from crm_core import migrate
from crm_core.store import Store
from queues.bus import CONSOLE, INBOUND, Bus, outbound_stream
from queues.memory import MemoryBus
from queues.redis_client import raise_if_cancelled
from queues.redis_streams import RedisBus
from router.app import log_events as ev
from router.app.channels import Channels, bindings, delivered_on_commit, process_name
from router.app.clock import Clock, SystemClock
from router.app.logs import get
from router.app.metrics import Metrics
from router.app.secrets import Secrets, prepare_secrets
from router.app.settings import Settings
from router.cluster.redis_load import RedisSharedLoad
from router.cluster.shared_load import SharedLoad
from router.engine.core import Engine
from router.engine.delivery import Dispatcher
from router.engine.faults import end_tasks
from router.web.app import build_app
from router.web.auth import Passwords, Sessions, Signer
from router.web.clients import networks
from router.web.console import ConsoleApi
from router.web.files import Files
from router.web.hub import ConsoleHub
from router.web.listener import Listener
from router.web.uploads import UploadSweeper

log = get(__name__)
VERSION = "0.1.0"
TRIM_EVERY = 60.0  # seconds between trims of the Redis streams
ROLES = ("all", "web", "router", "connectors")


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
        self.channels: Channels | None = None
        self._runner: web.AppRunner | None = None
        self._hub: ConsoleHub | None = None
        self._uploads: UploadSweeper | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False

    @property
    def connectors(self) -> dict[str, Connector]:
        """The channels this process runs, by type."""
        return self.channels.connectors if self.channels else {}

    @property
    def dispatchers(self) -> list[Dispatcher]:
        """The outbound consumers this process runs."""
        return self.channels.dispatchers if self.channels else []

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
            self.engine = Engine(
                s,
                store,
                bus,
                self.clock,
                consumer=_consumer_name(),
                shared=self.shared,
                delivered_on_commit=delivered_on_commit(),
            )
            await self.engine.start()
            if isinstance(bus, RedisBus):
                self._tasks.append(asyncio.create_task(self._trim(bus), name="bus.trim"))
        if self.role == "router":
            log.info(ev.DAEMON_STARTED, role=self.role, port=None, store=store.kind, bus=bus.name)
            return
        if s.queue.backend == "redis" and self._has("web"):
            assert s.queue.url  # several web processes: one widget allowance per client across all of them
            self.limits = RedisLimits(s.queue.url, cluster=s.queue.cluster)
        signer = Signer(self.secrets.key)
        self.channels = channels = Channels(s, self.role, store, bus, self.clock, signer, limits=self.limits)
        await channels.start()
        if not self._has("web"):
            log.info(ev.DAEMON_STARTED, role=self.role, port=None, store=store.kind, bus=bus.name)
            return
        if self.role == "web":  # operators open the files of channels the connectors process runs
            await channels.open_files()
        if s.queue.backend == "redis" and self.shared is None:
            assert s.queue.url
            self.shared = RedisSharedLoad(s.queue.url, cluster=s.queue.cluster)  # the operators' tabs
        sessions = Sessions(store, self.secrets.key, self.clock, self.secrets.credentials)
        self._hub = hub = ConsoleHub(s, bus, store, self.clock, tabs=self.shared, sessions=sessions)
        hub.start()
        channels.hear_presence(hub.presences)
        self._uploads = UploadSweeper(store, channels.attachments, self.clock)
        self._uploads.start()
        files = Files(channels.attachments, channels.open_attachment)
        api = ConsoleApi(
            s,
            store,
            sessions,
            Passwords(self.secrets.hashes),
            hub,
            self.clock,
            files,
        )
        metrics = self.engine.metrics if self.engine else Metrics()
        backends = {"store": store.kind, "bus": bus.name}
        app = build_app(api, channels.routes, channels.health, backends, VERSION, metrics, s.http)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = Listener(
            self._runner,
            s.http.host,
            s.http.port,
            reuse_port=s.http.reuse_port or None,
            per_address=s.http.max_connections_per_address,
            header_timeout=s.http.header_timeout.total_seconds(),
            exempt=networks(s.http.trusted_proxies),
        )
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else s.http.port
        channels.bound(self.port)
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

    async def _trim(self, bus: RedisBus) -> None:
        streams = [INBOUND, CONSOLE, *(outbound_stream(c) for c in bindings(self.settings, self.role))]
        while True:
            await asyncio.sleep(TRIM_EVERY)
            for stream in streams:
                try:
                    removed = await bus.trim(stream)
                except Exception as exc:  # Redis away for a moment: the next round trims
                    raise_if_cancelled()  # redis-py may surface our cancellation as an error: end, don't loop
                    log.warning(ev.BUS_TRIM_FAILED, stream=stream, error=str(exc))
                    continue
                if removed:
                    log.debug(ev.BUS_TRIMMED, stream=stream, removed=removed)

    async def stop(self) -> None:
        """Stop intake, drain, close the bus and the database (a second call does nothing)."""
        if self._stopped:
            return
        self._stopped = True
        log.info(ev.DAEMON_STOPPING)
        if self.channels:
            await self.channels.stop()
        if self._hub:
            await self._hub.stop()
        if self._uploads:
            await self._uploads.stop()
        if self._runner:
            await self._runner.cleanup()
        if self.engine:
            await self.engine.stop()
        if self.channels:
            await self.channels.stop_deliveries()
        await end_tasks(self._tasks)
        if self.bus:
            await self.bus.close()
        if self.shared:
            await self.shared.close()
        if self.limits:
            await self.limits.close()
        if self.store:
            await self.store.close()
        log.info(ev.DAEMON_STOPPED)


def _consumer_name() -> str:
    return f"router-{process_name()}"


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
