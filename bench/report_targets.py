"""The issue's targets against this run, (a)–(d): `openlines run` on its embedded defaults against the bare
relay (throughput, latency, CPU, memory per idle connection) and the CRM store (recognition, bulk import)."""

from __future__ import annotations

from typing import Any

from bench.report_checks import TARGET_CONNECTIONS, TARGET_CONTACTS, TARGET_RATE, Verdicts, check, offered
from bench.report_deals import deals_targets
from bench.report_duplicates import duplicates_targets
from bench.report_format import DIRECTIONS
from bench.report_format import div as _div
from bench.report_format import factor as _x
from bench.report_format import number as _n
from bench.report_format import phase as _phase
from bench.report_limits import daemon_cpu, hot_facts, pct
from bench.report_search import search_targets
from bench.report_targets_scaleout import scaleout_targets
from bench.report_widget import widget_targets


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets against this run: target, measured, met / missed, by how much, and where one is missed
    the limiting factor (from the hot spots). `met` is None when the run did not measure the target's case."""
    return [
        *_pipeline_targets(results),
        *scaleout_targets(results),
        *search_targets(results),
        *duplicates_targets(results),
        *deals_targets(results),
        *widget_targets(results),
    ]


def _pipeline_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """(a)–(d), each with its limiting factor read off the profile."""
    s = results["sections"]
    relay, pipe, mem, crm = (s.get(k, {}) for k in ("relay", "pipeline", "memory", "crm"))
    hot = hot_facts(results)
    busy = "of the event loop's busy time"
    verdicts = Verdicts()
    add = verdicts.add
    # (a) saturated throughput against the bare relay, both directions
    limits = {
        "forward": "the serial batch loop: a batch is decided on the event loop (`BatchWork.apply` "
        f"{pct(hot, 'ours', 'BatchWork.apply')}), its rows bound (`Plans.statements` "
        f"{pct(hot, 'ours', 'Plans.statements')}), then written by the store's SQLite thread while the loop "
        f"waits (`Engine.handle` {pct(hot, 'ours', 'Engine.handle')} in all), inclusive {busy}",
        "back": "two engine transactions per operator reply (the reply, then its delivery status): "
        f"operator commands (`BatchWork._command`) {pct(hot, 'ours', 'BatchWork._command')} inclusive {busy}",
    }
    fwd, back = _phase(pipe, "forward@saturation"), _phase(pipe, "back@saturation")
    if fwd and back and fwd.get("achieved_per_s"):
        limits["back"] += (
            f"; replies saturate at {_n(back['achieved_per_s'])} msg/s, "
            f"{back['achieved_per_s'] / fwd['achieved_per_s']:.2f}× of visitor → operator's "
            f"{_n(fwd['achieved_per_s'])}"
        )
    for d, label in DIRECTIONS.items():
        mine, ref = _phase(pipe, f"{d}@saturation"), _phase(relay, f"{d}@saturation")
        v = mine["achieved_per_s"] if mine else None
        r = ref["achieved_per_s"] if ref else None
        ratio = _div(v, r)
        cpu = daemon_cpu(mine)
        add(
            f"throughput.{d}",
            f"(a) Saturated throughput {label} ≥ 0.50× the bare relay (same run)",
            f"{ratio:.2f}× ({_n(v)} vs {_n(r)} msg/s)" if ratio is not None else "not measured",
            [check("", ratio, "≥", 0.5, "×")],
            limits[d] + (f"; the daemon at {cpu}" if cpu else ""),
        )
    # (b) latency and CPU at 1,000 msg/s offered, visitor → operator (a run without that rate: its highest)
    rate, at = offered(results)
    p = _phase(pipe, f"forward@{rate:g}")
    behind = ""
    if p and (p["achieved_per_s"] < 0.95 * rate or p["lost"]):
        behind = f"; falls behind: {_n(p['achieved_per_s'])}/s achieved"
    add(
        "latency.forward@1000",
        f"(b) At {TARGET_RATE:,.0f} msg/s offered, visitor → operator: p50 ≤ 3 ms and p99 ≤ 10 ms",
        (f"{_n(p['p50_ms'])} / {_n(p['p99_ms'])} ms{at}{behind}" if p and p.get("p50_ms") is not None else "")
        or "not measured",
        [
            check("p50", p.get("p50_ms") if p else None, "≤", 3.0, " ms"),
            check("p99", p.get("p99_ms") if p else None, "≤", 10.0, " ms"),
        ],
        "asyncio scheduling and one `socket.send` per frame: stdlib:asyncio "
        f"{pct(hot, 'pkg', 'stdlib:asyncio')} and `socket.send` {pct(hot, 'func', 'socket.send')} self "
        f"{busy} (sqlalchemy another {pct(hot, 'pkg', 'sqlalchemy')})",
    )
    add(
        "cpu.forward@1000",
        f"(b) … with the daemon using at most half of one core (all threads) at {TARGET_RATE:,.0f} msg/s",
        daemon_cpu(p) + at if daemon_cpu(p) else "not measured",
        [check("", p.get("server_cpu_pct") if p else None, "≤", 50.0, "%")],
        "asyncio scheduling and one `socket.send` per frame on the event loop (stdlib:asyncio "
        f"{pct(hot, 'pkg', 'stdlib:asyncio')}, `socket.send` {pct(hot, 'func', 'socket.send')} {busy}), "
        "plus the SQLite writer thread's work",
    )
    # (c) memory per idle connection at 10,000 connections
    steps = mem.get("daemon", {}).get("steps", [])
    step = next((x for x in steps if x["connections"] == TARGET_CONNECTIONS), steps[-1] if steps else None)
    ref_steps = mem.get("relay", {}).get("steps", [])
    ref_step = next((x for x in ref_steps if step and x["connections"] == step["connections"]), None)
    ref_note = f"; bare relay {_n(ref_step['kib_per_connection'])} KiB" if ref_step else ""
    add(
        "memory@10000",
        f"(c) ≤ 24 KiB of server RSS per idle widget connection at {TARGET_CONNECTIONS:,} connections",
        f"{_n(step['kib_per_connection'])} KiB at {step['connections']:,}{ref_note}"
        if step
        else "not measured",
        [check("", step["kib_per_connection"] if step else None, "≤", 24.0, " KiB")],
        "per-connection state of the widget connection (hello, reader, heartbeat) beyond aiohttp's own",
    )
    # (d) recognition among 1,000,000 identities through the store API, and the bulk import
    st, raw = crm.get("store"), crm.get("sqlite3")
    for key, label in (
        ("by_identity", "channel identity (`Store.find_identities`)"),
        ("by_phone", "phone (`Store.find_leads_by_contact`)"),
        ("by_email", "e-mail (`Store.find_leads_by_contact`)"),
    ):
        lk = st[key] if st else None
        add(
            f"crm.{key}",
            f"(d) Recognition by {label} among {TARGET_CONTACTS:,}: median ≤ 1 ms and p99 ≤ 3 ms",
            f"{_n(lk['p50_ms'])} / {_n(lk['p99_ms'])} ms among {crm['n']:,}" if lk else "not measured",
            [
                check("p50", lk["p50_ms"] if lk else None, "≤", 1.0, " ms"),
                check("p99", lk["p99_ms"] if lk else None, "≤", 3.0, " ms"),
            ],
            "the store API's path (SQLAlchemy statement, aiosqlite thread hop) over the query itself: plain "
            f"sqlite3 p50 {_n(raw[key]['p50_ms'])} ms on the same file"
            if raw
            else "",
        )
    import_limit = (
        "the rows built in Python (ids, normalised phones and e-mails, each value through its column's bind "
        "processor) and the stored identities looked up per chunk, on top of the executemany itself"
    )
    if st and raw:
        raw_rate = raw["import"]["import_rows_per_s"]
        raw_s = TARGET_CONTACTS / raw_rate
        import_limit += (
            f": plain sqlite3 executemany of the same rows is {_x(raw_rate / st['import_rows_per_s'])} faster "
            f"({_n(raw_rate)} contacts/s, {_n(raw_s)} s for {TARGET_CONTACTS:,}"
            + ("; still over 10 s" if raw_s > 10 else "")
            + ")"
        )
    scaled = st["import_s"] * TARGET_CONTACTS / crm["n"] if st else None
    add(
        "crm.import",
        f"(d) Bulk-import {TARGET_CONTACTS:,} contacts through the store ≤ 10 s",
        (
            f"{_n(st['import_s'])} s for {crm['n']:,}"
            + (
                f" (≈ {_n(scaled)} s for {TARGET_CONTACTS:,} at that rate)"
                if crm["n"] != TARGET_CONTACTS
                else ""
            )
        )
        if st
        else "not measured",
        [check("", scaled, "≤", 10.0, " s")],
        import_limit,
    )
    return verdicts.rows
