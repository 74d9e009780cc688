"""The README table's rows for the parts measured on their own: CRM import and recognition (bench/crm.py)
against plain sqlite3, routing decisions (bench/routing.py) against the time one routed message takes."""

from __future__ import annotations

from typing import Any

from bench.report_format import div as _div
from bench.report_format import number as _n
from bench.report_format import phase as _phase
from bench.report_format import ratio as _ratio
from bench.report_rows import Rows


def crm_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The bulk import and each kind of lookup, against plain sqlite3 on the same file."""
    s = results["sections"]
    table = Rows()
    add = table.add
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
    return table.rows


def routing_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """choose_operator and the office-hours functions per call, as a share of one routed message's time."""
    s = results["sections"]
    pipe = s.get("pipeline", {})
    table = Rows()
    add = table.add
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
    return table.rows
