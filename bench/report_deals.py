"""The deals section (bench/deals.py) in the report: its rows and issue 21's target (lists with filters over
1,000,000 deals: first page p99 ≤ 100 ms, next pages by keyset the same), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bench.report_checks import Verdicts, check
from bench.report_format import div as _div
from bench.report_format import number as _n
from bench.report_format import ratio as _ratio
from bench.report_rows import Rows

TARGET_DEALS = 1_000_000
STORES = (("sqlite", "SQLite", "n"), ("postgresql", "PostgreSQL", "pg_n"))


def deals_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per store: the lists' first and later pages (the board's time beside them, without a target)."""
    sec = results["sections"].get("deals", {})
    table = Rows()
    for key, name, n_key in STORES:
        got = sec.get(key)
        if not got:
            continue
        n = sec[n_key]
        worst = max(got["first"]["p99_ms"] or 0, got["later"]["p99_ms"] or 0)
        table.add(
            f"Deal lists among {n:,} deals on {name} (9 filters and sorts, 50 a page): first / later pages, p99",
            f"{_n(got['first']['p99_ms'])} / {_n(got['later']['p99_ms'])} ms (the board of a pipeline: "
            f"{_n(got['board']['p99_ms'])} ms)",
            "100 ms (target, p99)",
            _ratio(worst, 100.0),
            key=f"deals.lists.{key}",
            unit="ms",
            num=worst,
            ref=100.0,
            num_ratio=_div(worst, 100.0),
        )
    return table.rows


def deals_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 21's number, on each store."""
    sec = results["sections"].get("deals", {})
    v = Verdicts()
    for key, name, n_key in STORES:
        got = sec.get(key)
        slowest = max((got or {}).get("worst_ms", {}).items(), key=lambda kv: kv[1], default=None)
        v.add(
            f"deals.lists.{key}",
            f"Deal lists with filters over {TARGET_DEALS:,} deals on {name}: first page p99 ≤ 100 ms, next pages "
            "(keyset) the same",
            f"p99 {_n(got['first']['p99_ms'])} / {_n(got['later']['p99_ms'])} ms among {sec[n_key]:,}"
            if got
            else "not measured",
            [
                check("first", got["first"]["p99_ms"] if got else None, "≤", 100.0, " ms"),
                check("later", got["later"]["p99_ms"] if got else None, "≤", 100.0, " ms"),
            ],
            f"the slowest: {slowest[0]} ({_n(slowest[1])} ms)" if slowest else "",
        )
    return v.rows
