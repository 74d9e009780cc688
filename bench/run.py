"""`make bench`: every benchmark of bench/README.md in one run, results in bench/results/latest.{md,json}.

Each server (the bare relay, `openlines run`) is its own subprocess on loopback; each load generator is another
(`python -m bench.load`); this runner only starts them, reads /proc and writes the report. Nothing here fails
for being slow: a section that breaks is reported as broken and the others still run.

    python -m bench.run [--quick] [--only relay,pipeline,scaleout,memory,profile,crm,routing,search,widget,duplicates,deals]
        [--out DIR]
    python -m bench.run --smoke [--out DIR]     # the whole harness in a tiny configuration (a test runs it)
    python -m bench.run --report-only [--out DIR]   # rebuild DIR/latest.md from DIR/latest.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import report, scaleout
from bench.common import REPO, commit, loadavg, machine, progress, quick, raise_fd_limit, rss_kib, today
from bench.servers import Server, start_daemon, start_relay
from bench.widget_size import section_widget

SECTIONS = (
    "relay",
    "pipeline",
    "scaleout",
    "memory",
    "profile",
    "crm",
    "routing",
    "search",
    "widget",
    "duplicates",
    "deals",
)
# simulated widget visitors: the widget takes at most 20 frames/s per connection, so the saturated visitor ->
# operator load is paced at 18/s each; 1,000 of them cap it at 18,000 msg/s, above what the servers reach here
VISITORS = 1000


@dataclass
class Plan:
    """Sizes and durations of one run (BENCH_QUICK=1 / --quick: smaller ones; --smoke: tiny ones, for the test
    that keeps the harness working: numbers from a smoke run mean nothing)."""

    quick: bool
    visitors: int
    operators: int
    rates: str
    warm: float
    measure: float
    idle_steps: tuple[int, ...]
    crm_n: int
    profile_measure: float
    smoke: bool = False
    profile_warm: float = 1.0
    max_inflight: int = 1000
    max_rate: float = 0.0  # saturation phases: at most this many msg/s in all (0: no cap)
    drain: float = 20.0
    idle_settle: float = 1.0
    crm_lookups: int = 1000
    routing_repeats: int = 0  # 0: bench.routing's default
    routing_budget: float = 0.05
    scaleout_routers: tuple[int, ...] = (1, 2)  # router workers of each scale-out load run
    scaleout_lease: float = scaleout.LEASE_S  # queue.lease_time (s) of the scale-out runs and the failover
    search_messages: int = 10_000_000  # stored messages of the search section (SQLite; leads: a tenth)
    search_pg_messages: int = 10_000_000  # … on PostgreSQL (builds in about 7 minutes here, not cached)
    searches: int = 480
    pg_searches: int = 240  # PostgreSQL's slow searches take seconds each

    @classmethod
    def make(cls, is_quick: bool, args: argparse.Namespace) -> Plan:
        if args.smoke:
            return cls.make_smoke(args)
        return cls(
            quick=is_quick,
            visitors=args.visitors or int(os.environ.get("BENCH_VISITORS", str(VISITORS))),
            operators=4,
            rates="500,1000,2000",
            warm=0.5 if is_quick else 1.0,
            measure=2.0 if is_quick else 5.0,
            idle_steps=(20, 1000, 2000) if is_quick else (20, 1000, 10000),
            crm_n=args.crm_size
            or int(os.environ.get("BENCH_CRM_N", "0"))
            or (100_000 if is_quick else 1_000_000),
            profile_measure=2.0 if is_quick else 4.0,
            search_messages=args.search_size or (1_000_000 if is_quick else 10_000_000),
            search_pg_messages=args.search_pg_size or (200_000 if is_quick else 10_000_000),
        )

    @classmethod
    def make_smoke(cls, args: argparse.Namespace) -> Plan:
        """A few hundred messages per server, a handful of visitors, ~100 idle connections, 2,000 contacts."""
        return cls(
            quick=True,
            smoke=True,
            visitors=args.visitors or 5,
            operators=2,
            rates="100",
            warm=0.2,
            measure=0.5,
            idle_steps=(20, 60, 100),
            crm_n=args.crm_size or 2000,
            profile_measure=0.5,
            profile_warm=0.2,
            max_inflight=50,
            max_rate=100.0,
            drain=10.0,
            idle_settle=0.2,
            crm_lookups=200,
            routing_repeats=1,
            routing_budget=0.005,
            scaleout_routers=(1,),  # the failover still starts two
            scaleout_lease=1.0,
            search_messages=args.search_size or 20_000,
            search_pg_messages=args.search_pg_size or 5_000,
            searches=60,
            pg_searches=60,
        )

    def load_args(self) -> list[str]:
        return [
            "--visitors",
            str(self.visitors),
            "--rates",
            self.rates,
            "--warm",
            str(self.warm),
            "--measure",
            str(self.measure),
            *self.limits(),
        ]

    def limits(self) -> list[str]:
        """The generator's in-flight window, saturation cap and drain time."""
        return [
            "--max-inflight",
            str(self.max_inflight),
            "--max-rate",
            str(self.max_rate),
            "--drain",
            str(self.drain),
        ]


