"""The facts the targets' limiting factors quote: the profile's shares of the event loop's busy time, the
daemon's CPU by thread, where a scale-out run queued and where its cores went."""

from __future__ import annotations

from typing import Any

from bench.report_format import DIRECTIONS
from bench.report_format import number as _n
from bench.report_format import phase as _phase


def hot_facts(results: dict[str, Any]) -> dict[str, Any]:
    """The profile's facts the limiting factors quote (empty when not profiled)."""
    prof = results["sections"].get("profile", {})
    if not prof or "error" in prof:
        return {}
    pkgs = {r["name"]: r["pct_busy"] for r in prof.get("self_by_package", [])}
    funcs = {r["name"].split(" (")[0]: r["pct_busy"] for r in prof.get("self_by_function", [])}
    ours = {r["name"].split(" (")[0]: r["pct_busy"] for r in prof.get("ours_inclusive", [])}
    return {"pkg": pkgs, "func": funcs, "ours": ours}


def pct(d: dict[str, Any], group: str, name: str) -> str:
    """A share from `hot_facts` (group `pkg`, `func` or `ours`), ?% when the profile does not have it."""
    v = d.get(group, {}).get(name)
    return f"{v}%" if v is not None else "?%"


def daemon_cpu(p: dict[str, Any] | None) -> str:
    """The daemon's CPU in a phase, all threads and the event loop's; empty when not measured."""
    if not p or p.get("server_cpu_pct") is None:
        return ""
    total, main = p["server_cpu_pct"], p["server_main_thread_cpu_pct"]
    return f"{total:.0f}% of a core (event loop {main:.0f}%, SQLite threads {total - main:.0f}%)"


def queueing(run: dict[str, Any], rate: float) -> str:
    """Where a layout's saturated throughput is close to (or below) an offered rate, messages queue at that rate."""
    out = ""
    for d, label in DIRECTIONS.items():
        sat = (_phase(run, f"{d}@saturation") or {}).get("achieved_per_s")
        if sat is not None and sat < 1.5 * rate:
            out += (
                f"; {label} saturates at {_n(sat)} msg/s, "
                + ("below" if sat < rate else "close to")
                + f" the offered {rate:,.0f}: messages queue"
            )
    return out


def scaleout_share(run: dict[str, Any], nproc: int) -> str:
    """Where the cores went in a scale-out run's busiest seconds (as long as its saturated phases), per process,
    from the runner's sampling; whether the machine was CPU-bound then."""
    procs = run.get("processes", {})
    hot = {k: v["cpu_pct_busiest"] for k, v in procs.items() if v.get("cpu_pct_busiest") is not None}
    machine = run.get("machine_busiest_pct")
    if not hot or machine is None:
        return ""
    bound = "CPU-bound" if machine >= 85 * nproc else "not CPU-bound"
    return (
        f"in the load run's busiest {_n(run.get('busiest_s'))} s (its saturated phases) the machine was "
        f"{machine:.0f}% busy of {100 * nproc}% ({bound}); % of a core: "
        + ", ".join(f"{k} {v:.0f}%" for k, v in sorted(hot.items(), key=lambda kv: -kv[1]))
    )
