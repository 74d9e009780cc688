"""The README table's rows for `openlines run` against the bare relay: saturated throughput, latency at the
offered rates, server memory per idle widget connection."""

from __future__ import annotations

from typing import Any

from bench.report_format import DIRECTIONS
from bench.report_format import div as _div
from bench.report_format import latency as _lat
from bench.report_format import number as _n
from bench.report_format import phase as _phase
from bench.report_format import ratio as _ratio
from bench.report_rows import Rows, cap_note


def pipeline_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Saturated throughput and latency at each offered rate, both directions (the table's first rows)."""
    s = results["sections"]
    relay, pipe = s.get("relay", {}), s.get("pipeline", {})
    k = results["plan"]["visitors"]
    table = Rows()
    add = table.add
    # 1. saturated routed throughput
    for d, label in DIRECTIONS.items():
        mine, ref = _phase(pipe, f"{d}@saturation"), _phase(relay, f"{d}@saturation")
        if mine is None and ref is None:
            continue
        v = mine["achieved_per_s"] if mine else None
        r = ref["achieved_per_s"] if ref else None
        add(
            f"Routed throughput {label}, saturated, {k} visitors",
            f"{_n(v)} msg/s{cap_note(results, mine, v)}",
            f"{_n(r)} msg/s (bare aiohttp relay)",
            _ratio(v, r),
            key=f"throughput.{d}",
            unit="msg/s",
            num=v,
            ref=r,
            num_ratio=_div(v, r),
        )
    # 2. latency at fixed offered rates
    for d, label in DIRECTIONS.items():
        for rate in [float(x) for x in str(results["plan"]["rates"]).split(",") if x]:
            mine, ref = _phase(pipe, f"{d}@{rate:g}"), _phase(relay, f"{d}@{rate:g}")
            if mine is None and ref is None:
                continue
            value = _lat(mine)
            if mine is not None:
                achieved = mine["achieved_per_s"]
                behind = achieved < 0.95 * rate or mine["lost"]
                value += f" (achieved {_n(achieved)}/s{'; falls behind' if behind else ''})"
            ratio = "n/a"
            if mine and ref and mine.get("p50_ms") is not None and ref.get("p50_ms") is not None:
                ratio = f"{_ratio(mine['p50_ms'], ref['p50_ms'])} / {_ratio(mine['p99_ms'], ref['p99_ms'])}"
            m, r = mine or {}, ref or {}
            add(
                f"Latency {label} at {rate:,.0f} msg/s offered, p50 / p99 / max",
                value,
                _lat(ref),
                ratio,
                key=f"latency.{d}@{rate:g}",
                unit="ms",
                num=m.get("p50_ms"),
                ref=r.get("p50_ms"),
                num_ratio=_div(m.get("p50_ms"), r.get("p50_ms")),
                p99_ms=m.get("p99_ms"),
                max_ms=m.get("max_ms"),
                reference_p99_ms=r.get("p99_ms"),
                p99_ratio=_div(m.get("p99_ms"), r.get("p99_ms")),
                achieved_per_s=m.get("achieved_per_s"),
                lost=m.get("lost"),
            )
    return table.rows


def memory_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Server RSS per idle widget connection at each step, against the bare relay's at the same step."""
    s = results["sections"]
    table = Rows()
    add = table.add
    # 3. memory per idle connection
    mem = s.get("memory", {})
    for i, step in enumerate(mem.get("daemon", {}).get("steps", [])):
        ref_steps = mem.get("relay", {}).get("steps", [])
        ref = ref_steps[i] if i < len(ref_steps) else None
        n = step["connections"]
        ref_kib = ref["kib_per_connection"] if ref else None
        add(
            f"Server RSS per idle widget connection, {n:,} connections",
            f"{_n(step['kib_per_connection'])} KiB (+{step['rss_kib'] / 1024 - mem['daemon']['baseline']['rss_kib'] / 1024:,.0f} MiB)",
            f"{_n(ref['kib_per_connection'])} KiB (bare aiohttp, {ref['connections']:,})" if ref else "n/a",
            _ratio(step["kib_per_connection"], ref_kib),
            key=f"memory@{n}",
            unit="KiB per connection",
            num=step["kib_per_connection"],
            ref=ref_kib,
            num_ratio=_div(step["kib_per_connection"], ref_kib),
            connections=n,
        )
    return table.rows
