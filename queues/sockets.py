"""Frames pushed to browsers' websockets (visitors' widgets, operators' consoles) without ever waiting on one.

A push writes the frame into the socket's transport and returns: one tab that stopped reading must not hold up the
frames of every other tab, and a timer per frame (to bound such a wait) costs more than the write itself. So the
sockets are made with a writer limit nothing reaches (aiohttp then never waits for the peer to drain) and a push
first looks at what the peer left unread: past STALLED bytes the tab counts as gone and its connection is dropped (a
browser reconnects and gets what it missed from the history).
"""

from __future__ import annotations

import asyncio
import enum

from aiohttp import WSMsgType, web

STALLED = 1 << 20  # bytes a peer left unread before its socket is given up
NEVER_DRAIN = 1 << 62  # a writer limit no socket reaches: aiohttp never awaits the peer's drain


class Pusher:
    """Pushes frames to the websockets of one kind of client, remembering each one's transport."""

    def __init__(self) -> None:
        self._transports: dict[web.WebSocketResponse, asyncio.Transport | None] = {}

    def socket(self, **options: object) -> web.WebSocketResponse:
        """A websocket response whose sends never wait on the peer (register it with `opened` after prepare)."""
        return web.WebSocketResponse(writer_limit=NEVER_DRAIN, **options)  # type: ignore[arg-type]

    def opened(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        """Track a prepared socket's transport (to see what its peer left unread)."""
        self._transports[ws] = request.transport

    def closed(self, ws: web.WebSocketResponse) -> None:
        """Forget a socket."""
        self._transports.pop(ws, None)

    async def push(self, ws: web.WebSocketResponse, data: bytes) -> Push:
        """Send one text frame (UTF-8 JSON) without waiting on the peer. A peer that stopped reading has its
        connection dropped (STALLED)."""
        if ws.closed:
            return Push.GONE
        transport = self._transports.get(ws)
        if transport is not None and transport.get_write_buffer_size() > STALLED:
            self._transports.pop(ws, None)
            transport.abort()  # what it left unread is dropped with it; the browser reconnects
            return Push.STALLED
        try:
            await ws.send_frame(data, WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            return Push.GONE
        return Push.SENT


class Push(enum.Enum):
    """What became of a pushed frame."""

    SENT = "sent"
    GONE = "gone"  # the socket was closed already
    STALLED = "stalled"  # its peer stopped reading: the connection was dropped