def _python(module: str, *args: str, timeout: float) -> dict[str, Any]:
    """Run `python -m module args` (progress on our stderr) and parse the JSON it prints last on stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{module} exited with {proc.returncode}: {proc.stdout[-2000:]}")
    return dict(json.loads(lines[-1]))


def _load(server: Server, target: str, extra: list[str], timeout: float = 600) -> dict[str, Any]:
    try:
        return _load_once(server, target, extra, timeout)
    except Exception as exc:
        raise RuntimeError(
            f"{exc}\n--- {server.name} log ({server.log}), last lines:\n{server.tail(8)}"
        ) from exc


def _load_once(server: Server, target: str, extra: list[str], timeout: float) -> dict[str, Any]:
    return _python(
        "bench.load",
        "pipeline",
        "--target",
        target,
        "--base",
        server.base,
        "--server-pid",
        str(server.pid),
        *extra,
        timeout=timeout,
    )


def section_relay(plan: Plan, tmp: Path) -> dict[str, Any]:
    server = start_relay(tmp / "relay")
    try:
        return _load(server, "relay", plan.load_args())
    finally:
        server.stop()


def section_pipeline(plan: Plan, tmp: Path) -> dict[str, Any]:
    server, logins, password = start_daemon(
        tmp / "pipeline", operators=plan.operators, visitors=plan.visitors
    )
    try:
        extra = [*plan.load_args(), "--operators", ",".join(logins), f"--password={password}"]
        result = _load(server, "daemon", extra)
        result["rss_kib_after"] = rss_kib(server.pid)
        return result
    finally:
        server.stop()


def section_scaleout(plan: Plan, tmp: Path) -> dict[str, Any]:
    """Redis + PostgreSQL, a web process and 1 or 2 router workers, the same load as `pipeline`; then a router
    worker killed (bench/scaleout.py)."""
    splan = scaleout.ScalePlan(
        routers=plan.scaleout_routers,
        operators=plan.operators,
        visitors=plan.visitors,
        load_args=plan.load_args(),
        lease_s=plan.scaleout_lease,
    )
    return scaleout.measure(tmp / "scaleout", splan, _load)


def _idle(server: Server, target: str, steps: tuple[int, ...], settle: float) -> list[dict[str, Any]]:
    """Open idle connections step by step; after each step read the server's RSS."""
    argv = [
        sys.executable,
        "-m",
        "bench.load",
        "idle",
        "--target",
        target,
        "--base",
        server.base,
        "--steps",
        ",".join(map(str, steps)),
        "--settle",
        str(settle),
        "--wait-at-end",
    ]
    gen = subprocess.Popen(
        argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=raise_fd_limit
    )
    assert gen.stdin is not None and gen.stdout is not None
    out = []
    try:
        for _ in steps:
            line = gen.stdout.readline()
            if not line:
                raise RuntimeError(f"the idle generator ended early (exit {gen.wait()})")
            info = json.loads(line)
            time.sleep(min(0.5, settle))
            info["rss_kib"] = rss_kib(server.pid)
            out.append(info)
            progress(
                f"memory {target}: {info['open']:,} idle connections, server RSS {info['rss_kib'] / 1024:.1f} MiB"
            )
            gen.stdin.write("\n")
            gen.stdin.flush()
        gen.wait(120)
    finally:
        if gen.poll() is None:
            gen.kill()
            gen.wait()
    return out


