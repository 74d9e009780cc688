"""The README table's scale-out rows: Redis + PostgreSQL, a web process and N router workers, against the same
bare relay; the floor (bench/floor.py); two workers against one; the failover."""

from __future__ import annotations

from typing import Any

from bench.report_format import DIRECTIONS
from bench.report_format import div as _div
from bench.report_format import latency as _lat
from bench.report_format import number as _n
from bench.report_format import phase as _phase
from bench.report_format import ratio as _ratio
from bench.report_rows import Rows, cap_note


def _busy(run: dict[str, Any], results: dict[str, Any]) -> str:
    """How busy the machine was in a scale-out run's busiest seconds (its saturated phases)."""
    pct = run.get("machine_busiest_pct")
    return f"; machine {pct:.0f}% busy of {100 * results['machine']['nproc']}% at saturation" if pct else ""


def _workers(n: int) -> str:
    return f"{n} router worker{'s' if n != 1 else ''}"


def scaleout_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Throughput and latency of each layout against the relay and the floor, the workers' scaling, the failover."""
    s = results["sections"]
    relay = s.get("relay", {})
    k = results["plan"]["visitors"]
    table = Rows()
    add = table.add
    # 2b. scale-out: Redis + PostgreSQL, a web process and N router workers, against the same relay
    so = s.get("scaleout", {})
    runs = {int(n): r for n, r in so.get("runs", {}).items()}
    for n in sorted(runs):
        run = runs[n]
        for d, label in DIRECTIONS.items():
            mine, ref = _phase(run, f"{d}@saturation"), _phase(relay, f"{d}@saturation")
            v = mine["achieved_per_s"] if mine else None
            r = ref["achieved_per_s"] if ref else None
            add(
                f"Redis + PostgreSQL: routed throughput {label}, saturated, web + {_workers(n)}, "
                f"{run.get('visitors', k)} visitors",
                f"{_n(v)} msg/s{cap_note(results, mine, v)}",
                f"{_n(r)} msg/s (bare aiohttp relay)",
                _ratio(v, r),
                key=f"scaleout.throughput.{d}@{n}",
                unit="msg/s",
                num=v,
                ref=r,
                num_ratio=_div(v, r),
                routers=n,
            )
    floor = so.get("floor") or {}
    for d, label in DIRECTIONS.items():
        mine, ref = _phase(floor, f"{d}@saturation"), _phase(relay, f"{d}@saturation")
        if mine is None:
            continue
        v, r = mine["achieved_per_s"], (ref["achieved_per_s"] if ref else None)
        add(
            f"Redis + PostgreSQL floor (bench/floor.py: stream in, COPY, stream out, nothing routed): "
            f"throughput {label}, saturated, {floor.get('visitors', k)} visitors",
            f"{_n(v)} msg/s",
            f"{_n(r)} msg/s (bare aiohttp relay)",
            _ratio(v, r),
            key=f"scaleout.floor.{d}",
            unit="msg/s",
            num=v,
            ref=r,
            num_ratio=_div(v, r),
        )
        ours = _phase(runs.get(1) or {}, f"{d}@saturation")
        if ours is not None:
            o = ours["achieved_per_s"]
            add(
                f"Redis + PostgreSQL: web + 1 router worker against the floor, throughput {label}, saturated",
                f"{_n(o)} msg/s",
                f"{_n(v)} msg/s (bench/floor.py)",
                _ratio(o, v),
                key=f"scaleout.vs_floor.{d}",
                unit="msg/s",
                num=o,
                ref=v,
                num_ratio=_div(o, v),
            )
    one: dict[str, Any] = runs.get(1) or {}
    for d, label in DIRECTIONS.items():
        for rate in [float(x) for x in str(results["plan"]["rates"]).split(",") if x]:
            mine, ref = _phase(one, f"{d}@{rate:g}"), _phase(relay, f"{d}@{rate:g}")
            if mine is None:
                continue
            value = _lat(mine)
            achieved = mine["achieved_per_s"]
            behind = achieved < 0.95 * rate or mine["lost"]
            value += f" (achieved {_n(achieved)}/s{'; falls behind' if behind else ''})"
            ratio = "n/a"
            if ref and mine.get("p50_ms") is not None and ref.get("p50_ms") is not None:
                ratio = f"{_ratio(mine['p50_ms'], ref['p50_ms'])} / {_ratio(mine['p99_ms'], ref['p99_ms'])}"
            r_ = ref or {}
            add(
                f"Redis + PostgreSQL: latency {label} at {rate:,.0f} msg/s offered, web + 1 router worker, "
                "p50 / p99 / max",
                value,
                _lat(ref),
                ratio,
                key=f"scaleout.latency.{d}@{rate:g}",
                unit="ms",
                num=mine.get("p50_ms"),
                ref=r_.get("p50_ms"),
                num_ratio=_div(mine.get("p50_ms"), r_.get("p50_ms")),
                p99_ms=mine.get("p99_ms"),
                max_ms=mine.get("max_ms"),
                reference_p99_ms=r_.get("p99_ms"),
                p99_ratio=_div(mine.get("p99_ms"), r_.get("p99_ms")),
                achieved_per_s=achieved,
                lost=mine.get("lost"),
            )
    if 1 in runs and 2 in runs:
        best = {
            (n, d): (_phase(runs[n], f"{d}@saturation") or {}).get("achieved_per_s")
            for n in (1, 2)
            for d in DIRECTIONS
        }
        f2, f1, b2, b1 = best[2, "forward"], best[1, "forward"], best[2, "back"], best[1, "back"]
        add(
            "Redis + PostgreSQL: two router workers against one, saturated throughput "
            f"{DIRECTIONS['forward']} / {DIRECTIONS['back']} ({results['machine']['nproc']} cores shared with "
            "Redis, PostgreSQL, the web process and the generator)",
            f"{_n(f2)} / {_n(b2)} msg/s (2 workers{_busy(runs[2], results)})",
            f"{_n(f1)} / {_n(b1)} msg/s (1 worker{_busy(runs[1], results)})",
            f"{_ratio(f2, f1)} / {_ratio(b2, b1)}",
            key="scaleout.routers2_vs_1",
            unit="msg/s",
            num=f2,
            ref=f1,
            num_ratio=_div(f2, f1),
            back_value=b2,
            back_reference=b1,
            back_ratio=_div(b2, b1),
        )
    fo = so.get("failover")
    if fo:
        lease, bound = fo["lease_s"], 2 * fo["lease_s"]
        add(
            f"Failover: a SIGKILLed router worker's partitions all owned by the survivor "
            f"(2 workers, {fo['partitions']} partitions, idle, lease {lease:g} s)",
            f"{_n(fo['all_partitions_s'])} s after the kill (first partitions after {_n(fo['first_gain_s'])} s)",
            f"≤ {bound:g} s (2 × lease_time)",
            _ratio(fo["all_partitions_s"], bound),
            key="scaleout.failover",
            unit="s",
            num=fo["all_partitions_s"],
            ref=bound,
            num_ratio=_div(fo["all_partitions_s"], bound),
            first_gain_s=fo["first_gain_s"],
            lease_s=lease,
        )
    return table.rows
