"""The report's Details: every phase of every load run (offered and delivered rates, latency, CPU of the
server, the generator and the rest of the machine), the scale-out runs' processes, the memory steps, the rest."""

from __future__ import annotations

from typing import Any

from bench.report_format import number as _n


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
    """The Details section: every phase of every server, the scale-out runs, memory steps, CRM, routing."""
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
