"""The issue's targets against this run, (e)–(g): the scale-out on Redis + PostgreSQL, everything on this
machine (throughput against the bare relay, latency at the offered rate, the failover)."""

from __future__ import annotations

from typing import Any

from bench.report_checks import TARGET_RATE, Verdicts, check, offered
from bench.report_format import DIRECTIONS
from bench.report_format import div as _div
from bench.report_format import number as _n
from bench.report_format import phase as _phase
from bench.report_limits import queueing, scaleout_share


def scaleout_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """(e)–(g), each with its limiting factor: the cores the processes share, the hops, the lease."""
    s = results["sections"]
    relay = s.get("relay", {})
    rate, at = offered(results)
    verdicts = Verdicts()
    add = verdicts.add
    # (e)–(g) scale-out on Redis + PostgreSQL, everything on this machine
    so = s.get("scaleout", {})
    runs = {int(n): r for n, r in so.get("runs", {}).items()}
    one, two = runs.get(1, {}), runs.get(2, {})
    cores = results["machine"]["nproc"]
    share = scaleout_share(one, cores)
    for d, label in DIRECTIONS.items():
        mine, ref = _phase(one, f"{d}@saturation"), _phase(relay, f"{d}@saturation")
        v = mine["achieved_per_s"] if mine else None
        r = ref["achieved_per_s"] if ref else None
        ratio = _div(v, r)
        two_sat = _phase(two, f"{d}@saturation")
        two_ratio = _div(two_sat["achieved_per_s"] if two_sat else None, r)
        low = _phase(so.get("floor") or {}, f"{d}@saturation")
        low_ratio = _div(low["achieved_per_s"] if low else None, r)
        add(
            f"scaleout.throughput.{d}",
            f"(e) Redis + PostgreSQL, all on this machine (web + 1 router worker): saturated throughput {label} "
            "≥ 0.25× the bare relay (same run)",
            (
                f"{ratio:.2f}× ({_n(v)} vs {_n(r)} msg/s)"
                + (f"; with 2 router workers {two_ratio:.2f}×" if two_ratio is not None else "")
                + (f"; the floor (bench/floor.py) {low_ratio:.2f}×" if low_ratio is not None else "")
                if ratio is not None
                else "not measured"
            ),
            [check("", ratio, "≥", 0.25, "×")],
            "CPU: the web process, the router worker, PostgreSQL (a durable commit per batch), Redis and the "
            f"generator share {cores} cores"
            + (f"; {share}" if share else "")
            + (
                f"; the floor, which only moves and COPYs the messages on the same servers, reaches "
                f"{low_ratio:.2f}× itself"
                if low_ratio is not None
                else ""
            ),
        )
    p = _phase(one, f"forward@{rate:g}")
    pb = _phase(one, f"back@{rate:g}")
    lat = [
        f"{DIRECTIONS[d]} {_n(x['p99_ms'])} ms"
        for d, x in (("forward", p), ("back", pb))
        if x and x.get("p99_ms") is not None
    ]
    lagging = [
        f"{DIRECTIONS[d]} falls behind ({_n(x['achieved_per_s'])}/s achieved)"
        for d, x in (("forward", p), ("back", pb))
        if x and (x["achieved_per_s"] < 0.95 * rate or x["lost"])
    ]
    add(
        "scaleout.latency@1000",
        f"(f) Redis + PostgreSQL (web + 1 router worker): p99 ≤ 20 ms at {TARGET_RATE:,.0f} msg/s offered, "
        "each direction",
        ("p99 " + ", ".join(lat) + at + ("; " + "; ".join(lagging) if lagging else ""))
        if lat
        else "not measured",
        [
            check("visitor → operator p99", p.get("p99_ms") if p else None, "≤", 20.0, " ms"),
            check("operator → visitor p99", pb.get("p99_ms") if pb else None, "≤", 20.0, " ms"),
        ],
        "each message crosses web → Redis → router worker → PostgreSQL commit (fsync) → Redis → web, on "
        f"{cores} shared cores" + queueing(one, rate),
    )
    fo = so.get("failover") or {}
    lease = fo.get("lease_s", so.get("lease_s", 5.0))
    add(
        "scaleout.failover",
        f"(g) A dead router worker's partitions are taken over within 2 × the lease time (lease {lease:g} s: "
        f"≤ {2 * lease:g} s)",
        f"{_n(fo['all_partitions_s'])} s from the SIGKILL until the survivor owned all {fo['partitions']} "
        f"partitions (first after {_n(fo['first_gain_s'])} s; idle)"
        if fo
        else "not measured",
        [check("", fo.get("all_partitions_s"), "≤", 2 * lease, " s")],
        "lease expiry (lease_time) plus the survivor's renewal tick (every lease_time / 3), then reloading the "
        "partitions' open dialogs from PostgreSQL",
    )
    return verdicts.rows
