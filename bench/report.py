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


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _cap_note(results: dict[str, Any], mine: dict[str, Any] | None, v: float | None) -> str:
    """Saturated throughput at the generator's own cap says so."""
    cap = mine.get("offered_cap_per_s") if mine else None
    if not cap or v is None or v < 0.95 * cap:
        return ""
    if not results["plan"].get("max_rate"):
        return " (at the generator's cap: 18 frames/s per widget connection)"
    return f" (at the generator's cap: {_n(cap)} msg/s)"


def _busy(run: dict[str, Any], results: dict[str, Any]) -> str:
    """How busy the machine was in a scale-out run's busiest seconds (its saturated phases)."""
    pct = run.get("machine_busiest_pct")
    return f"; machine {pct:.0f}% busy of {100 * results['machine']['nproc']}% at saturation" if pct else ""


def _workers(n: int) -> str:
    return f"{n} router worker{'s' if n != 1 else ''}"


def rows(results: dict[str, Any]) -> list[dict[str, str]]:
    """The table: figure, value, reference, ratio (machine, date and commit are added by the writers)."""
    return [{k: r[k] for k in ("figure", "value", "reference", "ratio")} for r in _collect(results)]


def figures(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The table's figures as numbers (latest.json's `figures`): per row a key, the unit, the value, the
    reference and their ratio, plus every other number the row shows; a section that broke is a figure whose
    value is None, with its error."""
    return [r["numbers"] for r in _collect(results)]


def _collect(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of the table, as text (figure, value, reference, ratio) and as numbers (numbers)."""
    s = results["sections"]
    relay, pipe = s.get("relay", {}), s.get("pipeline", {})
    out: list[dict[str, Any]] = []
    k = results["plan"]["visitors"]

    def add(
        figure: str,
        value: str,
        reference: str,
        ratio: str,
        *,
        key: str,
        unit: str,
        num: float | None,
        ref: float | None,
        num_ratio: float | None,
        **more: Any,
    ) -> None:
        numbers = {
            "key": key,
            "figure": figure,
            "unit": unit,
            "value": num,
            "reference": ref,
            "ratio": num_ratio,
            **more,
        }
        out.append(
            {"figure": figure, "value": value, "reference": reference, "ratio": ratio, "numbers": numbers}
        )

    # 1. saturated routed throughput
    for d, label in DIRECTIONS.items():
        mine, ref = _phase(pipe, f"{d}@saturation"), _phase(relay, f"{d}@saturation")
        if mine is None and ref is None:
            continue
        v = mine["achieved_per_s"] if mine else None
        r = ref["achieved_per_s"] if ref else None
        add(
            f"Routed throughput {label}, saturated, {k} visitors",
            f"{_n(v)} msg/s{_cap_note(results, mine, v)}",
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
                f"{_n(v)} msg/s{_cap_note(results, mine, v)}",
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
    # 4. CRM recognition
    crm = s.get("crm", {})
    if "store" in crm:
        st, raw = crm["store"], crm["sqlite3"]
        add(
            f"CRM bulk import (Store.import_contacts), {crm['n']:,} contacts (lead + identity)",
            f"{_n(st['import_s'])} s ({_n(st['import_rows_per_s'])} contacts/s)",
            f"{_n(raw['import']['import_rows_per_s'])} contacts/s (plain sqlite3 executemany, {raw['import']['rows']:,})",
            _ratio(st["import_rows_per_s"], raw["import"]["import_rows_per_s"]),
            key="crm.import",
            unit="contacts/s",
            num=st["import_rows_per_s"],
            ref=raw["import"]["import_rows_per_s"],
            num_ratio=_div(st["import_rows_per_s"], raw["import"]["import_rows_per_s"]),
            contacts=crm["n"],
            import_s=st["import_s"],
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
                key=f"crm.{key}",
                unit="ms",
                num=st[key]["p50_ms"],
                ref=raw[key]["p50_ms"],
                num_ratio=_div(st[key]["p50_ms"], raw[key]["p50_ms"]),
                p99_ms=st[key]["p99_ms"],
                reference_p99_ms=raw[key]["p99_ms"],
                contacts=crm["n"],
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
            key=f"routing.choose_operator@{row['operators']}",
            unit="µs per call",
            num=row["even"],
            ref=budget,
            num_ratio=_div(row["even"], budget),
            sequential_us=row["sequential"],
            all_us=row["all"],
            even_engine_view_us=row["even_engine_view"],
            even_engine_view_ratio=_div(row["even_engine_view"], budget),
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
            key="routing.hours",
            unit="µs per call",
            num=is_open_us,
            ref=budget,
            num_ratio=_div(is_open_us, budget),
            next_open_us=next_open_us,
            next_open_ratio=_div(next_open_us, budget),
        )
    for name, sec in s.items():
        if "error" in sec:
            add(
                f"{name}: not measured",
                sec["error"][:200],
                "",
                "",
                key=f"{name}.error",
                unit="",
                num=None,
                ref=None,
                num_ratio=None,
                error=sec["error"],
            )
    return out


# The targets. Each is met only when all of its checks are; `goal` is the bound, `op` its direction.
TARGET_RATE = 1000.0  # msg/s offered, for the latency and CPU target
TARGET_CONNECTIONS = 10_000
TARGET_CONTACTS = 1_000_000


def _x(factor: float) -> str:
    """A factor: 1.7×, 18.5×, 1,038×."""
    return f"{factor:.1f}×" if factor < 100 else f"{factor:,.0f}×"


def _check(label: str, value: float | None, op: str, goal: float, unit: str) -> dict[str, Any]:
    """One bound: value ≥ goal or value ≤ goal, and by how much it is met or missed."""
    if value is None:
        return {"label": label, "value": None, "op": op, "goal": goal, "met": None, "by": "not measured"}
    met = value >= goal if op == "≥" else value <= goal
    shown = f"{_n(value)}{unit} vs {op} {goal:g}{unit}"
    if unit == "×":
        shown = f"{value:.2f}× of {goal:.2f}×"
    if met:
        spare = value / goal - 1 if op == "≥" else 1 - value / goal
        by = f"{shown}: {100 * spare:.0f}% to spare"
    elif value <= 0:
        by = f"{shown}: nothing"
    else:
        by = f"{shown}: {_x(goal / value)} short" if op == "≥" else f"{shown}: {_x(value / goal)} over"
    return {"label": label, "value": value, "op": op, "goal": goal, "met": met, "by": by}


def _hot(results: dict[str, Any]) -> dict[str, Any]:
    """The profile's facts the limiting factors quote (empty when not profiled)."""
    prof = results["sections"].get("profile", {})
    if not prof or "error" in prof:
        return {}
    pkgs = {r["name"]: r["pct_busy"] for r in prof.get("self_by_package", [])}
    funcs = {r["name"].split(" (")[0]: r["pct_busy"] for r in prof.get("self_by_function", [])}
    ours = {r["name"].split(" (")[0]: r["pct_busy"] for r in prof.get("ours_inclusive", [])}
    return {"pkg": pkgs, "func": funcs, "ours": ours}


def _pct(d: dict[str, Any], group: str, name: str) -> str:
    v = d.get(group, {}).get(name)
    return f"{v}%" if v is not None else "?%"


def _cpu(p: dict[str, Any] | None) -> str:
    if not p or p.get("server_cpu_pct") is None:
        return ""
    total, main = p["server_cpu_pct"], p["server_main_thread_cpu_pct"]
    return f"{total:.0f}% of a core (event loop {main:.0f}%, SQLite threads {total - main:.0f}%)"


def _queueing(run: dict[str, Any], rate: float) -> str:
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


def _scaleout_share(run: dict[str, Any], nproc: int) -> str:
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


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets against this run: target, measured, met / missed, by how much, and where one is missed
    the limiting factor (from the hot spots). `met` is None when the run did not measure the target's case."""
    s = results["sections"]
    relay, pipe, mem, crm = (s.get(k, {}) for k in ("relay", "pipeline", "memory", "crm"))
    hot = _hot(results)
    busy = "of the event loop's busy time"
    out: list[dict[str, Any]] = []

    def add(tid: str, target: str, measured: str, checks: list[dict[str, Any]], limit: str) -> None:
        verdicts = [c["met"] for c in checks]
        met = None if None in verdicts else all(verdicts)
        by = "; ".join((f"{c['label']} " if c["label"] else "") + c["by"] for c in checks)
        out.append(
            {
                "key": tid,
                "target": target,
                "measured": measured,
                "met": met,
                "by": by,
                "limit": limit if met is False else "",
                "checks": checks,
            }
        )

    # (a) saturated throughput against the bare relay, both directions
    limits = {
        "forward": "the serial batch loop: a batch is decided on the event loop (`BatchWork.apply` "
        f"{_pct(hot, 'ours', 'BatchWork.apply')}), its rows bound (`Plans.statements` "
        f"{_pct(hot, 'ours', 'Plans.statements')}), then written by the store's SQLite thread while the loop "
        f"waits (`Engine.handle` {_pct(hot, 'ours', 'Engine.handle')} in all), inclusive {busy}",
        "back": "two engine transactions per operator reply (the reply, then its delivery status): "
        f"operator commands (`BatchWork._command`) {_pct(hot, 'ours', 'BatchWork._command')} inclusive {busy}",
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
        cpu = _cpu(mine)
        add(
            f"throughput.{d}",
            f"(a) Saturated throughput {label} ≥ 0.50× the bare relay (same run)",
            f"{ratio:.2f}× ({_n(v)} vs {_n(r)} msg/s)" if ratio is not None else "not measured",
            [_check("", ratio, "≥", 0.5, "×")],
            limits[d] + (f"; the daemon at {cpu}" if cpu else ""),
        )
    # (b) latency and CPU at 1,000 msg/s offered, visitor → operator (a run without that rate: its highest)
    rates = sorted(float(x) for x in str(results["plan"]["rates"]).split(",") if x)
    rate = TARGET_RATE if TARGET_RATE in rates or not rates else rates[-1]
    p = _phase(pipe, f"forward@{rate:g}")
    at = "" if rate == TARGET_RATE else f" at {rate:,.0f} msg/s offered"
    behind = ""
    if p and (p["achieved_per_s"] < 0.95 * rate or p["lost"]):
        behind = f"; falls behind: {_n(p['achieved_per_s'])}/s achieved"
    add(
        "latency.forward@1000",
        f"(b) At {TARGET_RATE:,.0f} msg/s offered, visitor → operator: p50 ≤ 3 ms and p99 ≤ 10 ms",
        (f"{_n(p['p50_ms'])} / {_n(p['p99_ms'])} ms{at}{behind}" if p and p.get("p50_ms") is not None else "")
        or "not measured",
        [
            _check("p50", p.get("p50_ms") if p else None, "≤", 3.0, " ms"),
            _check("p99", p.get("p99_ms") if p else None, "≤", 10.0, " ms"),
        ],
        "asyncio scheduling and one `socket.send` per frame: stdlib:asyncio "
        f"{_pct(hot, 'pkg', 'stdlib:asyncio')} and `socket.send` {_pct(hot, 'func', 'socket.send')} self "
        f"{busy} (sqlalchemy another {_pct(hot, 'pkg', 'sqlalchemy')})",
    )
    add(
        "cpu.forward@1000",
        f"(b) … with the daemon using at most half of one core (all threads) at {TARGET_RATE:,.0f} msg/s",
        _cpu(p) + at if _cpu(p) else "not measured",
        [_check("", p.get("server_cpu_pct") if p else None, "≤", 50.0, "%")],
        "asyncio scheduling and one `socket.send` per frame on the event loop (stdlib:asyncio "
        f"{_pct(hot, 'pkg', 'stdlib:asyncio')}, `socket.send` {_pct(hot, 'func', 'socket.send')} {busy}), "
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
        [_check("", step["kib_per_connection"] if step else None, "≤", 24.0, " KiB")],
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
                _check("p50", lk["p50_ms"] if lk else None, "≤", 1.0, " ms"),
                _check("p99", lk["p99_ms"] if lk else None, "≤", 3.0, " ms"),
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
        [_check("", scaled, "≤", 10.0, " s")],
        import_limit,
    )
    # (e)–(g) scale-out on Redis + PostgreSQL, everything on this machine
    so = s.get("scaleout", {})
    runs = {int(n): r for n, r in so.get("runs", {}).items()}
    one, two = runs.get(1, {}), runs.get(2, {})
    cores = results["machine"]["nproc"]
    share = _scaleout_share(one, cores)
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
            [_check("", ratio, "≥", 0.25, "×")],
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
            _check("visitor → operator p99", p.get("p99_ms") if p else None, "≤", 20.0, " ms"),
            _check("operator → visitor p99", pb.get("p99_ms") if pb else None, "≤", 20.0, " ms"),
        ],
        "each message crosses web → Redis → router worker → PostgreSQL commit (fsync) → Redis → web, on "
        f"{cores} shared cores" + _queueing(one, rate),
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
        [_check("", fo.get("all_partitions_s"), "≤", 2 * lease, " s")],
        "lease expiry (lease_time) plus the survivor's renewal tick (every lease_time / 3), then reloading the "
        "partitions' open dialogs from PostgreSQL",
    )
    return out


