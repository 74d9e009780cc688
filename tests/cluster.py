"""Several openlines processes on one Redis and one PostgreSQL database, as supervisord.conf runs them: started as
real processes (`python -m router.cli run --role …`) by the multi-process tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml

from tests.clients import Visitor
from tests.conftest import PASSWORD

REPO = Path(__file__).resolve().parents[1]
PATIENCE = 60.0  # a liveness bound for what must happen, not a speed target
OPERATORS = ["anna", "boris", "vera", "gleb"]
CAPACITY = 20
PARTITIONS = 8


def _free_port() -> int:
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
            [sys.executable, "-m", "router.app.cli", "run", "--role", role, "--config", str(self.config)],
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
                log, _, dump = self.log(name).partition("--- task ")
                # what the stop logged last, then which tasks were still there (their stacks follow in the file)
                tasks = [line for line in ("--- task " + dump).splitlines() if line.startswith("--- task ")]
                last = "\n".join(log.splitlines()[-12:])
                pytest.fail(f"{name} did not stop on SIGTERM:\n{last}\n{chr(10).join(tasks)}\n{dump[-1500:]}")


@contextlib.contextmanager
def make_cluster(
    tmp_path: Path, redis_url: str, pg_url: str, *, redis_cluster: bool = False, presence_ttl: str = "3s"
) -> Iterator[Cluster]:
    """A config for the layout (widget line, four operators) and the processes, stopped at the end;
    `redis_cluster`: redis_url names a node of a Redis Cluster."""
    data: dict[str, Any] = {
        "version": 1,
        "var_dir": str(tmp_path / "var"),
        "storage": {"url": pg_url},
        "queue": {
            "backend": "redis",
            "url": redis_url,
            "partitions": PARTITIONS,
            "lease_time": "1s",
            "cluster": redis_cluster,
            "presence_ttl": presence_ttl,
        },
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
            },
            {
                "id": "rated",
                "name": "Rated",
                # the customer is asked to rate the answer when an operator closes the dialog
                "channels": [{"type": "widget", "rate_per_visitor": 6000, "burst_per_visitor": 1000}],
                "queue": OPERATORS,
                "distribution": {"mode": "even", "max_dialogs": CAPACITY, "offer_timeout": "10m"},
                "auto_replies": {"closing": "Thank you, goodbye!"},
                "rating": {"scale": "five", "comment": True},
            },
            {
                "id": "strict",
                "name": "Strict",
                # a tight allowance per visitor, to be kept across the web processes
                "channels": [{"type": "widget", "rate_per_visitor": 1, "burst_per_visitor": 3}],
                "queue": OPERATORS,
                "distribution": {"mode": "even", "max_dialogs": CAPACITY, "offer_timeout": "10m"},
            },
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


async def visitor_stream(
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
