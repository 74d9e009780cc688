"""The report's Hot spots: the profiled daemon's event-loop time by package and function (self time) and our
code's inclusive time, with a few facts read off them."""

from __future__ import annotations

from typing import Any

from bench.report_format import DIRECTIONS
from bench.report_format import number as _n
from bench.report_format import phase as _phase


def hot_spots(results: dict[str, Any]) -> str:
    """The Hot spots section: the profiled run's shares of the event loop's busy time, and what they say."""
    prof = results["sections"].get("profile", {})
    if not prof or "error" in prof:
        return "Not profiled in this run" + (f": {prof['error']}" if prof else ".")
    load = ", ".join(
        f"{p['phase'].replace('@saturation', '')} {_n(p['achieved_per_s'])} msg/s"
        for p in prof.get("load", [])
    )
    busy, total = prof["busy_seconds"], prof["sampled_seconds"]
    lines = [
        f"pyinstrument, 1 ms sampling of the daemon's main thread (event loop) while the load generator ran its saturated phases: "
        f"{_n(busy)} s busy of {_n(total)} s sampled (the rest waiting in epoll), under saturated load "
        f"({load}; throughput under the profiler). Shares are of the busy time. The SQLite threads (the store's batch "
        "writer, aiosqlite's for reads) are not sampled; their CPU is the gap between the daemon's total and main-thread CPU in the details below. "
        "Full call tree: `bench/results/profile.txt` (and `profile.html`, not committed).",
        "",
        "| package (self time) | share | | function (self time) | share |",
        "|---|---|---|---|---|",
    ]
    pk, fn = prof["self_by_package"][:10], prof["self_by_function"][:10]
    for i in range(max(len(pk), len(fn))):
        a = pk[i] if i < len(pk) else None
        b = fn[i] if i < len(fn) else None
        lines.append(
            f"| {a['name'] if a else ''} | {str(a['pct_busy']) + '%' if a else ''} | "
            f"| `{b['name'] if b else ''}` | {str(b['pct_busy']) + '%' if b else ''} |"
        )
    lines += ["", "Our code, inclusive time (with what it calls):", "", "| function | share |", "|---|---|"]
    for r in prof["ours_inclusive"][:12]:
        lines.append(f"| `{r['name']}` | {r['pct_busy']}% |")
    lines += ["", *_readings(results, prof)]
    return "\n".join(lines)


def _readings(results: dict[str, Any], prof: dict[str, Any]) -> list[str]:
    """A few facts read off the numbers (not opinions): where the CPU went at saturation."""
    out = []
    pipe = results["sections"].get("pipeline", {})
    for d, label in DIRECTIONS.items():
        p = _phase(pipe, f"{d}@saturation")
        if p and p.get("server_cpu_pct") is not None:
            total, main = p["server_cpu_pct"], p["server_main_thread_cpu_pct"]
            out.append(
                f"- Saturated {label} (unprofiled run): the daemon used {total:.0f}% of a core, its event loop "
                f"thread {main:.0f}% and its other threads (SQLite) {total - main:.0f}%."
            )
    pkgs = {r["name"]: r["pct_busy"] for r in prof.get("self_by_package", [])}
    funcs = prof.get("self_by_function", [])
    parts = [f"{name} {pkgs[name]}%" for name in ("sqlalchemy", "stdlib:asyncio", "aiohttp") if name in pkgs]
    if parts:
        out.append(f"- Event-loop busy time in libraries (self time): {', '.join(parts)}.")
    ours = {r["name"].split(" (")[0]: r["pct_busy"] for r in prof.get("ours_inclusive", [])}
    picks = [
        f"`{k}` {v}%"
        for k, v in ours.items()
        if k in ("Plans.statements", "new_id", "dumps", "BatchWork.prefetch")
    ]
    if picks:
        out.append(f"- Inclusive: {', '.join(picks)}.")
    sends = [r for r in funcs if r["name"].startswith("socket.send")]
    if sends:
        out.append(f"- `socket.send` (one syscall per websocket frame): {sends[0]['pct_busy']}% self time.")
    return out