def targets_table(results: dict[str, Any], target_rows: list[dict[str, Any]]) -> str:
    verdict = {True: "met", False: "**missed**", None: "n/a"}
    lines = [
        "| target | measured | met / missed | by how much | limiting factor (from the profile) |",
        "|---|---|---|---|---|",
    ]
    for t in target_rows:
        cells = [t["target"], t["measured"], verdict[t["met"]], t["by"], t["limit"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def targets_section(results: dict[str, Any], target_rows: list[dict[str, Any]]) -> str:
    plan = results["plan"]
    missed = sum(1 for t in target_rows if t["met"] is False)
    met = sum(1 for t in target_rows if t["met"] is True)
    lines = [
        f"The issue's targets against this run: {met} met, {missed} missed"
        + (f", {len(target_rows) - met - missed} not measured" if met + missed < len(target_rows) else "")
        + ". Ratios are to the bare relay measured in the same run; the limiting factors are read off the hot "
        "spots below (the profiled run's shares of the event loop's busy time).",
    ]
    sizes = []
    rates = [float(x) for x in str(plan["rates"]).split(",") if x]
    if TARGET_RATE not in rates:
        sizes.append(f"(b) and (f) at {max(rates or [0]):,.0f} msg/s offered, not {TARGET_RATE:,.0f}")
    if TARGET_CONNECTIONS not in plan.get("idle_steps", []):
        sizes.append(
            f"(c) at {max(plan.get('idle_steps') or [0]):,} idle connections, not {TARGET_CONNECTIONS:,}"
        )
    if plan.get("crm_n") != TARGET_CONTACTS:
        sizes.append(
            f"(d) among {plan.get('crm_n', 0):,} contacts, not {TARGET_CONTACTS:,} (the import time is scaled linearly)"
        )
    lease = results["sections"].get("scaleout", {}).get("lease_s")
    if lease is not None and lease != 5.0:
        sizes.append(
            f"(g) with lease_time {lease:g} s, not the default 5 s (the bound is 2 × the lease used)"
        )
    if sizes:
        lines.append("")
        lines.append(
            f"**This run's sizes differ from the targets': {'; '.join(sizes)}. The verdicts are indicative only.**"
        )
    lines += ["", targets_table(results, target_rows)]
    return "\n".join(lines)


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


def _scaleout_details(so: dict[str, Any]) -> list[str]:
    """The scale-out section: the servers' settings, each run's phases and processes, the failover."""
    if not so or ("runs" not in so and "failover" not in so):
        return []
    lines = ["", "Scale-out (Redis + PostgreSQL, `openlines run --role web` + `--role router` workers):"]
    rd, pg = so.get("redis"), so.get("postgresql")
    if rd and pg:
        st = pg.get("settings", {})
        lines.append(
            f"{rd['version'].split(' sha=')[0]} with `{rd['persistence']}` on {rd['filesystem']}; "
            f"{pg['version']} with its default durability and the recommended wal_init_zero off ("
            + ", ".join(f"{k} {v}" for k, v in st.items())
            + f") on {pg['filesystem']}; queue.partitions {so['partitions']}, lease_time {so['lease_s']:g} s"
            + (
                f", queue.url with `?max_connections={so['redis_max_connections']}` (redis-py's default pool of "
                "100 connections per process makes the web process refuse widget messages once more than 100 "
                "publishes are in flight)"
                if so.get("redis_max_connections")
                else ""
            )
            + ". "
            "Each run: a fresh database and an emptied Redis. Server CPU below is the web process only; the router "
            "workers, PostgreSQL and Redis are in 'other processes'."
        )
    runs = {int(n): r for n, r in so.get("runs", {}).items()}
    if runs:
        lines += [
            "",
            "| layout | phase | offered msg/s | delivered msg/s | sent | lost | p50 ms | p99 ms | max ms | "
            "web CPU % | generator CPU % | other processes CPU % |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for n in sorted(runs):
            for p in runs[n].get("phases", []):
                offered = p.get("offered_per_s")
                shown = (
                    _n(offered)
                    if offered
                    else f"closed loop ≤{p['max_inflight']} in flight"
                    + (f", ≤{_n(p['offered_cap_per_s'])}/s" if p.get("offered_cap_per_s") else "")
                )
                lines.append(
                    f"| web + {n} router{'s' if n != 1 else ''} | {p['phase']} | {shown} "
                    f"| {_n(p['achieved_per_s'])} | {p['sent']:,} | {p['lost']:,} | {_n(p.get('p50_ms'))} | "
                    f"{_n(p.get('p99_ms'))} | {_n(p.get('max_ms'))} | {_n(p.get('server_cpu_pct'))} | "
                    f"{_n(p.get('generator_cpu_pct'))} | {_n(p.get('others_cpu_pct'))} |"
                )
        lines += [
            "",
            "CPU per process, sampled by the runner every 0.25 s (% of one core): over the whole load run "
            "(connections, phases, the waits between them), and over its busiest seconds, as many as its "
            "saturated phases measured (where the cores went under saturation); `others`: the rest of the "
            "machine (neighbours, the kernel's loopback networking).",
            "",
            "| layout | process | CPU % (whole load run) | CPU % (busiest seconds) | memory MiB after |",
            "|---|---|---|---|---|",
        ]
        for n in sorted(runs):
            r = runs[n]
            busiest = (
                f" ({_n(r.get('busiest_s'))} s; machine {_n(r.get('machine_busiest_pct'))}% busy)"
                if r.get("machine_busiest_pct") is not None
                else ""
            )
            for name, pr in r.get("processes", {}).items():
                mem = "PSS of all backends" if name == "postgresql" else "RSS"
                rss = f"{pr['rss_kib'] / 1024:.1f} ({mem})" if pr.get("rss_kib") is not None else ""
                lines.append(
                    f"| web + {n} router{'s' if n != 1 else ''} | {name} | {_n(pr.get('cpu_pct'))} | "
                    f"{_n(pr.get('cpu_pct_busiest'))}{busiest if name == 'web' else ''} | {rss} |"
                )
        refused = {n: r.get("publish_failed") for n, r in sorted(runs.items()) if r.get("publish_failed")}
        errors = {n: r.get("errors") for n, r in sorted(runs.items()) if r.get("errors")}
        if refused or errors:
            lines += [
                "",
                "Widget messages the web process could not publish (`widget.publish.failed`, the visitor gets "
                f"`unavailable`), by router workers: {refused or 'none'}; error frames the generator got: "
                f"{errors or 'none'}.",
            ]
        lines.append("")
        lines.append(
            "Start-up (web, then the routers until `daemon.started`) and the wait until the partitions were "
            "shared out: "
            + "; ".join(
                f"{n} router{'s' if n != 1 else ''} {_n(r.get('startup_s'))} s + {_n(r.get('balance_s'))} s"
                for n, r in sorted(runs.items())
            )
            + "."
        )
    low = so.get("floor")
    if low:
        phases = ", ".join(
            f"{p['phase']} {_n(p['achieved_per_s'])} msg/s ({p['sent']:,} sent, {p['lost']:,} lost)"
            for p in low.get("phases", [])
        )
        hot = {k: v["cpu_pct_busiest"] for k, v in low.get("processes", {}).items()}
        lines += [
            "",
            "Floor (bench/floor.py on the same Redis and PostgreSQL, driven as the relay, saturated only): "
            f"{phases}; {low.get('rows', 0):,} rows COPYed. Its busiest seconds: machine "
            f"{_n(low.get('machine_busiest_pct'))}% busy; % of a core: "
            + ", ".join(f"{k} {v:.0f}%" for k, v in sorted(hot.items(), key=lambda kv: -kv[1]))
            + ". What it leaves out: dialogs, leads, routing, the outbox, rate limits, delivery statuses, "
            "redelivery; what it keeps: a pipelined XADD and an ack frame per visitor message, one XREADGROUP, "
            "one COPY and commit, one MULTI of XADDs and XACKs per batch, one XACK per web read.",
        ]
    fo = so.get("failover")
    if fo:
        gains = ", ".join(f"+{len(g['gained'])} after {_n(g['after_s'])} s" for g in fo.get("gains", []))
        lines += [
            "",
            f"Failover: 2 router workers ({fo['load']}), {len(fo['victim_owned'])} + "
            f"{len(fo['survivor_owned_before'])} partitions; one SIGKILLed; the survivor's "
            f"`engine.partitions.changed` (log timestamps against the kill's wall-clock time): {gains}.",
        ]
    for part, err in so.get("errors", {}).items():
        lines += ["", f"Scale-out {part}: not measured: {err.splitlines()[0][:300]}"]
    return lines


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
    lines += _scaleout_details(s.get("scaleout", {}))
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
JSON in, JSON out, one operator socket, nothing stored) driven by the same generator. The scale-out rows run the
same load against `openlines run --role web` plus 1 or 2 `--role router` workers on Redis (append-only file, fsync
every second) and PostgreSQL (default durability: fsync and synchronous_commit on; wal_init_zero off as
docs/operations.md recommends), every process and both servers
on this machine. Ratios are the result; absolute numbers are context for this machine only."""


def write(results: dict[str, Any], out_dir: Path) -> list[Path]:
    table_rows = rows(results)
    target_rows = targets(results)
    quick_note = (
        "\n\n**Quick run (BENCH_QUICK=1): smaller sizes and shorter phases; not the reference figures.**"
        if results.get("quick")
        else ""
    )
    if results.get("smoke"):
        quick_note = (
            "\n\n**Smoke run (`python -m bench.run --smoke`): tiny sizes and phases that check the harness works; "
            "the numbers mean nothing.**"
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
            "## Targets",
            "",
            targets_section(results, target_rows),
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
    derived = {"table": table_rows, "figures": figures(results), "targets": target_rows}
    json_path.write_text(json.dumps({**results, **derived}, indent=1, ensure_ascii=False) + "\n")
    return [md_path, json_path]
