"""A ConnectorContext of plain in-memory parts, for driving one connector against its fake without the daemon:
a sink that records what the connector publishes (and can send the commit receipts back), checkpoints in a dict,
the routes it mounts served by a small aiohttp app on 127.0.0.1, and the daemon's real Signer."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from connectors.base import Binding, ConnectorContext, Conversation, HistoryMessage, HistoryPage
from queues.messages import CustomerConsent, CustomerRating, InboundMessage, Receipt, Typing
from router.web.auth import Signer

Inbound = InboundMessage | CustomerConsent | CustomerRating | Typing


class RecordingSink:
    """Records every published event; `connector` (when set) gets a commit receipt for each message and consent,
    as the engine would send it back."""

    def __init__(self) -> None:
        self.events: list[Inbound] = []
        self.connector: Any = None
        self.changed = asyncio.Event()

    async def publish(self, events: Sequence[Inbound]) -> None:
        self.events.extend(events)
        self.changed.set()
        if self.connector is None:
            return
        for e in events:
            if isinstance(e, InboundMessage | CustomerConsent):
                external = e.external_id if isinstance(e, InboundMessage) else e.event_id
                receipt = Receipt(secrets.token_hex(8), e.channel, e.account, e.chat_id, external, "m1", None)
                asyncio.get_running_loop().call_soon(
                    lambda r=receipt: asyncio.ensure_future(self.connector.on_receipt(r))
                )

    def submit(self, events: Sequence[Inbound]) -> asyncio.Future[None]:
        return asyncio.ensure_future(self.publish(events))

    def ratings(self) -> list[CustomerRating]:
        return [e for e in self.events if isinstance(e, CustomerRating)]

    def messages(self) -> list[InboundMessage]:
        return [e for e in self.events if isinstance(e, InboundMessage)]


class MemoryCheckpoints:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}
        self.reads = 0

    async def get(self, account: str, key: str) -> str | None:
        self.reads += 1
        return self.values.get((account, key))

    async def set(self, account: str, key: str, value: str) -> None:
        self.values[(account, key)] = value


class MemoryAttachments:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    async def put(self, data: bytes, *, name: str, mime: str) -> str:
        key = secrets.token_hex(8)
        self.files[key] = data
        return key

    async def get(self, key: str) -> bytes | None:
        return self.files.get(key)

    async def exists(self, key: str) -> bool:
        return key in self.files


class Health:
    def __init__(self) -> None:
        self.states: dict[str, tuple[str, str | None]] = {}

    def set(self, account: str, state: str, detail: str | None = None) -> None:
        self.states[account] = (state, detail)


class NoHistory:
    async def conversation(self, channel: str, account: str, chat_id: str, limit: int) -> Conversation:
        return Conversation(None)

    async def earlier(self, channel: str, account: str, chat_id: str, before: str, limit: int) -> HistoryPage:
        return HistoryPage()

    async def message(
        self, channel: str, account: str, chat_id: str, message_id: str
    ) -> HistoryMessage | None:
        return None


class Routes:
    """Collects the connector's routes; `serve()` mounts them on 127.0.0.1 and gives the base URL."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, str, Any]] = []
        self._runner: web.AppRunner | None = None

    def add(self, method: str, path: str, handler: Any) -> None:
        self.routes.append((method, path, handler))

    async def serve(self) -> str:
        app = web.Application()
        for method, path, handler in self.routes:
            app.router.add_route(method, path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def stub_context(channel: str, **extra: Any) -> ConnectorContext:
    """A context whose parts tests reach as ctx.sink, ctx.routes, ctx.checkpoints, ctx.health."""
    return ConnectorContext(
        channel=channel,
        sink=RecordingSink(),
        checkpoints=MemoryCheckpoints(),
        attachments=MemoryAttachments(),
        routes=Routes(),
        health=Health(),
        history=NoHistory(),
        signer=Signer(b"test-secret-key-" * 2),
        **extra,
    )


def binding(settings: Any, line_id: str = "support", account: str | None = None) -> Binding:
    return Binding(line_id, account or line_id, settings)


class Started:
    """A connector started on a stub context; its sink records what it published."""

    def __init__(self, connector: Any, ctx: ConnectorContext) -> None:
        self.connector, self.ctx = connector, ctx

    @property
    def sink(self) -> RecordingSink:
        return self.ctx.sink  # type: ignore[return-value]


class Starter:
    """Starts connectors on stub contexts (receipts sent back to them) and stops every one at the end."""

    def __init__(self) -> None:
        self.made: list[Started] = []

    async def start(self, channel: str, make: Callable[[ConnectorContext], Any]) -> Started:
        ctx = stub_context(channel)
        connector = make(ctx)
        ctx.sink.connector = connector  # type: ignore[attr-defined]
        await connector.start()
        self.made.append(Started(connector, ctx))
        return self.made[-1]

    async def stop(self) -> None:
        for s in self.made:
            await s.connector.stop()
            await s.ctx.routes.close()  # type: ignore[attr-defined]
