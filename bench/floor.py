"""The floor: the least a Redis + PostgreSQL pipeline can do, to tell the transport's cost from openlines' own.

Two processes speak the bare relay's protocol (bench/relay.py), so the same generator drives them:

- `web`: a visitor's frame goes into a Redis stream partition (the visitor's number mod P; the XADDs of one event
  loop turn in one pipeline) and the visitor gets an `ack` frame once the XADD is done, as the widget's client
  gets one; an operator's reply goes the same way. It reads the `console` and `out` streams (XREADGROUP, up to
  500 entries) and sends each entry to the operator or to the visitor, then XACKs the read entries at once.
- `router`: reads every partition in one XREADGROUP (up to 500 entries), COPYs the rows into one PostgreSQL table
  whose primary key is the message's id (the idempotency key), commits, then XADDs each to `console` or `out`
  and XACKs the read entries in one MULTI.

This is what the issue's prototype advice names (pipelined XADDs, batched XACKs, hiredis, COPY for the rows), and
nothing else: no dialogs, leads, routing, rate limits, outbox, delivery statuses or redelivery handling (a
redelivered entry would fail the COPY). Its throughput is an upper bound for any pipeline on these components, on
this machine, in this run; `bench/scaleout.py` measures it beside the real layout.

    python -m bench.floor router --redis URL --dsn postgresql://… [--partitions P]
    python -m bench.floor web --port PORT --redis URL [--partitions P]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis
from aiohttp import WSMsgType, web
from redis.exceptions import ResponseError

from bench.common import raise_fd_limit
from router.app.cli import tune_gc

BATCH = 500  # entries per XREADGROUP, as the router's MAX_BATCH
TABLE = "floor_messages"


def _partition(p: int) -> str:
    return f"floor:in:{{{p}}}"


async def _group(r: aioredis.Redis, stream: str, group: str) -> None:
    with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
        await r.xgroup_create(stream, group, id="0", mkstream=True)


class Web:
    """The web side: sockets in, streams out, and the two consumers back to the sockets."""

    def __init__(self, r: aioredis.Redis, partitions: int) -> None:
        self.r = r
        self.partitions = partitions
        self.visitors: dict[int, web.WebSocketResponse] = {}
        self.operator: web.WebSocketResponse | None = None
        self.pending: list[tuple[int, bytes, web.WebSocketResponse | None]] = []
        self.flushing = False

    def publish(self, who: int, payload: bytes, ws: web.WebSocketResponse | None) -> None:
        """Queue an XADD; the ones of one loop turn go in one pipeline (group commit)."""
        self.pending.append((who % self.partitions, payload, ws))
        if not self.flushing:
            self.flushing = True
            asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                pipe = self.r.pipeline(transaction=False)
                for p, payload, _ in batch:
                    pipe.xadd(_partition(p), {"d": payload})
                await pipe.execute()
                for _, _, ws in batch:
                    if ws is not None and not ws.closed:
                        with contextlib.suppress(ConnectionError, RuntimeError):
                            await ws.send_str('{"type":"ack"}')
        finally:
            self.flushing = False

    async def visitor(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
        await ws.prepare(request)
        me: int | None = None
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = orjson.loads(msg.data)
                kind = frame.get("type")
                if kind == "message" and me is not None:
                    row = {"k": "m", "id": uuid.uuid4().hex, "v": me, "text": frame.get("text")}
                    self.publish(me, orjson.dumps(row), ws)
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
                to = int(frame.get("to", -1))
                row = {"k": "r", "id": uuid.uuid4().hex, "v": to, "text": frame.get("text")}
                self.publish(to, orjson.dumps(row), None)
        if self.operator is ws:
            self.operator = None
        return ws

    async def consume(self, stream: str, deliver: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Read `stream` as group `web`, deliver each entry, ack the read entries together."""
        await _group(self.r, stream, "web")
        while True:
            got = await self.r.xreadgroup("web", "web-1", {stream: ">"}, count=BATCH, block=1000)
            ids = []
            for _name, entries in got or []:
                for eid, fields in entries:
                    ids.append(eid)
                    await deliver(orjson.loads(fields[b"d"]))
            if ids:
                await self.r.xack(stream, "web", *ids)

    async def to_operator(self, row: dict[str, Any]) -> None:
        op = self.operator
        if op is not None and not op.closed:
            out = {"type": "message", "from": row["v"], "text": row["text"]}
            with contextlib.suppress(ConnectionError, RuntimeError):
                await op.send_str(orjson.dumps(out).decode())

    async def to_visitor(self, row: dict[str, Any]) -> None:
        ws = self.visitors.get(row["v"])
        if ws is not None and not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(orjson.dumps({"type": "message", "text": row["text"]}).decode())


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def run_web(port: int, url: str, partitions: int) -> None:
    """Serve /visitor, /operator and /healthz on 127.0.0.1:`port` until SIGTERM."""
    side = Web(aioredis.from_url(url), partitions)
    app = web.Application()
    app.router.add_get("/visitor", side.visitor)
    app.router.add_get("/operator", side.operator_ws)
    app.router.add_get("/healthz", _healthz)

    async def consumers(_: web.Application) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(side.consume("floor:console", side.to_operator)),
            asyncio.create_task(side.consume("floor:out", side.to_visitor)),
        ]
        yield
        for t in tasks:
            t.cancel()

    app.cleanup_ctx.append(consumers)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def run_router(url: str, dsn: str, partitions: int) -> None:
    """Read the partitions, COPY each batch's rows in one transaction, then publish and ack in one MULTI."""
    r = aioredis.from_url(url)
    pg = await asyncpg.connect(dsn)
    await pg.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id text PRIMARY KEY, visitor integer NOT NULL, "
        "kind text NOT NULL, text text NOT NULL, created_at timestamptz NOT NULL)"
    )
    streams = {_partition(p): ">" for p in range(partitions)}
    for s in streams:
        await _group(r, s, "router")
    print("floor.router.ready", flush=True)
    while True:
        got = await r.xreadgroup("router", "router-1", streams, count=BATCH, block=1000)
        if not got:
            continue
        now = datetime.now(UTC)
        rows, published, acks = [], [], {}
        for name, entries in got:
            ids = acks.setdefault(name, [])
            for eid, fields in entries:
                ids.append(eid)
                row = orjson.loads(fields[b"d"])
                rows.append((row["id"], row["v"], row["k"], row["text"] or "", now))
                published.append(("floor:console" if row["k"] == "m" else "floor:out", fields[b"d"]))
        async with pg.transaction():
            await pg.copy_records_to_table(TABLE, records=rows)
        pipe = r.pipeline(transaction=True)
        for stream, payload in published:
            pipe.xadd(stream, {"d": payload})
        for name, ids in acks.items():
            pipe.xack(name, "router", *ids)
        await pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("role", choices=["web", "router"])
    parser.add_argument("--redis", required=True)
    parser.add_argument("--dsn", default="")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--partitions", type=int, default=16)
    args = parser.parse_args()
    raise_fd_limit()
    tune_gc()  # the same runtime settings as `openlines run`
    if args.role == "web":
        run_web(args.port, args.redis, args.partitions)
    else:
        asyncio.run(run_router(args.redis, args.dsn, args.partitions))


if __name__ == "__main__":
    main()
