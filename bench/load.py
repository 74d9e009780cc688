"""The load generator: a separate process that owns both the visitor sockets and the operator sockets, so it
timestamps each send and each receipt itself (one clock, perf_counter_ns), and talks to the server over loopback.

    python -m bench.load pipeline --target daemon --base http://127.0.0.1:PORT --server-pid PID ...
    python -m bench.load pipeline --target relay  --base http://127.0.0.1:PORT --server-pid PID ...
    python -m bench.load idle     --target daemon --base ... --steps 1000,10000

`pipeline` prints one JSON object (every phase) on stdout. `idle` opens idle connections (hello exchanged) up to
each step, prints a JSON line per step and waits for a line on stdin (the runner reads the server's RSS meanwhile).
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench.common import (
    cpu_seconds,
    machine_busy_seconds,
    progress,
    raise_fd_limit,
    summary_ms,
    tree_cpu_seconds,
)

PAD = "Hello! I ordered a bike last week, when will it arrive?"  # a typical chat line (~55 characters)
now_ns = time.perf_counter_ns
# monotonic, own CPU, server CPU, machine CPU, the watched processes' CPU
Snapshot = tuple[float, float, dict[str, float] | None, float, dict[str, float]]


@dataclass
class Phase:
    """One measured phase: what is in flight (seq → intended send time) and what arrived (sent, received)."""

    name: str
    sent: dict[int, int] = field(default_factory=dict)
    done: list[tuple[int, int]] = field(default_factory=list)  # (intended send ns, receipt ns)
    duplicates: int = 0

    def got(self, seq: int) -> None:
        t = self.sent.pop(seq, None)
        if t is None:
            self.duplicates += 1
            return
        self.done.append((t, now_ns()))


class Generator:
    """Visitors and operators of one target (the daemon's public protocols, or the bare relay's)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.target: str = args.target
        self.base: str = args.base.rstrip("/")
        self.ws_base = self.base.replace("http://", "ws://")
        self.k: int = args.visitors
        self.session: aiohttp.ClientSession | None = None
        self.visitors: list[aiohttp.ClientWebSocketResponse] = []
        self.ops: list[aiohttp.ClientWebSocketResponse] = []
        self.logins: list[str] = (
            [x for x in args.operators.split(",") if x] if self.target == "daemon" else []
        )
        self.dialog_of: dict[int, str] = {}  # visitor → dialog (daemon)
        self.visitor_of: dict[str, int] = {}
        self.op_of_dialog: dict[str, int] = {}  # dialog → index of the operator it is assigned to
        self.phase: Phase | None = None
        self.errors: Counter[str] = Counter()
        self.frames: Counter[str] = Counter()
        self.warm = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.seq = 0
        self.run_tag = secrets.token_hex(4)

    # ---- connections -----------------------------------------------------------------------------

    async def open(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
        )

    async def close(self) -> None:
        for ws in [*self.visitors, *self.ops]:
            with contextlib.suppress(Exception):
                await ws.close()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()

    def _visitor_url(self) -> str:
        if self.target == "daemon":
            return f"{self.ws_base}/widget/ws?line={self.args.line}"
        return f"{self.ws_base}/visitor"

    def _hello(self, i: int) -> str:
        if self.target == "daemon":
            return '{"type":"hello","protocol":1,"visitor_token":null}'
        return f'{{"type":"hello","v":{i}}}'

    async def connect_visitor(self, i: int, *, reader: bool = True) -> aiohttp.ClientWebSocketResponse:
        assert self.session is not None
        headers = {}
        if self.target == "daemon" and reader:
            # each simulated visitor is its own client address (the line trusts X-Forwarded-For, as behind nginx)
            headers["X-Forwarded-For"] = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        ws = await self.session.ws_connect(self._visitor_url(), headers=headers, max_msg_size=0)
        await ws.send_str(self._hello(i))
        while True:
            msg = await ws.receive(timeout=30)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"visitor {i}: no hello ({msg.type})")
            if orjson.loads(msg.data).get("type") == "hello":
                break
        self.tasks.append(asyncio.create_task(self._visitor_reader(i, ws) if reader else _hold(ws)))
        return ws

    async def connect_operators(self) -> None:
        assert self.session is not None
        if self.target == "relay":
            ws = await self.session.ws_connect(f"{self.ws_base}/operator", max_msg_size=0)
            msg = await ws.receive(timeout=30)
            assert orjson.loads(msg.data)["type"] == "hello"
            self.ops.append(ws)
            self.tasks.append(asyncio.create_task(self._operator_reader(0, ws)))
            return
        for j, login in enumerate(self.logins):
            async with self.session.post(
                f"{self.base}/api/login", json={"login": login, "password": self.args.password}
            ) as r:
                if r.status != 200:
                    raise RuntimeError(f"login {login}: {r.status} {await r.text()}")
                token = (await r.json())["token"]
            ws = (
                await self.session.ws_connect(  # batch=1: as the console does, several frames may come in one
                    f"{self.ws_base}/api/console/ws?batch=1",
                    headers={"Authorization": f"Bearer {token}"},
                    max_msg_size=0,
                )
            )
            online = False
            while not online:
                msg = await ws.receive(timeout=30)
                frame = orjson.loads(msg.data)
                online = frame.get("type") == "presence" and frame.get("status") == "online"
            self.ops.append(ws)
            self.tasks.append(asyncio.create_task(self._operator_reader(j, ws)))

    async def connect_visitors(self) -> None:
        sem = asyncio.Semaphore(50)

        async def one(i: int) -> aiohttp.ClientWebSocketResponse:
            async with sem:
                return await self.connect_visitor(i)

        self.visitors = list(await asyncio.gather(*(one(i) for i in range(self.k))))

    async def start_dialogs(self) -> None:
        """Daemon: every visitor writes once; operators take the offers; wait until each dialog is assigned."""
        if self.target != "daemon":
            return
        for i, ws in enumerate(self.visitors):
            await ws.send_str(
                orjson.dumps(
                    {"type": "message", "client_msg_id": f"{self.run_tag}-w{i}", "text": f"w{i} {PAD}"}
                ).decode()
            )
            if i % 20 == 19:
                await asyncio.sleep(0.01)
        try:
            await asyncio.wait_for(self.warm.wait(), 120)
        except TimeoutError:
            raise RuntimeError(
                f"only {sum(1 for d in self.dialog_of.values() if d in self.op_of_dialog)} of {self.k} dialogs "
                f"were assigned; errors {dict(self.errors)}"
            ) from None

    def _check_warm(self) -> None:
        if len(self.dialog_of) == self.k and all(d in self.op_of_dialog for d in self.dialog_of.values()):
            self.warm.set()

    # ---- readers -------------------------------------------------------------------------------------

    async def _visitor_reader(self, i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = orjson.loads(msg.data)
            kind = frame.get("type")
            self.frames[f"visitor.{kind}"] += 1
            if kind == "message":
                text = frame.get("text") or ""
                if text.startswith("r") and self.phase is not None:
                    self.phase.got(int(text[1 : text.index(" ")]))
            elif kind == "error":
                self.errors[f"visitor.{frame.get('code')}"] += 1

    async def _operator_reader(self, j: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = orjson.loads(msg.data)
            if frame.get("type") == "batch":
                for one in frame["frames"]:
                    await self._operator_frame(j, ws, one)
            else:
                await self._operator_frame(j, ws, frame)

    async def _operator_frame(
        self, j: int, ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]
    ) -> None:
        login = self.logins[j] if self.logins else "operator"
        kind = frame.get("type")
        self.frames[f"operator.{kind}"] += 1
        if kind == "message":
            if self.target == "daemon":
                m = frame["message"]
                if m["author"]["kind"] != "customer":
                    return
                text = m["text"]
            else:
                text = frame.get("text") or ""
            if text.startswith("s"):
                if self.phase is not None:
                    self.phase.got(int(text[1 : text.index(" ")]))
            elif text.startswith("w"):
                i = int(text[1 : text.index(" ")])
                self.dialog_of[i] = frame["dialog_id"]
                self.visitor_of[frame["dialog_id"]] = i
                self._check_warm()
        elif kind == "dialog.offered":
            await ws.send_str(orjson.dumps({"type": "take", "dialog_id": frame["dialog_id"]}).decode())
        elif kind == "dialog.assigned":
            if frame.get("operator") == login:
                self.op_of_dialog[frame["dialog_id"]] = j
                self._check_warm()
        elif kind == "error":
            self.errors[f"operator.{frame.get('code')}"] += 1

    # ---- sending ---------------------------------------------------------------------------------------

    def sender(self, direction: str) -> Callable[[int, int], Any]:
        """A coroutine function sending message `seq` on behalf of visitor/dialog number `i` (mod K)."""
        k = self.k
        run = self.run_tag  # client_msg_ids are idempotency keys: unique across runs on one daemon
        if direction == "forward":
            visitors = self.visitors
            if self.target == "daemon":

                async def fwd(i: int, seq: int) -> None:
                    frame = f'{{"type":"message","client_msg_id":"{run}-{seq}","text":"s{seq} {PAD}"}}'
                    await visitors[i % k].send_str(frame)

                return fwd

            async def fwd_relay(i: int, seq: int) -> None:
                await visitors[i % k].send_str(f'{{"type":"message","text":"s{seq} {PAD}"}}')

            return fwd_relay
        ops = self.ops
        if self.target == "daemon":
            dialogs = [self.dialog_of[i] for i in range(k)]
            op_ws = [ops[self.op_of_dialog[d]] for d in dialogs]

            async def back(i: int, seq: int) -> None:
                d = dialogs[i % k]
                frame = f'{{"type":"reply","dialog_id":"{d}","client_msg_id":"{run}-r{seq}","text":"r{seq} {PAD}"}}'
                await op_ws[i % k].send_str(frame)

            return back
        op = ops[0]

        async def back_relay(i: int, seq: int) -> None:
            await op.send_str(f'{{"type":"reply","to":{i % k},"text":"r{seq} {PAD}"}}')

        return back_relay

    async def fixed_rate(
        self, direction: str, rate: float, warm: float, measure: float, drain: float
    ) -> dict:
        """Open loop: message i is due at t0 + i/rate whatever happened to the others; latency counts from
        the due time (a late send is the system's delay too, no coordinated omission)."""
        send = self.sender(direction)
        n_warm, n = int(rate * warm), int(rate * (warm + measure))
        phase = self.phase = Phase(f"{direction}@{rate:g}")
        seq0 = self.seq
        self.seq += n
        step = 1e9 / rate
        t0 = now_ns() + 20_000_000
        i = 0
        snap0 = self._snapshot() if n_warm == 0 else None
        while i < n:
            due = min(n, int((now_ns() - t0) / step) + 1)
            while i < due:
                if i == n_warm:
                    snap0 = self._snapshot()  # CPU is measured over the measured sends
                phase.sent[seq0 + i] = int(t0 + i * step)
                await send(i, seq0 + i)
                i += 1
            delay = (t0 + i * step - now_ns()) / 1e9
            await asyncio.sleep(delay if delay > 0 else 0)
        send_end = now_ns()
        cpu = self._cpu_between(snap0, self._snapshot())
        await self._drain(phase, drain)
        first = t0 + n_warm * step
        measured = [(s, r) for s, r in phase.done if s >= first]
        lost = sum(1 for seq, s in phase.sent.items() if s >= first)
        last = max((r for _, r in measured), default=first)
        out = {
            "phase": phase.name,
            "direction": direction,
            "mode": "fixed",
            "offered_per_s": rate,
            "measured_s": measure,
            "sent": n - n_warm,
            "delivered": len(measured),
            "lost": lost,
            "send_rate_per_s": (n - n_warm) / max(1e-9, (send_end - first) / 1e9),
            **_totals(phase, n),
            "achieved_per_s": len(measured) / max(1e-9, (last - first) / 1e9) if measured else 0.0,
            **summary_ms([r - s for s, r in measured]),
            **cpu,
        }
        self.phase = None
        return _per_message(out)

    async def saturate(self, direction: str, warm: float, measure: float, drain: float) -> dict:
        """Closed loop: keep `max_inflight` messages in flight (paced per connection where the server caps
        frames per connection); throughput counts the receipts in the measured window."""
        send = self.sender(direction)
        max_inflight = self.args.max_inflight
        cap = (
            self.args.per_visitor_cap * self.k if direction == "forward" and self.target == "daemon" else None
        )
        if self.args.max_rate:  # a smoke run: a bounded number of messages, whatever the server could take
            cap = min(cap or self.args.max_rate, self.args.max_rate)
        phase = self.phase = Phase(f"{direction}@saturation")
        start = now_ns()
        w_from, w_to = start + int(warm * 1e9), start + int((warm + measure) * 1e9)
        i = 0
        snap0 = None
        # a loaded machine (a smoke run in the test suite) can spend the whole short window in one round of
        # sends: then the CPU is measured from the phase's start rather than not at all
        snap_start = self._snapshot()
        while (t := now_ns()) < w_to:
            if snap0 is None and t >= w_from:
                snap0 = self._snapshot()  # CPU is measured over the measured window
            allowed = max_inflight - len(phase.sent)
            if cap is not None:
                allowed = min(allowed, int((t - start) / 1e9 * cap) - i)
            if allowed <= 0:
                await asyncio.sleep(0.0005)
                continue
            for _ in range(min(allowed, 200)):
                seq = self.seq
                self.seq += 1
                phase.sent[seq] = now_ns()
                await send(i, seq)
                i += 1
            await asyncio.sleep(0)
        cpu = self._cpu_between(snap0 or snap_start, self._snapshot())
        await self._drain(phase, drain)
        window = [(s, r) for s, r in phase.done if w_from <= r < w_to]
        out = {
            "phase": phase.name,
            "direction": direction,
            "mode": "saturation",
            "max_inflight": max_inflight,
            "offered_cap_per_s": cap,
            "measured_s": measure,
            "sent": i,
            "delivered": len(window),
            "lost": len(phase.sent),
            "achieved_per_s": len(window) / measure,
            **_totals(phase, i),
            **summary_ms([r - s for s, r in window]),
            **cpu,
        }
        self.phase = None
        return _per_message(out)

    async def _drain(self, phase: Phase, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while phase.sent and time.monotonic() < deadline:  # noqa: ASYNC110 (a deadline, not an event)
            await asyncio.sleep(0.02)
        await self.quiesce()

    async def quiesce(self, longest: float = 20.0, threshold_pct: float = 15.0) -> float:
        """Wait until the server is idle again (its trailing work — receipts, delivery statuses, outbox clean-up —
        would otherwise be charged to the next phase); returns the seconds waited."""
        t0 = time.monotonic()
        pid = self.args.server_pid
        if not pid:
            await asyncio.sleep(0.2)
            return 0.2
        prev, t = cpu_seconds(pid)["total"], t0
        while time.monotonic() - t0 < longest:
            await asyncio.sleep(0.25)
            cur, now = cpu_seconds(pid)["total"], time.monotonic()
            if 100 * (cur - prev) / (now - t) < threshold_pct:
                break
            prev, t = cur, now
        return time.monotonic() - t0

    def _server_cpu(self) -> dict[str, float] | None:
        pid = self.args.server_pid
        return cpu_seconds(pid) if pid else None

    def _snapshot(self) -> Snapshot:
        return time.monotonic(), _self_cpu(), self._server_cpu(), machine_busy_seconds(), self._watched_cpu()

    def _watched_cpu(self) -> dict[str, float]:
        """CPU seconds of the other processes the run watches (router workers, Redis, PostgreSQL and its backends)."""
        out: dict[str, float] = {}
        for spec, tree in [(w, False) for w in self.args.watch] + [(w, True) for w in self.args.watch_tree]:
            name, _, pid = spec.partition("=")
            with contextlib.suppress(OSError, ValueError):
                out[name] = tree_cpu_seconds(int(pid)) if tree else cpu_seconds(int(pid))["total"]
        return out

    @staticmethod
    def _cpu_between(a: Snapshot | None, b: Snapshot) -> dict[str, float]:
        """CPU use between two snapshots, in % of one core: the generator; the server (all threads, and its main
        thread); everything else on the machine (neighbours on a shared machine: context for noisy figures)."""
        if a is None:
            return {}
        wall = max(1e-9, b[0] - a[0])
        generator = 100 * (b[1] - a[1]) / wall
        out = {"cpu_window_s": wall, "generator_cpu_pct": generator}
        server = 0.0
        if a[2] is not None and b[2] is not None:
            server = out["server_cpu_pct"] = 100 * (b[2]["total"] - a[2]["total"]) / wall
            out["server_main_thread_cpu_pct"] = 100 * (b[2]["main"] - a[2]["main"]) / wall
        watched = {name: 100 * (b[4][name] - a[4][name]) / wall for name in a[4].keys() & b[4].keys()}
        if watched:
            out["processes_cpu_pct"] = watched  # type: ignore[assignment]
        out["others_cpu_pct"] = max(
            0.0, 100 * (b[3] - a[3]) / wall - generator - server - sum(watched.values())
        )
        return out


def _totals(phase: Phase, sent: int) -> dict[str, int]:
    """Every message of a phase, warm-up included: sent, received (once each), still missing, received twice."""
    return {
        "sent_total": sent,
        "received_total": len(phase.done),
        "missing_total": len(phase.sent),
        "duplicates": phase.duplicates,
    }


def _per_message(out: dict) -> dict:
    """The phase's CPU per routed message, in µs, of the server and of each watched process: its CPU time in the
    measured window over the messages delivered meanwhile (independent of how fast the machine is)."""
    rate = out.get("achieved_per_s") or 0.0
    if rate <= 0:
        return out
    if out.get("server_cpu_pct") is not None:
        out["server_cpu_us_per_msg"] = out["server_cpu_pct"] * 1e4 / rate
        out["server_main_thread_cpu_us_per_msg"] = out["server_main_thread_cpu_pct"] * 1e4 / rate
    if out.get("processes_cpu_pct"):
        out["processes_cpu_us_per_msg"] = {k: v * 1e4 / rate for k, v in out["processes_cpu_pct"].items()}
    return out


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _hold(ws: aiohttp.ClientWebSocketResponse) -> None:
    # keep reading, so the server's heartbeat pings are answered
    async for _ in ws:
        pass


async def run_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    g = Generator(args)
    await g.open()
    try:
        t = time.monotonic()
        await g.connect_operators()
        await g.connect_visitors()
        await g.start_dialogs()
        await g.quiesce()
        progress(
            f"{args.target}: {g.k} visitors and {len(g.ops)} operator socket(s) ready in {time.monotonic() - t:.1f}s"
        )
        phases = []
        if args.profile_signals and args.server_pid:
            os.kill(args.server_pid, signal.SIGUSR1)  # bench/profiled.py: start sampling
        rates = [float(r) for r in args.rates.split(",") if r]
        for direction in args.directions.split(","):
            for rate in rates:
                res = await g.fixed_rate(direction, rate, args.warm, args.measure, args.drain)
                phases.append(res)
                progress(_line(args.target, res))
            if args.skip_saturation:
                continue
            res = await g.saturate(direction, args.warm, args.measure, args.drain)
            phases.append(res)
            progress(_line(args.target, res))
        if args.profile_signals and args.server_pid:
            os.kill(args.server_pid, signal.SIGUSR2)  # stop sampling and write the profile
        return {
            "target": args.target,
            "visitors": g.k,
            "operators": len(g.ops),
            # every message of every phase (warm-up included): what a smoke run checks for end to end
            "messages": {
                key: sum(p[f"{key}_total"] for p in phases) for key in ("sent", "received", "missing")
            }
            | {"duplicates": sum(p["duplicates"] for p in phases)},
            "phases": phases,
            "errors": dict(g.errors),
            "frames": dict(g.frames),
        }
    finally:
        await g.close()


def _line(target: str, r: dict[str, Any]) -> str:
    p50, p99 = r.get("p50_ms"), r.get("p99_ms")
    lat = f"p50 {p50:.1f} ms, p99 {p99:.1f} ms" if p50 is not None and p99 is not None else "no receipts"
    return (
        f"{target} {r['phase']}: {r['achieved_per_s']:.0f} msg/s delivered ({r['delivered']}, lost {r['lost']}), "
        f"{lat}, server CPU {r.get('server_cpu_pct', 0):.0f}% (main thread "
        f"{r.get('server_main_thread_cpu_pct', 0):.0f}%), generator CPU {r.get('generator_cpu_pct', 0):.0f}%, "
        f"other processes {r.get('others_cpu_pct', 0):.0f}%"
    )


async def run_idle(args: argparse.Namespace) -> None:
    g = Generator(args)
    await g.open()
    loop = asyncio.get_running_loop()
    conns: list[aiohttp.ClientWebSocketResponse] = []
    failed = 0
    try:
        sem = asyncio.Semaphore(args.concurrency)

        async def one(i: int) -> None:
            nonlocal failed
            async with sem:
                try:
                    conns.append(await g.connect_visitor(i, reader=False))
                except Exception as exc:
                    failed += 1
                    if failed <= 3:
                        progress(f"idle connection {i} failed: {type(exc).__name__}: {exc}")

        steps = [int(s) for s in args.steps.split(",")]
        for n_step, step in enumerate(steps):
            t = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(len(conns) + failed, step)))
            await asyncio.sleep(args.settle)  # let the server settle (buffers, timers)
            print(
                orjson.dumps(
                    {"open": len(conns), "failed": failed, "seconds": time.monotonic() - t}
                ).decode(),
                flush=True,
            )
            if n_step < len(steps) - 1 or args.wait_at_end:
                await loop.run_in_executor(None, sys.stdin.readline)
    finally:
        for ws in conns:
            with contextlib.suppress(Exception):
                await ws.close()
        await g.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["pipeline", "idle"])
    parser.add_argument("--target", choices=["daemon", "relay"], required=True)
    parser.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--server-pid", type=int, default=0, help="to read the server's CPU time")
    parser.add_argument("--watch", action="append", default=[], help="NAME=PID: another process's CPU too")
    parser.add_argument(
        "--watch-tree", action="append", default=[], help="NAME=PID: a process and its children's CPU"
    )
    parser.add_argument("--line", default="bench")
    parser.add_argument("--operators", default="", help="daemon: comma-separated operator logins")
    parser.add_argument("--password", default="")
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--rates", default="500,1000,2000")
    parser.add_argument("--directions", default="forward,back")
    parser.add_argument("--skip-saturation", action="store_true", help="only the fixed rates")
    parser.add_argument("--warm", type=float, default=1.0, help="seconds sent before measuring")
    parser.add_argument("--measure", type=float, default=5.0)
    parser.add_argument("--drain", type=float, default=20.0, help="longest wait for the stragglers")
    parser.add_argument("--max-inflight", type=int, default=1000)
    parser.add_argument(
        "--max-rate", type=float, default=0.0, help="saturation: at most this many msg/s in all (0: no cap)"
    )
    parser.add_argument(
        "--per-visitor-cap",
        type=float,
        default=18.0,
        help="daemon saturation: frames/s per widget connection",
    )
    parser.add_argument(
        "--profile-signals", action="store_true", help="SIGUSR1/SIGUSR2 the server around the phases"
    )
    parser.add_argument("--steps", default="1000,10000")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--settle", type=float, default=1.0, help="idle: seconds to wait after each step")
    parser.add_argument("--wait-at-end", action="store_true")
    args = parser.parse_args()
    raise_fd_limit()
    if args.scenario == "pipeline":
        result = asyncio.run(run_pipeline(args))
        print(orjson.dumps(result).decode(), flush=True)
    else:
        asyncio.run(run_idle(args))


if __name__ == "__main__":
    main()
