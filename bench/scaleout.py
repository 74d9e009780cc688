"""The `scaleout` section: `openlines run --role web|router` as separate processes on Redis and PostgreSQL, all on
this machine, driven by the same load generator as the embedded pipeline; then the floor (bench/floor.py: the least
pipeline on the same Redis and PostgreSQL, saturated only); then a router worker killed with SIGKILL and the seconds
until the survivor has taken over its partitions.

The servers are throwaway ones this module starts itself on free loopback ports: `redis-server` (append-only file,
fsync every second, no RDB snapshots: the settings the README recommends) and a PostgreSQL cluster (`initdb` +
`pg_ctl`, as the `postgres` user when we are root) with PostgreSQL's default durability (fsync on,
synchronous_commit on) and `wal_init_zero` off (docs/operations.md). Every run gets a fresh database and an emptied Redis. Both servers are stopped at the end,
whatever happens.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.common import (
    cpu_seconds,
    free_port,
    machine_busy_seconds,
    process_tree,
    progress,
    rss_kib,
    tree_cpu_seconds,
)
from bench.servers import Server, daemon_config

PARTITIONS = 16  # queue.partitions: the inbound stream's partitions (the default)
LEASE_S = 5.0  # queue.lease_time: the default
INITDB = ["-E", "UTF8", "--no-locale"]
REDIS_PERSISTENCE = ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
PATIENCE = 60.0  # a liveness bound for start-ups, not a speed target
# queue.url's `max_connections`, to measure another pool size; None: the product's own (queues.redis_streams:
# a blocking pool of POOL_SIZE connections, where a burst of publishes waits for a connection)
REDIS_MAX_CONNECTIONS: int | None = None

Load = Callable[
    [Server, str, list[str]], dict[str, Any]
]  # run bench.load (target daemon|relay) against a web


@dataclass
class ScalePlan:
    """What the section runs: the router counts to load, the load generator's arguments, the lease time."""

    routers: tuple[int, ...]
    operators: int
    visitors: int
    load_args: list[str]
    lease_s: float = LEASE_S  # queue.lease_time
    redis_max_connections: int | None = REDIS_MAX_CONNECTIONS


# ---- the throwaway servers -------------------------------------------------------------------------------


def _version(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _filesystem(path: Path) -> str:
    """The filesystem type a path lives on (fsync on tmpfs costs nothing: the report says which it was)."""
    best, fstype = "", "unknown"
    target = str(path.resolve())
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) < 3 or len(parts[1]) < len(best):
                continue
            if target == parts[1] or target.startswith(parts[1].rstrip("/") + "/"):
                best, fstype = parts[1], parts[2]
    return fstype


