"""The message-search section (bench/search.py) in the report: its table rows against the index lookup alone
(the driver's own query, same run, same file), and the issue's target, p99 ≤ 50 ms."""

from __future__ import annotations

from typing import Any

from bench.report_checks import Verdicts, check
from bench.report_format import div as _div
from bench.report_format import number as _n
from bench.report_format import ratio as _ratio
from bench.report_rows import Rows

TARGET_MESSAGES = 10_000_000
TARGET_P99_MS = 50.0
STORES = (("sqlite", "SQLite, FTS5"), ("postgresql", "PostgreSQL, GIN"))
LIMITS = {
    "sqlite": "FTS5 walks the word's list newest first: a filter or the access rules pass over the matches they "
    "exclude, one row look-up each",
    "postgresql": "newest first by id windows over a stored tsvector's GIN and a BRIN of the ids: a word of middling "
    "frequency under the access rules reads a few thousand matches (table row, dialog, lead) to fill a page",
}


def _size(sec: dict[str, Any], store: str) -> tuple[int, int]:
    side = sec[store]
    return side.get("messages", sec.get("messages", 0)), side.get("leads", sec.get("leads", 0))


def search_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """p50 / p99 of the searches through `Store.search_messages`, per store, against the bare index lookup."""
    sec = results["sections"].get("search", {})
    table = Rows()
    for store, label in STORES:
        side = sec.get(store)
        if not side or "all" not in side:
            continue
        n, leads = _size(sec, store)
        a, bare = side["all"], side["bare"]
        build = side["build"]
        add_build = (
            "cached" if build.get("cached") else f"built in {_n(build['load_s'] + build['index_s'])} s"
        )
        old = side.get("outside_mix", {}).get("until_old") or {}
        old_text = (
            f"; before a date a year back (not in the mix): p99 {_n(old['p99_ms'])} ms"
            if old.get("p99_ms")
            else ""
        )
        table.add(
            f"Search a word among {n:,} messages, {leads:,} leads ({label}; "
            f"{side['searches']} searches, filters and later pages), p50 / p99",
            f"{_n(a['p50_ms'])} / {_n(a['p99_ms'])} ms ({side['db_mib']:,} MiB, {add_build}{old_text})",
            f"{_n(bare['p50_ms'])} / {_n(bare['p99_ms'])} ms (the index lookup alone, by the driver)",
            _ratio(a["p99_ms"], bare["p99_ms"]),
            key=f"search.{store}",
            unit="ms",
            num=a["p99_ms"],
            ref=bare["p99_ms"],
            num_ratio=_div(a["p99_ms"], bare["p99_ms"]),
            p50_ms=a["p50_ms"],
            reference_p50_ms=bare["p50_ms"],
            messages=n,
            leads=leads,
            until_old_p99_ms=old.get("p99_ms") or 0.0,
        )
    return table.rows


def search_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Search p99 ≤ 50 ms for a word among 10,000,000 messages and 1,000,000 leads (SQLite; PostgreSQL in the
    scale-out part, at the size this machine builds in about ten minutes)."""
    sec = results["sections"].get("search", {})
    verdicts = Verdicts()
    for store, label in STORES:
        side = sec.get(store) or {}
        a = side.get("all")
        n, leads = _size(sec, store) if a else (0, 0)
        worst = max(side.get("by_variant", {}).items(), key=lambda kv: kv[1]["p99_ms"] or 0, default=None)
        verdicts.add(
            f"search.{store}",
            f"Search ({label}): p99 ≤ {TARGET_P99_MS:g} ms for a word among {TARGET_MESSAGES:,} stored messages "
            "and 1,000,000 leads",
            f"p50 {_n(a['p50_ms'])} / p99 {_n(a['p99_ms'])} ms among {n:,} messages, {leads:,} leads"
            if a
            else "not measured",
            [check("p99", a["p99_ms"] if a else None, "≤", TARGET_P99_MS, " ms")],
            (LIMITS[store] + f"; the slowest kind of search: {worst[0]} (p99 {_n(worst[1]['p99_ms'])} ms)")
            if worst
            else "",
        )
    return verdicts.rows
