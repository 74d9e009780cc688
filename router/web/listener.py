"""The web role's TCP listener: a cap on the connections one address holds open, and a deadline for a new
connection's first request headers (a slow client trickling bytes would hold a socket and its memory forever)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, cast

from aiohttp import web

from router.app import log_events as ev
from router.app.logs import get
from router.web.clients import IPNetwork, within

log = get(__name__)
_END = b"\r\n\r\n"


class Listener(web.TCPSite):
    """A TCPSite whose connections pass a guard first (every other behaviour is aiohttp's)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        reuse_port: bool | None,
        per_address: int,
        header_timeout: float,
        exempt: tuple[IPNetwork, ...],
    ) -> None:
        super().__init__(runner, host, port, reuse_port=reuse_port)
        self.per_address = per_address  # 0: no cap
        self.header_timeout = header_timeout
        self.exempt = exempt  # trusted proxies: every client behind them shares their address
        self.open: Counter[str] = Counter()

    async def start(self) -> None:
        """Listen, with each connection's protocol wrapped in the guard."""
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Guarded(server(), self),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_port=self._reuse_port,
        )
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port


class _Guarded(asyncio.Protocol):
    """Passes everything to aiohttp's protocol once the connection is admitted; closes one whose first request
    headers do not arrive in time."""

    def __init__(self, inner: Any, site: Listener) -> None:
        self.inner = inner
        self.site = site
        self.address: str | None = None  # counted against the cap (None: exempt, or refused)
        self.refused = False
        self.transport: asyncio.Transport | None = None
        self.deadline: asyncio.TimerHandle | None = None
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport of any event loop (uvloop's are not asyncio.Transport subclasses)
        self.transport = cast(asyncio.Transport, transport)
        peer = self.transport.get_extra_info("peername")
        address = str(peer[0]) if peer else "unknown"
        site = self.site
        if site.per_address and not within(address, site.exempt):
            if site.open[address] >= site.per_address:
                self.refused = True
                log.warning(ev.HTTP_CONNECTION_REFUSED, address=address, reason="too_many_connections")
                self.transport.abort()
                return
            site.open[address] += 1
            self.address = address
        self.deadline = asyncio.get_running_loop().call_later(site.header_timeout, self._too_slow)
        self.inner.connection_made(transport)

    def _too_slow(self) -> None:
        self.deadline = None
        log.info(ev.HTTP_CONNECTION_REFUSED, reason="header_timeout")
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.deadline is not None:
            if (
                _END in self.tail + data
            ):  # the first request's headers are whole: aiohttp's timeouts take over
                self.deadline.cancel()
                self.deadline = None
                # and aiohttp reads the connection itself from now on: a websocket's every read no longer passes
                # through a call of ours (the transport looks the method up on each read)
                self.data_received = self.inner.data_received  # type: ignore[method-assign]
            self.tail = (self.tail + data)[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.refused:
            return
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        if self.address is not None:
            site = self.site
            site.open[self.address] -= 1
            if site.open[self.address] <= 0:
                del site.open[self.address]
        self.inner.connection_lost(exc)
