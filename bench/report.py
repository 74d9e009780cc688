"""Turn the run's results into bench/results/latest.md (a table to paste into the README, the hot spots and the
details) and bench/results/latest.json (everything, plus the table's rows). The sections are built by
bench/report_*.py; this module puts them together and writes both files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.report_checks import TARGET_CONNECTIONS, TARGET_CONTACTS, TARGET_RATE
from bench.report_deals import deals_rows
from bench.report_details import details
from bench.report_duplicates import duplicates_rows
from bench.report_hotspots import hot_spots
from bench.report_rows import error_rows
from bench.report_rows_components import crm_rows, routing_rows
from bench.report_rows_cpu import cpu_rows
from bench.report_rows_pipeline import memory_rows, pipeline_rows
from bench.report_rows_scaleout import scaleout_rows
from bench.report_search import search_rows
from bench.report_targets import targets


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
    return [
        *pipeline_rows(results),
        *scaleout_rows(results),
        *cpu_rows(results),
        *memory_rows(results),
        *crm_rows(results),
        *routing_rows(results),
        *search_rows(results),
        *duplicates_rows(results),
        *deals_rows(results),
        *error_rows(results),
    ]


def targets_table(results: dict[str, Any], target_rows: list[dict[str, Any]]) -> str:
    """The targets as a markdown table: verdict, by how much and, where one is missed, the limiting factor."""
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
    """The Targets section: the tally, a warning when this run's sizes are not the targets', the table."""
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
    """The README table in markdown, each row with the machine, the date and the commit."""
    m, date, sha = results["machine"]["summary"], results["date"], results["commit"]
    lines = [
        "| figure | value | reference | ratio | machine | date | commit |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table_rows:
        cells = [r["figure"], r["value"], r["reference"], r["ratio"], m, date, sha]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
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
    """Write out_dir/latest.md and out_dir/latest.json (the results plus the table, figures and targets)."""
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
