"""The reference: a bare aiohttp websocket relay, the limit the real pipeline is compared to.

Visitor sockets (`/visitor`) → this server → one operator socket (`/operator`), and back. Frames are JSON and are
parsed and re-serialised (as the daemon must at least do), nothing is stored, nothing is routed: the cost of
aiohttp + asyncio + orjson alone, on the same event loop policy as `openlines run` (plain asyncio).

    python -m bench.relay --port PORT

Visitor → server: `{"type": "hello", "v": N}` (answered with `{"type": "hello"}`), then
`{"type": "message", "text": …}`, relayed to the operator as `{"type": "message", "from": N, "text": …}`.
Operator → server: `{"type": "reply", "to": N, "text": …}`, relayed to visitor N as `{"type": "message", "text": …}`.
"""

from __future__ import annotations

import argparse
import contextlib

import orjson
from aiohttp import WSMsgType, web

from bench.common import raise_fd_limit
from router.app.cli import tune_gc

MAX_FRAME = 64 * 1024  # as the widget


class Relay:
    """The relay's sockets: visitors by the number they said hello with, and the operator."""

    def __init__(self) -> None:
        self.visitors: dict[int, web.WebSocketResponse] = {}
        self.operator: web.WebSocketResponse | None = None

    async def visitor(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)  # as the widget
        await ws.prepare(request)
        me: int | None = None
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = orjson.loads(msg.data)
                kind = frame.get("type")
                if kind == "message" and me is not None:
                    op = self.operator
                    if op is not None and not op.closed:
                        out = {"type": "message", "from": me, "text": frame.get("text")}
                        with contextlib.suppress(ConnectionError, RuntimeError):
                            await op.send_str(orjson.dumps(out).decode())
                elif kind == "hello":
                    me = int(frame.get("v", id(ws)))
                    self.visitors[me] = ws
                    await ws.send_str('{"type":"hello"}')
        finally:
            if me is not None and self.visitors.get(me) is ws:
                del self.visitors[me]
        return ws

    async def operator_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=256 * 1024)
        await ws.prepare(request)
        self.operator = ws
        await ws.send_str('{"type":"hello"}')
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = orjson.loads(msg.data)
            if frame.get("type") == "reply":
                target = self.visitors.get(int(frame.get("to", -1)))
                if target is not None and not target.closed:
                    out = {"type": "message", "text": frame.get("text")}
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await target.send_str(orjson.dumps(out).decode())
        if self.operator is ws:
            self.operator = None
        return ws


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_fd_limit()
    tune_gc()  # the same runtime settings as `openlines run`
    relay = Relay()
    app = web.Application()
    app.router.add_get("/visitor", relay.visitor)
    app.router.add_get("/operator", relay.operator_ws)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
