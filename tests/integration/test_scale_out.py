"""Several processes on Redis and PostgreSQL: `openlines run --role web|router|connectors` as real processes (the
commands supervisord.conf runs), console fan-out across web processes, and a router worker killed with SIGKILL
in the middle of a stream. Redis and PostgreSQL are the throwaway servers the test suite starts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.clients import Operator, Visitor
from tests.conftest import PASSWORD
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[2]
PATIENCE = 60.0  # a liveness bound for what must happen, not a speed target
OPERATORS = ["anna", "boris", "vera", "gleb"]
CAPACITY = 20
PARTITIONS = 8


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """The processes of one layout, sharing one YAML, one Redis and one PostgreSQL database."""

    tmp: Path
    config: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def start(self, name: str, role: str) -> None:
        env = dict(self.env)
        if role == "web":
            self.ports[name] = _free_port()
            env["OPENLINES_HTTP_PORT"] = str(self.ports[name])
        log = (self.tmp / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "router.cli", "run", "--role", role, "--config", str(self.config)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    async def ready(self, name: str) -> None:
        deadline = time.monotonic() + PATIENCE
        while "daemon.started" not in self.log(name):
            assert self.procs[name].poll() is None, f"{name} exited:\n{self.log(name)[-3000:]}"
            assert time.monotonic() < deadline, f"{name} did not start:\n{self.log(name)[-3000:]}"
            await asyncio.sleep(0.1)

    def owned(self, name: str) -> list[int]:
        """The partitions a router worker last said it owns (its engine.partitions.changed log lines)."""
        owned: list[int] = []
        for line in self.log(name).splitlines():
            if '"engine.partitions.changed"' in line:
                owned = orjson.loads(line)["owned"]
        return owned

    async def balanced(self, routers: list[str]) -> None:
        """Wait until the routers split the partitions evenly (no more moves that re-send what is queued)."""
        deadline = time.monotonic() + PATIENCE
        while sorted(p for r in routers for p in self.owned(r)) != list(range(PARTITIONS)) or any(
            len(self.owned(r)) != PARTITIONS // len(routers) for r in routers
        ):
            assert time.monotonic() < deadline, {r: self.owned(r) for r in routers}
            await asyncio.sleep(0.1)

    def base(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait()

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in self.procs.items():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGQUIT)  # the process prints where its tasks wait
                time.sleep(1)
                p.kill()
                pytest.fail(f"{name} did not stop on SIGTERM:\n{self.log(name)[-2000:]}")


@contextlib.contextmanager
def make_cluster(tmp_path: Path, redis_url: str, pg_url: str) -> Iterator[Cluster]:  # noqa: F811
    """A config for the layout (widget line, four operators) and the processes, stopped at the end."""
    data: dict[str, Any] = {
        "version": 1,
        "var_dir": str(tmp_path / "var"),
        "storage": {"url": pg_url},
        "queue": {"backend": "redis", "url": redis_url, "partitions": PARTITIONS, "lease_time": "1s"},
        "log": {"format": "json"},
        "operators": [{"login": "admin", "name": "Alice Admin", "role": "admin"}]
        + [{"login": o, "name": o.title()} for o in OPERATORS],
        "lines": [
            {
                "id": "site",
                "name": "Site",
                # every visitor of the test comes from 127.0.0.1: lift the per-address flood limits
                "channels": [
                    {
                        "type": "widget",
                        "rate_per_visitor": 6000,
                        "burst_per_visitor": 1000,
                        "rate_per_ip": 60000,
                        "burst_per_ip": 10000,
                    }
                ],
                "queue": OPERATORS,
                "distribution": {"mode": "even", "max_dialogs": CAPACITY, "offer_timeout": "10m"},
            }
        ],
    }
    config = tmp_path / "openlines.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {**os.environ, "OPENLINES_DEMO_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1"}
    c = Cluster(tmp_path, config, env)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str, pg_database: str) -> Iterator[Cluster]:  # noqa: F811
    with make_cluster(tmp_path, redis_url, pg_database) as c:
        yield c


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:  # 200 sockets at once
        yield s


async def start_layout(c: Cluster, routers: int) -> None:
    c.start("web-1", "web")
    await c.ready("web-1")  # the first one migrates the database (the others would wait on its lock)
    c.start("web-2", "web")
    for i in range(1, routers + 1):
        c.start(f"router-{i}", "router")
    c.start("connectors", "connectors")
    for name in ["web-2", *(f"router-{i}" for i in range(1, routers + 1)), "connectors"]:
        await c.ready(name)
    await c.balanced([f"router-{i}" for i in range(1, routers + 1)])


async def test_an_operator_on_one_web_process_answers_a_visitor_on_another(
    cluster: Cluster, session: aiohttp.ClientSession
) -> None:
    await start_layout(cluster, routers=2)
    anna = Operator(session, cluster.base("web-2"), "anna", PASSWORD)
    await anna.connect()
    visitor = Visitor(session, cluster.base("web-1"), "site")
    await visitor.connect()
    await visitor.say("hello from web-1")
    offer = await anna.expect("dialog.offered", timeout=PATIENCE)
    await anna.reply(offer["dialog_id"], "hi from web-2")
    got = await visitor.expect("message", lambda f: f["text"] == "hi from web-2", timeout=PATIENCE)
    assert got["author"]["kind"] == "operator"
    # delivered by every web process to its own sockets, reported once (not once per web process)
    status = await anna.expect("message.status", lambda f: f["message_id"] == got["id"], timeout=PATIENCE)
    assert status["state"] == "sent"
    await anna.absent("message.status", lambda f: f["message_id"] == got["id"], wait=1.5)
    health = await (await session.get(f"{cluster.base('web-1')}/healthz")).json()
    assert health["backends"] == {"store": "postgresql", "bus": "redis"}
    await visitor.close()
    await anna.close()


async def _visitor_stream(
    session: aiohttp.ClientSession, base: str, n: int, conv: int, acked: list[int]
) -> list[str]:
    """One conversation: n messages in order, each sent again with the same id if its ack is late (as the
    widget does after a reconnect)."""
    v = Visitor(session, base, "site")
    await v.connect()
    texts = []
    for i in range(n):
        body, cmid = f"c{conv:03d} m{i:02d}", uuid.uuid4().hex
        texts.append(body)
        for attempt in range(6):
            await v.send({"type": "message", "client_msg_id": cmid, "text": body})
            try:
                await v.expect("ack", lambda f, cmid=cmid: f["client_msg_id"] == cmid, timeout=PATIENCE / 4)
                break
            except AssertionError:
                if attempt == 5:
                    raise
        acked[0] += 1
    await v.close()
    return texts


async def _take_every_offer(op: Operator, stop: asyncio.Event) -> None:
    seen: set[str] = set()
    while not stop.is_set():
        try:
            offer = await op.expect("dialog.offered", lambda f: f["dialog_id"] not in seen, timeout=0.5)
        except AssertionError:
            continue
        seen.add(offer["dialog_id"])
        await op.send({"type": "take", "dialog_id": offer["dialog_id"]})


async def test_a_router_worker_killed_mid_stream_loses_nothing_and_double_assigns_nothing(
    cluster: Cluster, session: aiohttp.ClientSession, pg_database: str
) -> None:
    await start_layout(cluster, routers=2)
    ops = []
    for i, login in enumerate(OPERATORS):
        op = Operator(session, cluster.base(f"web-{i % 2 + 1}"), login, PASSWORD)
        await op.connect()
        ops.append(op)
    stop = asyncio.Event()
    takers = [asyncio.create_task(_take_every_offer(op, stop)) for op in ops]
    conversations, per_conversation = 200, 25
    acked = [0]
    streams = [
        asyncio.create_task(
            _visitor_stream(session, cluster.base(f"web-{c % 2 + 1}"), per_conversation, c, acked)
        )
        for c in range(conversations)
    ]
    started = time.monotonic()
    while acked[0] < 1000:
        assert not any(t.done() and t.exception() for t in streams)
        await asyncio.sleep(0.05)
    print(f"1000 acked after {time.monotonic() - started:.1f} s")
    cluster.kill("router-1")
    sent = await asyncio.wait_for(asyncio.gather(*streams), PATIENCE * 3)
    assert acked[0] == conversations * per_conversation

    db = create_async_engine(pg_database)
    try:
        # the survivor settles the backlog; wait until every operator's slots are taken and the rest queued
        deadline = time.monotonic() + PATIENCE
        while True:
            async with db.connect() as conn:
                states = Counter(
                    r[0]
                    for r in await conn.execute(text("SELECT state FROM dialogs WHERE state != 'closed'"))
                )
            if states.get("assigned", 0) == len(OPERATORS) * CAPACITY or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*takers)
        async with db.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT d.chat_id, m.text, m.id FROM messages m JOIN dialogs d ON d.id = m.dialog_id "
                        "WHERE m.author_kind = 'customer' ORDER BY m.created_at, m.id"
                    )
                )
            ).all()
            dialogs = (
                await conn.execute(
                    text(
                        "SELECT id, chat_id, state, operator, offered_to FROM dialogs WHERE state != 'closed'"
                    )
                )
            ).all()
    finally:
        await db.dispose()
    # every message stored exactly once, in order within its conversation
    by_chat: dict[str, list[str]] = defaultdict(list)
    for chat_id, body, _ in rows:
        by_chat[chat_id].append(body)
    assert len(rows) == conversations * per_conversation
    assert sorted(by_chat.values()) == sorted(sent)
    # one dialog per conversation, each with one operator at most, nobody over capacity
    assert len(dialogs) == conversations
    assert len({d.chat_id for d in dialogs}) == conversations
    load: Counter[str] = Counter()
    for d in dialogs:
        if d.state == "assigned":
            assert d.operator in OPERATORS and not d.offered_to
            load[d.operator] += 1
        elif d.state == "offered":
            assert len(d.offered_to) == 1, d
            load[d.offered_to[0]] += 1
        else:
            assert d.state == "queued" and d.operator is None, d
    assert all(n <= CAPACITY for n in load.values()), load
    assert sum(load.values()) == len(OPERATORS) * CAPACITY, load
    assert "engine.partitions.changed" in cluster.log("router-2")
    for op in ops:
        await op.close()
