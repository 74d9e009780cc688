"""supervisord.conf under the real supervisord (Debian's `supervisor`), as the README runs it: the conf, byte
for byte, in a temp tree (`.venv` linked to the repo's, the test's YAML as config/openlines.yaml, var/ for the
logs, socket and pidfile) with the README's environment (Redis queue, PostgreSQL store, one secret key).
Checks that every program reaches RUNNING, both web processes accept on the one shared port, the router
workers split the inbound partitions, a visitor and an operator on different web processes talk to each
other, a router worker killed with SIGKILL is restarted by supervisord while traffic goes on, and SIGTERM to
supervisord stops every program cleanly (exit status 0) and leaves no process behind. Redis and PostgreSQL
are the suite's throwaway servers; nothing is written under the repo's config/ or var/."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml

from tests.clients import Operator, Visitor
from tests.cluster import OPERATORS, PARTITIONS, PATIENCE, REPO
from tests.conftest import PASSWORD
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)

# supervisorctl's names: group:process for the numprocs programs, the bare name for connectors
PROGRAMS = ["connectors", "router:router-0", "router:router-1", "web:web-0", "web:web-1"]
WEBS = ["web-0", "web-1"]
ROUTERS = ["router-0", "router-1"]
_STATUS = re.compile(r"^(\S+)\s+([A-Z]+)\b(?:\s+pid (\d+),)?")


def _binary(name: str) -> str:
    """The path of a supervisor command; fails loudly when the package is missing (never a silent skip)."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make system-deps` (apt-get install supervisor)")
    return found


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cmdline(pid: int) -> str:
    """The command line of a live, non-zombie process ('' when there is none)."""
    try:
        # a zombie keeps its /proc entry but has an empty cmdline
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _dump_stacks(pids: list[int]) -> None:
    """Ask each process still alive for its threads' stacks (SIGUSR2: faulthandler, router/app/cli.py)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            if _cmdline(pid):
                os.kill(pid, signal.SIGUSR2)


def _ours(root: Path) -> list[int]:
    """Pids of live processes whose command line names the tree: supervisord and whatever it started."""
    return [
        int(d.name)
        for d in Path("/proc").iterdir()
        if d.name.isdigit() and int(d.name) != os.getpid() and str(root) in _cmdline(int(d.name))
    ]


def _owned(log: str) -> list[int] | None:
    """The partitions a router worker last said it owns (its engine.partitions.changed lines), or None."""
    owned = None
    for line in log.splitlines():
        if '"engine.partitions.changed"' in line:
            owned = orjson.loads(line)["owned"]
    return owned


@dataclass
class Tree:
    """A temp directory laid out like the repo for supervisord.conf, and the supervisord running on it."""

    root: Path
    env: dict[str, str]
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.root / "supervisord.conf"

    def log(self, name: str, since: int = 0) -> str:
        """A log under var/ (a program's, or supervisord's), from byte `since` on."""
        path = self.root / "var" / f"{name}.log"
        if not path.exists():
            return ""
        with path.open("rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")

    def size(self, name: str) -> int:
        return (self.root / "var" / f"{name}.log").stat().st_size

    def start(self) -> None:
        """supervisord -c <conf> in the foreground (nodaemon=true), in a session of its own."""
        out = (self.root / "supervisord.out").open("wb")
        self.proc = subprocess.Popen(
            [_binary("supervisord"), "-c", str(self.conf)],
            cwd=self.root,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()

    async def ctl(self, *args: str) -> str:
        """supervisorctl -c <conf> …: its output (the exit status says little: 3 when a program is down)."""
        p = await asyncio.create_subprocess_exec(
            _binary("supervisorctl"),
            "-c",
            str(self.conf),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await p.communicate()
        return out.decode(errors="replace")

    async def status(self) -> dict[str, tuple[str, int | None]]:
        """Each process's state and pid per `supervisorctl status`."""
        found: dict[str, tuple[str, int | None]] = {}
        for line in (await self.ctl("status")).splitlines():
            if m := _STATUS.match(line):
                found[m[1]] = (m[2], int(m[3]) if m[3] else None)
        return found

    def explain(self) -> str:
        """The tails of supervisord's and every program's log, for a failure message."""
        parts = [f"--- supervisord\n{self.log('supervisord')[-1500:]}"]
        parts += [f"--- {n}\n{self.log(n)[-4000:]}" for n in [*WEBS, *ROUTERS, "connectors"]]
        return "\n".join(parts)

    async def eventually(self, probe: Callable[[], Any], what: str, *, running: bool = True) -> Any:
        """Poll `probe` (sync or async) until it gives something truthy within PATIENCE (a liveness bound)."""
        deadline = time.monotonic() + PATIENCE
        while True:
            value = probe()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if running:
                assert self.proc is not None and self.proc.poll() is None, (
                    f"supervisord exited\n{self.explain()}"
                )
            assert time.monotonic() < deadline, f"{what}: not within {PATIENCE} s\n{self.explain()}"
            await asyncio.sleep(0.1)

    async def started(self, name: str, since: int = 0) -> dict[str, Any]:
        """The daemon.started line a program logged after byte `since` of its log."""
        line = await self.eventually(
            lambda: next((ln for ln in self.log(name, since).splitlines() if '"daemon.started"' in ln), None),
            f"{name} logs daemon.started",
        )
        started: dict[str, Any] = orjson.loads(line)
        return started

    async def balanced(self, since: dict[str, int]) -> None:
        """Wait until the router workers (their logs from `since` on) split the partitions evenly."""

        def split() -> bool:
            owned = [_owned(self.log(r, since[r])) or [] for r in ROUTERS]
            return sorted(p for o in owned for p in o) == list(range(PARTITIONS)) and all(
                len(o) == PARTITIONS // len(ROUTERS) for o in owned
            )

        await self.eventually(split, "the router workers split the partitions")

    def cleanup(self) -> None:
        """Kill whatever is left: supervisord's process group, then any process still naming the tree."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # supervisord puts each program in a process group of its own: found by command line, killed by group
        deadline = time.monotonic() + PATIENCE
        while (left := _ours(self.root)) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    group = os.getpgid(pid)
                    if group != os.getpgrp():  # never our own group (a supervisorctl of ours is in it)
                        os.killpg(group, signal.SIGKILL)
                    else:
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)


@pytest.fixture
def tree(tmp_path: Path, redis_url: str, pg_database: str) -> Iterator[Tree]:  # noqa: F811
    """The repo's conf copied unmodified, `.venv` linked, the test's YAML, an empty var/; migrated."""
    root = tmp_path.resolve()
    # the control socket lives in var/: an AF_UNIX path must fit in 108 bytes
    assert len(f"{root}/var/supervisor.sock") < 100, root
    shutil.copyfile(REPO / "supervisord.conf", root / "supervisord.conf")
    assert (root / "supervisord.conf").read_bytes() == (REPO / "supervisord.conf").read_bytes()
    (root / ".venv").symlink_to(REPO / ".venv")
    (root / "var").mkdir()
    (root / "config").mkdir()
    # like tests/cluster.py's, but with no storage or queue URL, no secret_key and no var_dir: those come from
    # the environment and from the programs' working directory, as in the README
    data: dict[str, Any] = {
        "version": 1,
        "queue": {"partitions": PARTITIONS, "lease_time": "1s"},
        "log": {"format": "json"},
        "operators": [{"login": "admin", "name": "Alice Admin", "role": "admin"}]
        + [{"login": o, "name": o.title()} for o in OPERATORS],
        "lines": [
            {
                "id": "site",
                "name": "Site",
                "channels": [{"type": "widget"}],
                "queue": OPERATORS,
                "distribution": {"mode": "even", "max_dialogs": 20, "offer_timeout": "10m"},
            }
        ],
    }
    (root / "config" / "openlines.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    port = _free_port()
    # a developer's own OPENLINES_* settings must not leak in
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINES_")}
    env |= {
        "OPENLINES_QUEUE_BACKEND": "redis",
        "OPENLINES_QUEUE_URL": redis_url,
        "OPENLINES_STORAGE_URL": pg_database,
        "OPENLINES_HTTP_PORT": str(port),
        "OPENLINES_SECRET_KEY": uuid.uuid4().hex,
        "OPENLINES_DEMO_PASSWORD": PASSWORD,
        "PYTHONUNBUFFERED": "1",
    }
    t = Tree(root, env, port)
    try:
        migrated = subprocess.run(
            [str(root / ".venv" / "bin" / "openlines"), "migrate", "--config", "config/openlines.yaml"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
        assert migrated.returncode == 0 and "database is up to date" in migrated.stdout, migrated
        yield t
    finally:
        t.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _landed(tree: Tree, event: str, connect: Callable[[], Any]) -> str:
    """Which web process logged `event` for the one connection `connect` opens."""
    before = {w: tree.log(w).count(f'"{event}"') for w in WEBS}
    await connect()

    def grew() -> list[str]:
        return [w for w in WEBS if tree.log(w).count(f'"{event}"') > before[w]]

    landed: list[str] = await tree.eventually(grew, f"a web process logs {event}")
    assert len(landed) == 1, landed
    return landed[0]


async def _round_trip(anna: Operator, visitor: Visitor, text: str) -> None:
    """The visitor's message is offered to anna's console, and her reply reaches the visitor."""
    cmid = uuid.uuid4().hex
    await visitor.send({"type": "message", "client_msg_id": cmid, "text": text})
    await visitor.expect("ack", lambda f: f["client_msg_id"] == cmid, timeout=PATIENCE)
    offer = await anna.expect(
        "dialog.offered", lambda f: (f["dialog"]["last_message"] or {}).get("text") == text, timeout=PATIENCE
    )
    answer = f"re: {text}"
    await anna.reply(offer["dialog_id"], answer)
    got = await visitor.expect("message", lambda f: f["text"] == answer, timeout=PATIENCE)
    assert got["author"]["kind"] == "operator"


async def test_supervisord_runs_the_layout_restarts_a_killed_router_and_stops_clean(
    tree: Tree, session: aiohttp.ClientSession
) -> None:
    tree.start()
    assert tree.proc is not None

    def all_running(status: dict[str, tuple[str, int | None]]) -> bool:
        return sorted(status) == PROGRAMS and all(state == "RUNNING" for state, _ in status.values())

    async def running() -> dict[str, tuple[str, int | None]] | None:
        status = await tree.status()
        return status if all_running(status) else None

    status = await tree.eventually(running, "every program RUNNING")
    assert (tree.root / "var" / "supervisord.pid").read_text().strip() == str(tree.proc.pid)
    for name in PROGRAMS:
        started = await tree.started(name.split(":")[-1])
        assert started["store"] == "postgresql" and started["bus"] == "redis", started
        # the programs run the tree's .venv on the tree's YAML, not the repo's config/openlines.yaml
        cmd = _cmdline(status[name][1])
        assert f"{tree.root}/.venv/bin/openlines run --role" in cmd, cmd
        assert f"--config {tree.root}/config/openlines.yaml" in cmd, cmd
    # both web processes listen on the one port (only possible with SO_REUSEPORT)
    for w in WEBS:
        assert (await tree.started(w))["port"] == tree.port
    base = f"http://127.0.0.1:{tree.port}"
    async with session.get(f"{base}/healthz") as r:
        assert r.status == 200
        health = await r.json()
    assert health["backends"] == {"store": "postgresql", "bus": "redis"}, health
    assert health["channels"] == {"widget:site": {"state": "up"}}, health
    # the key came from OPENLINES_SECRET_KEY: no process generated one of its own into var/
    assert not (tree.root / "var" / "secret_key").exists()
    await tree.balanced({r: 0 for r in ROUTERS})

    anna = Operator(session, base, "anna", PASSWORD)
    console = await _landed(tree, "console.connected", anna.connect)
    # visitors until one lands on the other web process: the kernel spreads connections over both listeners
    visitors: list[Visitor] = []
    visitor = None
    for _ in range(40):
        v = Visitor(session, base, "site")
        visitors.append(v)
        if await _landed(tree, "widget.connected", v.connect) != console:
            visitor = v
            break
    assert visitor is not None, f"40 connections, all accepted by {console}"
    await _round_trip(anna, visitor, "hello across web processes")

    old = status["router:router-0"][1]
    assert old is not None and "--role router" in _cmdline(old)
    offset = tree.size("router-0")
    os.kill(old, signal.SIGKILL)
    # while it is down (and its partitions move to the other worker), a new conversation still goes through
    late = Visitor(session, base, "site")
    visitors.append(late)
    await late.connect()
    await _round_trip(anna, late, "while a router worker is down")

    async def restarted() -> int | None:
        state, pid = (await tree.status()).get("router:router-0", ("", None))
        return pid if state == "RUNNING" and pid not in (None, old) else None

    new = await tree.eventually(restarted, "supervisord restarts router-0")
    assert "--role router" in _cmdline(new)
    assert "exited: router-0 (terminated by SIGKILL; not expected)" in tree.log("supervisord")
    await tree.started("router-0", offset)
    await tree.balanced({"router-0": offset, "router-1": 0})
    after = Visitor(session, base, "site")
    visitors.append(after)
    await after.connect()
    await _round_trip(anna, after, "after the restart")

    # stop with the clients still connected, as a real shutdown finds them
    children = [pid for _, pid in (await tree.status()).values() if pid is not None]
    assert len(children) == len(PROGRAMS)
    tree.proc.send_signal(signal.SIGTERM)
    # a program still running well after the SIGTERM is stuck: each thread's stack into its log, for the failure
    # message (seen once in a full parallel run: a router worker and the connectors stopped only at the kill)
    stuck = asyncio.get_running_loop().call_later(8, _dump_stacks, children)
    try:
        code = await asyncio.to_thread(tree.proc.wait, PATIENCE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"supervisord still running {PATIENCE} s after SIGTERM\n{tree.explain()}")
    stuck.cancel()
    assert code == 0, tree.explain()
    left = [pid for pid in children if _cmdline(pid)] + _ours(tree.root)
    assert not left, f"left running after supervisord exited: {[(p, _cmdline(p)) for p in left]}"
    # each program stopped on its own SIGTERM, not killed at stopwaitsecs
    log = tree.log("supervisord")
    for name in PROGRAMS:
        assert f"stopped: {name.split(':')[-1]} (exit status 0)" in log, tree.explain()
    for v in visitors:
        await v.close()
    await anna.close()