class Redis:
    """One `redis-server` on 127.0.0.1 with a data dir under `root`."""

    def __init__(self, root: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.version = _version([binary, "--version"])
        self.log = root / "redis.log"
        argv = [binary, "--bind", "127.0.0.1", "--port", str(self.port), *REDIS_PERSISTENCE]
        argv += ["--dir", str(root), "--logfile", str(self.log)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.cli("PING") == "PONG":
                    return
            except RuntimeError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                raise RuntimeError(f"redis-server did not start: {log}")
            time.sleep(0.05)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0 or done.stdout.startswith(("ERR", "Could not connect")):
            raise RuntimeError(f"redis-cli {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout.strip()

    def flush(self) -> None:
        self.cli("FLUSHALL")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _pg_bin() -> Path:
    dirs = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.path.exists(os.path.join(d, "initdb"))]
    if not dirs:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return Path(max(dirs, key=lambda d: [int(x) for x in Path(d).parent.name.split(".") if x.isdigit()]))


def _as_postgres(args: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root: run them as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class Postgres:
    """A throwaway cluster (initdb + pg_ctl) in its own temp dir, on a free port, with default durability."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        # its own directory under the system temp dir: the postgres user must be able to reach it
        self.root = Path(tempfile.mkdtemp(prefix="openlines-bench-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.version = _version([str(self.bin / "postgres"), "--version"])
        self.port = 0
        init = subprocess.run(
            _as_postgres(
                [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", *INITDB]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if init.returncode != 0:
            shutil.rmtree(self.root, ignore_errors=True)
            raise RuntimeError(f"initdb failed: {init.stderr or init.stdout}")
        last = ""
        for _ in range(5):  # a free port can be taken before the server binds it
            port = free_port()
            # PostgreSQL's default durability: fsync, synchronous_commit and full_page_writes stay on.
            # wal_init_zero=off as docs/operations.md recommends: a young cluster has no WAL segment to recycle
            # and zero-filled a new 16 MB one every ~6 s at 1,000 msg/s, holding every commit up for 50-80 ms.
            opts = f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1 -c wal_init_zero=off"
            pg_ctl = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log")]
            started = subprocess.run(
                _as_postgres([*pg_ctl, "-w", "-o", opts, "start"]),
                capture_output=True,
                text=True,
                timeout=120,
            )
            if started.returncode == 0:
                self.port = port
                return
            last = (
                (self.root / "log").read_text(errors="replace")[-2000:]
                if (self.root / "log").exists()
                else ""
            )
        shutil.rmtree(self.root, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {last}")

    def psql(self, sql: str, database: str = "postgres") -> str:
        psql = [str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"]
        where = ["-p", str(self.port), "-U", "postgres", "-d", database]
        done = subprocess.run([*psql, *where, "-c", sql], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {done.stderr or done.stdout}")
        return done.stdout.strip()

    def settings(self) -> dict[str, str]:
        names = (
            "fsync",
            "synchronous_commit",
            "full_page_writes",
            "wal_level",
            "wal_init_zero",
            "shared_buffers",
        )
        return {name: self.psql(f"SHOW {name}") for name in names}

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pid(self) -> int:
        """The postmaster's pid (its backends are its children)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _tree_pss(root: int) -> int:
    """Proportional set size of a process and its children, KiB (RSS would count PostgreSQL's shared buffers once
    per backend)."""
    total = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError, IndexError, ValueError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total


# ---- one layout: a web process and N router workers ------------------------------------------------------


def _events(server: Server, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of `event` a process wrote so far."""
    out = []
    with contextlib.suppress(OSError):
        for line in server.log.read_bytes().splitlines():
            if line.startswith(b"{") and event.encode() in line:
                with contextlib.suppress(orjson.JSONDecodeError):
                    rec = orjson.loads(line)
                    if isinstance(rec, dict) and rec.get("event") == event:
                        out.append(rec)
    return out


def _timestamp(rec: dict[str, Any]) -> float:
    """A log line's `timestamp` (ISO, UTC) as seconds since the epoch (time.time()'s clock)."""
    return datetime.fromisoformat(str(rec["timestamp"]).replace("Z", "+00:00")).timestamp()


def _owned(server: Server) -> set[int] | None:
    """The partitions a router worker said it owns last (None before it said anything)."""
    changes = _events(server, "engine.partitions.changed")
    return set(changes[-1].get("owned", [])) if changes else None


@dataclass
class Layout:
    """The processes of one run, sharing one YAML, one Redis and one fresh PostgreSQL database."""

    tmp: Path
    redis: Redis
    pg: Postgres
    routers_n: int
    lease_s: float
    operators: int
    visitors: int
    max_connections: int | None = None
    web: Server | None = None
    routers: list[Server] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    password: str = ""
    database: str = ""
    startup_s: float = 0.0
    balance_s: float | None = None

    def start(self) -> None:
        t0 = time.monotonic()
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.redis.flush()
        self.database = f"bench_{secrets.token_hex(6)}"
        url = self.pg.create_database(self.database)
        base, self.logins = daemon_config(self.tmp, operators=self.operators, visitors=self.visitors)
        cfg = yaml.safe_load(base.read_text())
        cfg["storage"] = {"url": url}
        cfg["queue"] = {
            "backend": "redis",
            "url": self.redis.url
            + (f"?max_connections={self.max_connections}" if self.max_connections else ""),
            "partitions": PARTITIONS,
            "lease_time": f"{self.lease_s:g}s",
        }
        config = self.tmp / "openlines-scaleout.yaml"
        config.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.password = secrets.token_urlsafe(12)
        env = {**os.environ, "OPENLINES_DEMO_PASSWORD": self.password, "PYTHONUNBUFFERED": "1"}
        openlines = Path(sys.executable).parent / "openlines"
        cmd = [str(openlines)] if openlines.exists() else [sys.executable, "-m", "router.app.cli"]
        port = free_port()
        # the web process first: it migrates the schema (the others would wait on its advisory lock)
        self.web = Server(
            "web",
            [*cmd, "run", "--role", "web", "--config", str(config)],
            port,
            self.tmp / "web.log",
            {**env, "OPENLINES_HTTP_PORT": str(port)},
        )
        self.web.wait_ready()
        # the routers log at info: "daemon.started" and "engine.partitions.changed" are what we wait for
        router_env = {**env, "OPENLINES_LOG_LEVEL": "info"}
        for i in range(1, self.routers_n + 1):
            argv = [*cmd, "run", "--role", "router", "--config", str(config)]
            self.routers.append(Server(f"router-{i}", argv, 0, self.tmp / f"router-{i}.log", router_env))
        for r in self.routers:
            self._wait_started(r)
        self.startup_s = time.monotonic() - t0
        self.balance_s = self._wait_balanced()

    def _wait_started(self, server: Server) -> None:
        deadline = time.monotonic() + PATIENCE
        while not _events(server, "daemon.started"):
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} did not start within {PATIENCE:g}s:\n{server.tail()}")
            time.sleep(0.05)

    def _wait_balanced(self) -> float | None:
        """Wait until the live routers' partitions are disjoint and cover every partition (a newcomer takes its
        share as the others release theirs); the seconds it took, or None if it did not settle in time."""
        t0 = time.monotonic()
        deadline = t0 + max(10.0, 4 * self.lease_s)
        while time.monotonic() < deadline:
            owned = [_owned(r) for r in self.routers]
            if all(o for o in owned):
                sets = [o for o in owned if o is not None]
                if sum(len(o) for o in sets) == PARTITIONS and set().union(*sets) == set(range(PARTITIONS)):
                    return time.monotonic() - t0
            time.sleep(0.05)
        return None

    def alive(self) -> bool:
        return all(s.proc.poll() is None for s in self.servers())

    def servers(self) -> list[Server]:
        return [s for s in [self.web, *self.routers] if s is not None]

    def tails(self, n: int = 8, *, routers_only: bool = False) -> str:
        servers = self.routers if routers_only else self.servers()
        return "\n".join(f"--- {s.name} log ({s.log}), last lines:\n{s.tail(n)}" for s in servers)

    def stop(self) -> None:
        for s in self.servers():
            if s.proc.poll() is None:
                s.proc.send_signal(signal.SIGTERM)
        for s in self.servers():
            s.stop()  # waits (kills after 60 s) and closes the log
        if self.database:
            with contextlib.suppress(RuntimeError, OSError, subprocess.SubprocessError):
                self.pg.drop_database(self.database)


@contextlib.contextmanager
def _layout(tmp: Path, redis: Redis, pg: Postgres, routers: int, plan: ScalePlan) -> Iterator[Layout]:
    layout = Layout(
        tmp, redis, pg, routers, plan.lease_s, plan.operators, plan.visitors, plan.redis_max_connections
    )
    try:
        layout.start()
        yield layout
    finally:
        layout.stop()


def _processes(layout: Layout, redis: Redis, pg: Postgres) -> dict[str, int]:
    """The pids whose CPU and RSS the run reports (PostgreSQL: the postmaster, counted with its backends)."""
    out = {s.name: s.pid for s in layout.servers()}
    out["redis"] = redis.pid
    out["postgresql"] = pg.pid()
    return out


def _generator_pid() -> int | None:
    """The load generator: our child running bench.load (None before it started)."""
    for pid in process_tree(os.getpid())[1:]:
        with contextlib.suppress(OSError):
            if b"bench.load" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    return None


def _cpu_now(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        with contextlib.suppress(OSError):
            out[name] = tree_cpu_seconds(pid) if name == "postgresql" else cpu_seconds(pid)["total"]
    return out


class _Sampler:
    """Every `every` seconds: the machine's busy CPU time and each process's CPU time, in a thread, so that the CPU
    each process used in the load run's busiest moments can be told apart from its quiet ones."""

    def __init__(self, pids: dict[str, int], every: float = 0.25) -> None:
        self.pids, self.every = pids, every
        self.samples: list[tuple[float, float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scaleout-cpu", daemon=True)

    def _sample(self) -> None:
        if "generator" not in self.pids:  # the runner's bench.load child, once it exists
            gen = _generator_pid()
            if gen:
                self.pids = {**self.pids, "generator": gen}
        self.samples.append((time.monotonic(), machine_busy_seconds(), _cpu_now(self.pids)))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> _Sampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def summary(self, busiest_s: float) -> dict[str, Any]:
        """Per process, % of one core: over the whole run, and over its busiest `busiest_s` seconds (the
        intervals in which the whole machine was busiest: the saturated phases, when the run has them); plus how
        busy the whole machine was then (all cores)."""
        whole: dict[str, float] = {}
        hot: dict[str, float] = {}
        intervals = []
        for (t0, m0, c0), (t1, m1, c1) in itertools.pairwise(self.samples):
            if t1 - t0 <= 0:
                continue
            used = {name: c1[name] - c0[name] for name in c0.keys() & c1.keys()}
            used["others"] = max(0.0, (m1 - m0) - sum(used.values()))  # the rest of the machine
            intervals.append((t1 - t0, m1 - m0, used))
            for name, u in used.items():
                whole[name] = whole.get(name, 0.0) + u
        taken = machine = 0.0
        for dt, busy, used in sorted(intervals, key=lambda x: -x[1] / x[0]):
            if taken >= busiest_s:
                break
            taken += dt
            machine += busy
            for name, u in used.items():
                hot[name] = hot.get(name, 0.0) + u
        wall = sum(dt for dt, _, _ in intervals)
        return {
            "wall_s": wall,
            "busiest_s": taken,
            "machine_busiest_pct": 100 * machine / taken if taken else None,
            "cpu_pct": {k: 100 * v / wall for k, v in whole.items()} if wall else {},
            "cpu_pct_busiest": {k: 100 * v / taken for k, v in hot.items()} if taken else {},
        }


def _run_load(
    tmp: Path, redis: Redis, pg: Postgres, routers: int, plan: ScalePlan, load: Load
) -> dict[str, Any]:
    with _layout(tmp, redis, pg, routers, plan) as layout:
        assert layout.web is not None
        progress(
            f"scaleout: web + {routers} router worker(s) up in {layout.startup_s:.1f}s"
            + (
                f", partitions balanced after {layout.balance_s:.1f}s more"
                if layout.balance_s is not None
                else ", partitions NOT balanced (measuring anyway)"
            )
        )
        pids = _processes(layout, redis, pg)
        extra = [*plan.load_args, "--operators", ",".join(layout.logins), f"--password={layout.password}"]
        # each process's CPU in each phase's measured window (the web process is the generator's server)
        for name, pid in pids.items():
            if name != "web":
                extra.append(f"--watch{'-tree' if name == 'postgresql' else ''}={name}={pid}")
        t0 = time.monotonic()
        try:
            with _Sampler(pids) as sampler:
                result = load(layout.web, "daemon", extra)
        except Exception as exc:
            raise RuntimeError(
                f"{exc}\n{layout.tails(routers_only=True)}"
            ) from exc  # the web's log is in exc
        wall = time.monotonic() - t0
        # the busiest stretch as long as the saturated phases' measured windows: where the cores went then
        cpu = sampler.summary(
            sum(p.get("measured_s", 0.0) for p in result.get("phases", []) if p.get("mode") == "saturation")
        )
        if not layout.alive():
            dead = [
                f"{s.name} (exit {s.proc.returncode})" for s in layout.servers() if s.proc.poll() is not None
            ]
            raise RuntimeError(f"died during the load: {', '.join(dead)}\n{layout.tails()}")
        result["routers"] = routers
        # widget messages the web process could not publish (refused with `unavailable`: lost for the generator)
        result["publish_failed"] = len(_events(layout.web, "widget.publish.failed"))
        result["startup_s"] = layout.startup_s
        result["balance_s"] = layout.balance_s
        result["owned"] = {r.name: sorted(_owned(r) or []) for r in layout.routers}
        result["load_s"] = wall
        result["busiest_s"] = cpu["busiest_s"]
        result["machine_busiest_pct"] = cpu["machine_busiest_pct"]
        result["processes"] = {
            name: {
                "pid": pid,
                # the whole load run (connect, phases, drains), in % of one core
                "cpu_pct": cpu["cpu_pct"].get(name),
                "cpu_pct_busiest": cpu["cpu_pct_busiest"].get(name),
                # PostgreSQL: PSS of the postmaster and its backends (shared memory counted once)
                "rss_kib": _tree_pss(pid) if name == "postgresql" else rss_kib(pid),
            }
            for name, pid in pids.items()
        }
        for name in ("generator", "others"):  # the load generator, and the rest of the machine
            result["processes"][name] = {
                "pid": None,
                "cpu_pct": cpu["cpu_pct"].get(name),
                "cpu_pct_busiest": cpu["cpu_pct_busiest"].get(name),
                "rss_kib": None,
            }
        return result


def _floor(tmp: Path, redis: Redis, pg: Postgres, plan: ScalePlan, load: Load) -> dict[str, Any]:
    """bench/floor.py on the same Redis and PostgreSQL, saturated only, driven as the relay is: the least a
    pipeline on these components can cost, beside what the real layout costs."""
    tmp.mkdir(parents=True, exist_ok=True)
    redis.flush()
    database = f"floor_{secrets.token_hex(6)}"
    dsn = pg.create_database(database).replace("postgresql+asyncpg://", "postgresql://")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    floor = [sys.executable, "-m", "bench.floor"]
    common = ["--redis", redis.url, "--partitions", str(PARTITIONS)]
    router = Server("floor-router", [*floor, "router", *common, "--dsn", dsn], 0, tmp / "router.log", env)
    web: Server | None = None
    try:
        deadline = time.monotonic() + PATIENCE
        while "floor.router.ready" not in router.tail():
            if router.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the floor's router did not start:\n{router.tail()}")
            time.sleep(0.05)
        port = free_port()
        web = Server("floor-web", [*floor, "web", *common, "--port", str(port)], port, tmp / "web.log", env)
        web.wait_ready()
        progress("scaleout floor: bench/floor.py web + router up (the generator's lines below say relay)")
        pids = {"web": web.pid, "router-1": router.pid, "redis": redis.pid, "postgresql": pg.pid()}
        with _Sampler(pids) as sampler:
            result = load(web, "relay", [*plan.load_args, "--rates", ""])  # saturation only
        cpu = sampler.summary(sum(p.get("measured_s", 0.0) for p in result.get("phases", [])))
        if router.proc.poll() is not None or web.proc.poll() is not None:
            raise RuntimeError(f"the floor died during the load:\n{router.tail()}\n{web.tail()}")
        result["rows"] = int(pg.psql("SELECT count(*) FROM floor_messages", database))
        result["machine_busiest_pct"] = cpu["machine_busiest_pct"]
        result["processes"] = {name: {"cpu_pct_busiest": pct} for name, pct in cpu["cpu_pct_busiest"].items()}
        return result
    finally:
        for s in (web, router):
            if s is not None:
                s.stop()
        with contextlib.suppress(RuntimeError, OSError, subprocess.SubprocessError):
            pg.drop_database(database)


def _failover(tmp: Path, redis: Redis, pg: Postgres, plan: ScalePlan) -> dict[str, Any]:
    """Two routers, idle, fresh database: SIGKILL one and time the survivor's takeover from its own log."""
    lease = plan.lease_s
    with _layout(tmp, redis, pg, 2, plan) as layout:
        if layout.balance_s is None:
            raise RuntimeError(
                "the two routers' partitions did not settle before the kill: "
                + str({r.name: sorted(_owned(r) or []) for r in layout.routers})
                + f"\n{layout.tails()}"
            )
        victim, survivor = layout.routers
        before = sorted(_owned(survivor) or [])
        victims = sorted(_owned(victim) or [])
        seen = len(_events(survivor, "engine.partitions.changed"))
        killed_at = time.time()
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        first: float | None = None
        complete: float | None = None
        gains: list[dict[str, Any]] = []
        deadline = time.monotonic() + max(20.0, 6 * lease)
        while time.monotonic() < deadline and complete is None:
            time.sleep(0.05)
            for rec in _events(survivor, "engine.partitions.changed")[seen:]:
                seen += 1
                if not rec.get("gained"):
                    continue
                after = _timestamp(rec) - killed_at
                gains.append({"after_s": after, "gained": rec["gained"], "owned": len(rec.get("owned", []))})
                first = after if first is None else first
                if set(rec.get("owned", [])) >= set(range(PARTITIONS)):
                    complete = after
            if survivor.proc.poll() is not None:
                raise RuntimeError(f"the survivor exited too:\n{survivor.tail()}")
        out = {
            "routers": 2,
            "lease_s": lease,
            "partitions": PARTITIONS,
            "load": "idle",
            "balance_s": layout.balance_s,
            "victim_owned": victims,
            "survivor_owned_before": before,
            "first_gain_s": first,
            "all_partitions_s": complete,
            "gains": gains,
        }
        if complete is None:
            raise RuntimeError(
                f"the survivor did not own every partition within {max(20.0, 6 * lease):g}s of the kill: "
                f"{gains}\n{survivor.tail()}"
            )
        progress(
            f"scaleout failover: a router worker killed; the survivor gained its first partitions after "
            f"{first:.2f}s and owned all {PARTITIONS} after {complete:.2f}s (lease {lease:g}s)"
        )
        return out


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(f"scaleout: signal {signum}")


def measure(tmp: Path, plan: ScalePlan, load: Load) -> dict[str, Any]:
    """The section: the servers, a load run per router count, the failover. A part that breaks is recorded
    (`errors`, and `error` for the runner) while the other parts still run."""
    tmp.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {
        "partitions": PARTITIONS,
        "lease_s": plan.lease_s,
        "redis_max_connections": plan.redis_max_connections,
        "runs": {},
        "errors": {},
    }
    redis: Redis | None = None
    pg: Postgres | None = None
    # a SIGTERM to the runner still stops the servers (the finally below): the cluster would outlive us otherwise
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        t = time.monotonic()
        redis = Redis(tmp / "redis")
        pg = Postgres()
        out["redis"] = {
            "version": redis.version,
            "persistence": " ".join(a if a else '""' for a in REDIS_PERSISTENCE),
            "filesystem": _filesystem(redis.root),
        }
        out["postgresql"] = {
            "version": pg.version,
            "settings": pg.settings(),
            "filesystem": _filesystem(pg.data),
        }
        out["servers_start_s"] = time.monotonic() - t
        progress(
            f"scaleout: {redis.version.split(' sha=')[0]} and {pg.version} up in {out['servers_start_s']:.1f}s "
            f"(PostgreSQL fsync={out['postgresql']['settings']['fsync']}, "
            f"synchronous_commit={out['postgresql']['settings']['synchronous_commit']})"
        )
        for n in plan.routers:
            try:
                out["runs"][str(n)] = _run_load(tmp / f"routers-{n}", redis, pg, n, plan, load)
            except Exception as exc:
                progress(f"scaleout with {n} router(s) failed: {type(exc).__name__}: {exc}")
                out["errors"][f"routers-{n}"] = f"{type(exc).__name__}: {exc}"
        try:
            out["floor"] = _floor(tmp / "floor", redis, pg, plan, load)
        except Exception as exc:
            progress(f"scaleout floor failed: {type(exc).__name__}: {exc}")
            out["errors"]["floor"] = f"{type(exc).__name__}: {exc}"
        try:
            out["failover"] = _failover(tmp / "failover", redis, pg, plan)
        except Exception as exc:
            progress(f"scaleout failover failed: {type(exc).__name__}: {exc}")
            out["errors"]["failover"] = f"{type(exc).__name__}: {exc}"
    finally:
        signal.signal(signal.SIGTERM, previous)
        if pg is not None:
            pg.stop()
        if redis is not None:
            redis.stop()
    if out["errors"]:  # the runner reports the section as broken, the parts that worked still show
        out["error"] = "; ".join(f"{k}: {v.splitlines()[0]}" for k, v in out["errors"].items())
    return out
