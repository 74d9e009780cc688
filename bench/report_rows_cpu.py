"""The table's rows of CPU per routed message, in µs, per process: what a message costs, independent of how fast
the machine is (the ratios to the relay measured in the same run are the result; these say where the cost sits)."""

from __future__ import annotations

from typing import Any

from bench.report_format import DIRECTIONS
from bench.report_format import div as _div
from bench.report_format import number as _n
from bench.report_format import phase as _phase
from bench.report_format import ratio as _ratio
from bench.report_rows import Rows

PHASES = (("1000", "at 1,000 msg/s offered"), ("saturation", "saturated"))
ORDER = ("web", "router-1", "router-2", "redis", "postgresql")


def _us(p: dict[str, Any] | None) -> float | None:
    return None if p is None else p.get("server_cpu_us_per_msg")


def cpu_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Embedded daemon against the relay, each direction and phase; the scale-out layout process by process."""
    s = results["sections"]
    relay, pipe = s.get("relay", {}), s.get("pipeline", {})
    table = Rows()
    add = table.add
    for when, label in PHASES:
        for d, dlabel in DIRECTIONS.items():
            mine, ref = _phase(pipe, f"{d}@{when}"), _phase(relay, f"{d}@{when}")
            v, r = _us(mine), _us(ref)
            if v is None:
                continue
            main = mine.get("server_main_thread_cpu_us_per_msg") if mine else None
            add(
                f"CPU per routed message {dlabel}, {label} (embedded daemon, all threads; event loop)",
                f"{_n(v)} µs ({_n(main)} µs on the event loop)",
                f"{_n(r)} µs (bare aiohttp relay)" if r is not None else "n/a",
                _ratio(v, r),
                key=f"cpu.{d}@{when}",
                unit="µs per message",
                num=v,
                ref=r,
                num_ratio=_div(v, r),
                **({"main_thread_us": main} if main is not None else {}),
            )
    runs = {int(n): r for n, r in s.get("scaleout", {}).get("runs", {}).items()}
    one = runs.get(1) or {}
    for when, label in PHASES:
        for d, dlabel in DIRECTIONS.items():
            mine, ref = _phase(one, f"{d}@{when}"), _phase(relay, f"{d}@{when}")
            if mine is None or _us(mine) is None:
                continue
            per = {"web": _us(mine), **(mine.get("processes_cpu_us_per_msg") or {})}
            names = [n for n in ORDER if n in per] + sorted(set(per) - set(ORDER))
            total = sum(v for v in per.values() if v is not None)
            r = _us(ref)
            add(
                f"Redis + PostgreSQL: CPU per routed message {dlabel}, {label}, web + 1 router worker: "
                + " / ".join(names),
                " / ".join(f"{_n(per[n])}" for n in names) + f" µs (sum {_n(total)} µs)",
                f"{_n(r)} µs (bare aiohttp relay)" if r is not None else "n/a",
                _ratio(total, r),
                key=f"scaleout.cpu.{d}@{when}",
                unit="µs per message",
                num=total,
                ref=r,
                num_ratio=_div(total, r),
                **{f"{name.replace('-', '_')}_us": v for name, v in per.items() if v is not None},
            )
    return table.rows