def section_memory(plan: Plan, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for target in ("relay", "daemon"):
        if target == "relay":
            server = start_relay(tmp / "memory-relay")
        else:
            server, _, _ = start_daemon(
                tmp / "memory-daemon", operators=plan.operators, visitors=plan.visitors
            )
        try:
            time.sleep(min(0.5, plan.idle_settle))
            start = rss_kib(server.pid)
            steps = _idle(server, target, plan.idle_steps, plan.idle_settle)
        finally:
            server.stop()
        base = steps[0]
        out[target] = {
            "rss_idle_server_kib": start,
            "baseline": base,
            "steps": [
                {
                    "connections": s["open"],
                    "failed": s["failed"],
                    "rss_kib": s["rss_kib"],
                    "connect_s": s["seconds"],
                    "kib_per_connection": (s["rss_kib"] - base["rss_kib"]) / max(1, s["open"] - base["open"]),
                }
                for s in steps[1:]
            ],
        }
    return out


def section_profile(plan: Plan, tmp: Path, results_dir: Path) -> dict[str, Any]:
    prefix = results_dir / "profile"
    server, logins, password = start_daemon(
        tmp / "profile", operators=plan.operators, visitors=plan.visitors, profile=prefix
    )
    try:
        extra = [
            "--visitors",
            str(plan.visitors),
            "--rates",
            "",
            "--warm",
            str(plan.profile_warm),
            "--measure",
            str(plan.profile_measure),
            *plan.limits(),
            "--operators",
            ",".join(logins),
            f"--password={password}",  # "=": a generated password may start with "-"
            "--profile-signals",
        ]
        load = _load(server, "daemon", extra)
    finally:
        server.stop()
    data = dict(json.loads(prefix.with_suffix(".json").read_text()))
    data["load"] = [
        {k: p.get(k) for k in ("phase", "achieved_per_s", "server_cpu_pct", "server_main_thread_cpu_pct")}
        for p in load["phases"]
    ]
    return data


def section_crm(plan: Plan, tmp: Path) -> dict[str, Any]:
    return _python("bench.crm", "--n", str(plan.crm_n), "--lookups", str(plan.crm_lookups), timeout=900)


def section_search(plan: Plan, tmp: Path) -> dict[str, Any]:
    """Message search among many messages (bench/search.py; the SQLite database is cached in bench/.cache/)."""
    return _python(
        "bench.search",
        "--messages",
        str(plan.search_messages),
        "--leads",
        str(max(1, plan.search_messages // 10)),
        "--pg-messages",
        str(plan.search_pg_messages),
        "--searches",
        str(plan.searches),
        "--pg-searches",
        str(plan.pg_searches),
        timeout=7200,
    )


def section_duplicates(plan: Plan, tmp: Path) -> dict[str, Any]:
    """Duplicate control over a base of crm_n leads (bench/duplicates.py): CSV import, index, pages, merge."""
    pages, dialogs = ("20", "50") if plan.smoke else ("200", "1000")
    return _python(
        "bench.duplicates", "--n", str(plan.crm_n), "--pages", pages, "--merge-dialogs", dialogs, timeout=1800
    )


def section_deals(plan: Plan, tmp: Path) -> dict[str, Any]:
    """Deal lists and the board over crm_n deals on SQLite and PostgreSQL (bench/deals.py)."""
    repeats = "1" if plan.smoke else "5"
    n = str(plan.crm_n)
    return _python("bench.deals", "--n", n, "--pg-n", n, "--repeats", repeats, timeout=1800)


def section_routing(plan: Plan, tmp: Path) -> dict[str, Any]:
    extra = ["--repeats", str(plan.routing_repeats)] if plan.routing_repeats else []
    return _python("bench.routing", *extra, "--budget", str(plan.routing_budget), timeout=300)


RESULTS = REPO / "bench" / "results"


def _out_dir(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Path:
    """Where the results go: --out; for a smoke run a fresh temp dir by default, and never bench/results/
    (the committed results are a full run's)."""
    if not args.smoke:
        return Path(args.out or RESULTS)
    if not args.out:
        return Path(tempfile.mkdtemp(prefix="openlines-bench-smoke-"))
    out = Path(args.out)
    if out.resolve() == RESULTS.resolve():
        parser.error("--smoke never writes to bench/results/: give another --out")
    return out


def report_only(out_dir: Path) -> None:
    """Rebuild latest.md (and the derived parts of latest.json) from a run's latest.json, measuring nothing."""
    src = out_dir / "latest.json"
    results = dict(json.loads(src.read_text()))
    for derived in ("table", "figures", "targets"):
        results.pop(derived, None)
    paths = report.write(results, out_dir)
    progress(f"rebuilt from {src}: {', '.join(str(p) for p in paths)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes, shorter phases (also BENCH_QUICK=1)"
    )
    parser.add_argument("--only", default="", help=f"comma-separated sections of {','.join(SECTIONS)}")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the whole harness in a tiny configuration, in seconds (a test's check that it still works; "
        "results go to --out or a temp dir, never bench/results/)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: rebuild latest.md from the latest.json in --out",
    )
    parser.add_argument("--out", default="", help="results directory (default bench/results)")
    parser.add_argument(
        "--visitors", type=int, default=0, help=f"K simulated widget visitors (default {VISITORS})"
    )
    parser.add_argument("--crm-size", type=int, default=0, help="stored identities (default 1,000,000)")
    parser.add_argument(
        "--search-size",
        type=int,
        default=0,
        help="stored messages of the search section (default 10,000,000)",
    )
    parser.add_argument(
        "--search-pg-size",
        type=int,
        default=0,
        help="… on PostgreSQL (default 10,000,000; in --smoke 5,000)",
    )
    args = parser.parse_args()
    if args.report_only:
        report_only(Path(args.out or RESULTS))
        return
    plan = Plan.make(args.quick or quick(), args)
    only = [s for s in args.only.split(",") if s] or list(SECTIONS)
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    raise_fd_limit()
    out_dir = _out_dir(args, parser)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "machine": machine(),
        "date": today(),
        "commit": commit(),
        "quick": plan.quick,
        "smoke": plan.smoke,
        "loadavg_start": loadavg(),
        "plan": plan.__dict__,
        "sections": {},
        "seconds": {},
    }
    progress(
        f"{results['machine']['summary']}, commit {results['commit']}, "
        f"{'smoke' if plan.smoke else 'quick' if plan.quick else 'full'} run, results in {out_dir}"
    )
    started = time.monotonic()
    runners: dict[str, Callable[[], dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="openlines-bench-") as tmp_name:
        tmp = Path(tmp_name)
        runners = {
            "relay": lambda: section_relay(plan, tmp),
            "pipeline": lambda: section_pipeline(plan, tmp),
            "scaleout": lambda: section_scaleout(plan, tmp),
            "memory": lambda: section_memory(plan, tmp),
            "profile": lambda: section_profile(plan, tmp, out_dir),
            "crm": lambda: section_crm(plan, tmp),
            "routing": lambda: section_routing(plan, tmp),
            "search": lambda: section_search(plan, tmp),
            "widget": section_widget,
            "duplicates": lambda: section_duplicates(plan, tmp),
            "deals": lambda: section_deals(plan, tmp),
        }
        for name in SECTIONS:
            if name not in only:
                continue
            progress(f"== {name}")
            t = time.monotonic()
            try:
                results["sections"][name] = runners[name]()
            except Exception as exc:  # reported, never fatal: the other figures still count
                progress(f"{name} failed: {type(exc).__name__}: {exc}")
                results["sections"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            results["seconds"][name] = round(time.monotonic() - t, 1)
    results["seconds"]["total"] = round(time.monotonic() - started, 1)
    results["loadavg_end"] = loadavg()
    paths = report.write(results, out_dir)
    progress(f"done in {results['seconds']['total']:.0f}s: {', '.join(str(p) for p in paths)}")
    broken = [name for name, sec in results["sections"].items() if "error" in sec]
    if plan.smoke and broken:  # a smoke run is a check that the harness works: a broken section fails it
        progress(f"smoke run: not measured: {', '.join(broken)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
