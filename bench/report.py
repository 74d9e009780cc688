"""Turn the run's results into bench/results/latest.md (a table to paste into the README, the hot spots and the
details) and bench/results/latest.json (everything, plus the table's rows)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DIRECTIONS = {"forward": "visitor → operator", "back": "operator → visitor"}


def _n(x: float | None, unit: str = "") -> str:
    """A number with sensible precision: 0.012, 0.56, 5.9, 44, 1,234."""
    if x is None:
        return "n/a"
    a = abs(x)
    if a >= 100:
        s = f"{x:,.0f}"
    elif a >= 10:
        s = f"{x:.1f}".removesuffix(".0")
    elif a >= 0.1:
        s = f"{x:.2f}"
    else:
        s = f"{x:.3f}"
    return f"{s}{unit}"


def _ratio(value: float | None, ref: float | None) -> str:
    if value is None or ref is None or ref == 0:
        return "n/a"
    r = value / ref
    return f"{r:.2f}×" if r < 10 else f"{r:,.0f}×"


def _phase(section: dict[str, Any], name: str) -> dict[str, Any] | None:
    for p in section.get("phases", []):
        if p["phase"] == name:
            return dict(p)
    return None


def _lat(p: dict[str, Any] | None) -> str:
    if p is None or p.get("p50_ms") is None:
        return "n/a"
    return f"{_n(p['p50_ms'])} / {_n(p['p99_ms'])} / {_n(p['max_ms'])} ms"


def rows(results: dict[str, Any]) -> list[dict[str, str]]:
    """The table: figure, value, reference, ratio (machine, date and commit are added by the writers)."""
    s = results["sections"]
    relay, pipe = s.get("relay", {}), s.get("pipeline", {})
    out: list[dict[str, str]] = []
    k = results["plan"]["visitors"]

    def add(figure: str, value: str, reference: str, ratio: str) -> None:
        out.append({"figure": figure, "value": value, "reference": reference, "ratio": ratio})

    # 1. saturated routed throughput
    for d, label in DIRECTIONS.items():
        mine, ref = _phase(pipe, f"{d}@saturation"), _phase(relay, f"{d}@saturation")
        if mine is None and ref is None:
            continue
        v = mine["achieved_per_s"] if mine else None
        r = ref["achieved_per_s"] if ref else None
        note = ""
        if mine and mine.get("offered_cap_per_s") and v is not None and v >= 0.95 * mine["offered_cap_per_s"]:
            note = " (at the generator's cap: 18 frames/s per widget connection)"
        add(
            f"Routed throughput {label}, saturated, {k} visitors",
            f"{_n(v)} msg/s{note}",
            f"{_n(r)} msg/s (bare aiohttp relay)",
            _ratio(v, r),
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
            add(f"Latency {label} at {rate:,.0f} msg/s offered, p50 / p99 / max", value, _lat(ref), ratio)
    # 3. memory per idle connection
    mem = s.get("memory", {})
    for i, step in enumerate(mem.get("daemon", {}).get("steps", [])):
        ref_steps = mem.get("relay", {}).get("steps", [])
        ref = ref_steps[i] if i < len(ref_steps) else None
        n = step["connections"]
        add(
            f"Server RSS per idle widget connection, {n:,} connections",
            f"{_n(step['kib_per_connection'])} KiB (+{step['rss_kib'] / 1024 - mem['daemon']['baseline']['rss_kib'] / 1024:,.0f} MiB)",
            f"{_n(ref['kib_per_connection'])} KiB (bare aiohttp, {ref['connections']:,})" if ref else "n/a",
            _ratio(step["kib_per_connection"], ref["kib_per_connection"] if ref else None),
        )
    # 4. CRM recognition
    crm = s.get("crm", {})
    if "store" in crm:
        st, raw = crm["store"], crm["sqlite3"]
        add(
            f"CRM bulk import (Store.import_contacts), {crm['n']:,} contacts (lead + identity)",
            f"{_n(st['import_s'])} s ({_n(st['import_rows_per_s'])} contacts/s)",
            f"{_n(raw['import']['import_rows_per_s'])} contacts/s (plain sqlite3 executemany, {raw['import']['rows']:,})",
            _ratio(st["import_rows_per_s"], raw["import"]["import_rows_per_s"]),
        )
        for key, label in (
            ("by_identity", "channel identity (find_identities)"),
            ("by_phone", "phone (find_leads_by_contact)"),
            ("by_email", "e-mail (find_leads_by_contact)"),
        ):
            add(
                f"Recognise a returning customer by {label} among {crm['n']:,}, p50 / p99",
                f"{_n(st[key]['p50_ms'])} / {_n(st[key]['p99_ms'])} ms (SQLite)",
                f"{_n(raw[key]['p50_ms'])} / {_n(raw[key]['p99_ms'])} ms (plain sqlite3, same file)",
                _ratio(st[key]["p50_ms"], raw[key]["p50_ms"]),
            )
    # 5. routing decisions, against the time one routed message takes at saturation
    routing = s.get("routing", {})
    sat = _phase(pipe, "forward@saturation")
    budget = 1e6 / sat["achieved_per_s"] if sat and sat.get("achieved_per_s") else None
    ref_text = f"{_n(budget)} µs per routed message (1 / saturated throughput)" if budget else "n/a"

    def share(us: float) -> str:
        return f"{100 * us / budget:.1f}%" if budget else "n/a"

    for row in routing.get("choose_operator", []):
        add(
            f"choose_operator per call, {row['operators']:,} operators: even / sequential / all; even via RoutingState",
            f"{_n(row['even'])} / {_n(row['sequential'])} / {_n(row['all'])} µs; {_n(row['even_engine_view'])} µs",
            ref_text,
            f"{share(row['even'])}; {share(row['even_engine_view'])}",
        )
    hours = routing.get("hours", {})
    if hours:
        is_open_us = max(v for k_, v in hours.items() if k_.startswith("is_open"))
        next_open_us = max(v for k_, v in hours.items() if k_.startswith("next_open"))
        add(
            "is_open / next_open per call (office hours with holidays; worst case of the cases)",
            f"{_n(is_open_us)} / {_n(next_open_us)} µs",
            ref_text,
            f"{share(is_open_us)} / {share(next_open_us)}",
        )
    for name, sec in s.items():
        if "error" in sec:
            add(f"{name}: not measured", sec["error"][:200], "", "")
    return out


def table(results: dict[str, Any], table_rows: list[dict[str, str]]) -> str:
    m, date, sha = results["machine"]["summary"], results["date"], results["commit"]
    lines = [
        "| figure | value | reference | ratio | machine | date | commit |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table_rows:
        cells = [r["figure"], r["value"], r["reference"], r["ratio"], m, date, sha]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def hot_spots(results: dict[str, Any]) -> str:
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
        f"({load}; throughput under the profiler). Shares are of the busy time. The aiosqlite worker thread is not "
        "sampled; its CPU is the gap between the daemon's total and main-thread CPU in the details below. "
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
                f"thread {main:.0f}% and its other threads (aiosqlite) {total - main:.0f}%."
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
        if k in ("_apply_sync", "new_id", "dumps", "BatchWork.prefetch")
    ]
    if picks:
        out.append(f"- Inclusive: {', '.join(picks)}.")
    sends = [r for r in funcs if r["name"].startswith("socket.send")]
    if sends:
        out.append(f"- `socket.send` (one syscall per websocket frame): {sends[0]['pct_busy']}% self time.")
    return out


def details(results: dict[str, Any]) -> str:
    s = results["sections"]
    lines = [
        "| server | phase | offered msg/s | delivered msg/s | sent | lost | p50 ms | p99 ms | max ms | "
        "server CPU % (main thread) | generator CPU % | other processes CPU % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("relay", "pipeline"):
        for p in s.get(name, {}).get("phases", []):
            offered = p.get("offered_per_s") or (
                f"closed loop ≤{p['max_inflight']} in flight"
                + (f", ≤{_n(p['offered_cap_per_s'])}/s" if p.get("offered_cap_per_s") else "")
            )
            lines.append(
                f"| {'bare relay' if name == 'relay' else 'openlines'} | {p['phase']} | {offered if isinstance(offered, str) else _n(offered)} "
                f"| {_n(p['achieved_per_s'])} | {p['sent']:,} | {p['lost']:,} | {_n(p.get('p50_ms'))} | "
                f"{_n(p.get('p99_ms'))} | {_n(p.get('max_ms'))} | {_n(p.get('server_cpu_pct'))} "
                f"({_n(p.get('server_main_thread_cpu_pct'))}) | {_n(p.get('generator_cpu_pct'))} | "
                f"{_n(p.get('others_cpu_pct'))} |"
            )
    mem = s.get("memory", {})
    if "daemon" in mem:
        lines += [
            "",
            "| server | idle connections | RSS MiB | KiB per connection | connect time s |",
            "|---|---|---|---|---|",
        ]
        for name in ("relay", "daemon"):
            m = mem.get(name, {})
            base = m.get("baseline")
            if base:
                lines.append(f"| {name} | {base['open']:,} (baseline) | {base['rss_kib'] / 1024:.1f} | | |")
            for st in m.get("steps", []):
                lines.append(
                    f"| {name} | {st['connections']:,} | {st['rss_kib'] / 1024:.1f} | "
                    f"{_n(st['kib_per_connection'])} | {_n(st['connect_s'])} |"
                )
    crm = s.get("crm", {})
    if "store" in crm:
        lines += [
            "",
            f"CRM database after the import: {crm['db_mib']} MiB (SQLite, WAL), {crm['lookups']:,} lookups of each kind.",
        ]
    routing = s.get("routing", {})
    if routing.get("hours"):
        lines += ["", "| hours function | µs per call |", "|---|---|"]
        lines += [f"| {k} | {_n(v)} |" for k, v in routing["hours"].items()]
    errors = {k: v for k, v in s.get("pipeline", {}).get("errors", {}).items()}
    if errors:
        lines += ["", f"Error frames the daemon sent during the load: {errors}"]
    seconds = results.get("seconds", {})
    lines += ["", "Section times (s): " + ", ".join(f"{k} {v}" for k, v in seconds.items())]
    return "\n".join(lines)


NOTES = """\
How it was measured (bench/README.md has the whole story): every server runs in its own process and every load
generator in another, over loopback, on the same machine (so the generator competes with the server for the
cores). The generator owns the visitor and the operator sockets and timestamps sends and receipts with one clock;
latency counts from the moment a message was due (open loop: a late send is the server's delay too).
openlines runs `openlines run` on embedded defaults (SQLite in WAL mode, the in-process bus, plain asyncio) with
one widget line and 4 operators in `even` mode who take every offered dialog; the widget's per-visitor and
per-address message limits are raised to their maxima and each simulated visitor has its own address
(X-Forwarded-For), since all of them come from 127.0.0.1. The reference is a bare aiohttp relay (bench/relay.py:
JSON in, JSON out, one operator socket, nothing stored) driven by the same generator. Ratios are the result;
absolute numbers are context for this machine only."""


def write(results: dict[str, Any], out_dir: Path) -> list[Path]:
    table_rows = rows(results)
    quick_note = (
        "\n\n**Quick run (BENCH_QUICK=1): smaller sizes and shorter phases; not the reference figures.**"
        if results.get("quick")
        else ""
    )
    md = "\n".join(
        [
            "# openlines benchmark results",
            "",
            f"`make bench` on {results['machine']['summary']} (kernel {results['machine']['kernel']}, "
            f"Python {results['machine']['python']}), {results['date']}, commit {results['commit']}; load average "
            f"{results.get('loadavg_start', 'n/a')} at the start, {results.get('loadavg_end', 'n/a')} at the end "
            "(other processes' CPU during each phase is in the details)." + quick_note,
            "",
            table(results, table_rows),
            "",
            NOTES,
            "",
            "## Hot spots",
            "",
            hot_spots(results),
            "",
            "## Details",
            "",
            details(results),
            "",
        ]
    )
    md_path, json_path = out_dir / "latest.md", out_dir / "latest.json"
    md_path.write_text(md)
    json_path.write_text(json.dumps({**results, "table": table_rows}, indent=1, ensure_ascii=False) + "\n")
    return [md_path, json_path]
