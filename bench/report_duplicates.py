"""The duplicate-control section (bench/duplicates.py) in the report: its table rows and issue 20's targets (the
index over 1,000,000 leads ≤ 60 s, a page ≤ 200 ms, upkeep ≤ 1 ms a change, CSV import of 1,000,000 ≤ 30 s,
merge and undo of a lead with 1,000 dialogs ≤ 1 s each)."""

from __future__ import annotations

from typing import Any

from bench.report_checks import Verdicts, check
from bench.report_format import div as _div
from bench.report_format import number as _n
from bench.report_format import ratio as _ratio
from bench.report_rows import Rows

TARGET_LEADS = 1_000_000
LIMITS = {
    "import": "per row: reading and checking the CSV in Python (normalising phones and e-mails, the name's key), the "
    "store's duplicate look-ups per chunk, and on SQLite the triggers of migration 0015 (a table with triggers "
    "and several indexes costs SQLite ~11 µs more per inserted row, even for a trigger whose WHEN is false)",
    "index": "the name keys are computed in Python (no database folds every script alike), then set-based SQL",
    "pages": "a page of name groups reads ~200 leads with their dialog and message counts",
}


def duplicates_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The import, the index build, a page per criterion, the upkeep and the merge, each against its target (the
    upkeep against the same change without the triggers)."""
    sec = results["sections"].get("duplicates", {})
    table = Rows()
    if "import" not in sec:
        return table.rows
    n = sec["n"]
    scale = n / TARGET_LEADS

    def add(figure: str, value: str, key: str, unit: str, num: float, ref: float, ref_text: str) -> None:
        table.add(
            figure,
            value,
            ref_text,
            _ratio(num, ref),
            key=key,
            unit=unit,
            num=num,
            ref=ref,
            num_ratio=_div(num, ref),
        )

    imp = sec["import"]
    add(
        f"CSV import with duplicate control (Store.import_leads), {n:,} rows",
        f"{_n(imp['import_s'])} s ({_n(n / imp['import_s'])} rows/s; {imp['created']:,} created, "
        f"{imp['duplicates']:,} duplicates)",
        "duplicates.import",
        "s",
        imp["import_s"],
        30.0 * scale,
        f"{_n(30.0 * scale)} s (target: 30 s per {TARGET_LEADS:,})",
    )
    add(
        f"Duplicate index built over {n:,} leads (migration 0015)",
        f"{_n(sec['index']['build_s'])} s",
        "duplicates.index",
        "s",
        sec["index"]["build_s"],
        60.0 * scale,
        f"{_n(60.0 * scale)} s (target: 60 s per {TARGET_LEADS:,})",
    )
    for by, page in sec["pages"].items():
        add(
            f"A page of duplicates by {by} among {n:,} leads, p50 / p99 ({page['shared_keys']:,} shared keys)",
            f"{_n(page['p50_ms'])} / {_n(page['p99_ms'])} ms",
            f"duplicates.page.{by}",
            "ms",
            page["p99_ms"],
            200.0,
            "200 ms (target, p99)",
        )
    up = sec["upkeep"]
    add(
        "Duplicate keys' upkeep per lead change (a rename and a new phone): with the triggers, p50",
        f"{_n(up['with']['p50_ms'])} ms ({_n(up['upkeep_ms'])} ms of it the upkeep, on average)",
        "duplicates.upkeep",
        "ms",
        up["with"]["p50_ms"],
        up["without"]["p50_ms"],
        f"{_n(up['without']['p50_ms'])} ms (the same change without the triggers)",
    )
    ls = sec.get("lists")
    if ls:
        add(
            f"Lead lists among {n:,} leads (filters and sorts, 50 a page): first page / later pages (keyset), p99",
            f"{_n(ls['first']['p99_ms'])} / {_n(ls['later']['p99_ms'])} ms",
            "duplicates.lists",
            "ms",
            max(ls["first"]["p99_ms"] or 0, ls["later"]["p99_ms"] or 0),
            100.0,
            "100 ms (target, p99)",
        )
    m = sec["merge"]
    add(
        f"Merge of a lead with {m['dialogs']:,} dialogs / its undo",
        f"{_n(m['merge_s'] * 1000)} / {_n(m['undo_s'] * 1000)} ms",
        "duplicates.merge",
        "ms",
        max(m["merge_s"], m["undo_s"]) * 1000,
        1000.0,
        "1,000 ms (target, each)",
    )
    return table.rows


def duplicates_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 20's numbers."""
    sec = results["sections"].get("duplicates", {})
    v = Verdicts()
    n = sec.get("n", 0)
    scale = TARGET_LEADS / n if n else 1.0
    imp, idx = sec.get("import"), sec.get("index")
    at = f" (≈ {{}} for {TARGET_LEADS:,} at that rate)" if n and n != TARGET_LEADS else ""
    v.add(
        "duplicates.import",
        f"CSV import of {TARGET_LEADS:,} leads ≤ 30 s including duplicate checks",
        (f"{_n(imp['import_s'])} s for {n:,}" + at.format(_n(imp["import_s"] * scale) + " s"))
        if imp
        else "not measured",
        [check("", imp["import_s"] * scale if imp else None, "≤", 30.0, " s")],
        LIMITS["import"],
    )
    v.add(
        "duplicates.index",
        f"Duplicate index over {TARGET_LEADS:,} leads built ≤ 60 s",
        (f"{_n(idx['build_s'])} s for {n:,}" + at.format(_n(idx["build_s"] * scale) + " s"))
        if idx
        else "not measured",
        [check("", idx["build_s"] * scale if idx else None, "≤", 60.0, " s")],
        LIMITS["index"],
    )
    worst = max((sec.get("pages") or {}).items(), key=lambda kv: kv[1]["p99_ms"] or 0, default=None)
    v.add(
        "duplicates.page",
        f"A duplicate page for a {TARGET_LEADS:,}-lead base ≤ 200 ms",
        f"p99 {_n(worst[1]['p99_ms'])} ms (by {worst[0]}) among {n:,}" if worst else "not measured",
        [check("p99", worst[1]["p99_ms"] if worst else None, "≤", 200.0, " ms")],
        LIMITS["pages"],
    )
    up = sec.get("upkeep")
    v.add(
        "duplicates.upkeep",
        "Incremental upkeep of the duplicate index on a lead change ≤ 1 ms",
        f"{_n(up['upkeep_ms'])} ms per change" if up else "not measured",
        [check("", up["upkeep_ms"] if up else None, "≤", 1.0, " ms")],
        "",
    )
    ls = sec.get("lists")
    slowest = max((ls or {}).get("worst_ms", {}).items(), key=lambda kv: kv[1], default=None)
    v.add(
        "duplicates.lists",
        f"Lists with filters over {TARGET_LEADS:,} leads: first page p99 ≤ 100 ms, next pages (keyset) the same",
        f"p99 {_n(ls['first']['p99_ms'])} / {_n(ls['later']['p99_ms'])} ms among {n:,}"
        if ls
        else "not measured",
        [
            check("first", ls["first"]["p99_ms"] if ls else None, "≤", 100.0, " ms"),
            check("later", ls["later"]["p99_ms"] if ls else None, "≤", 100.0, " ms"),
        ],
        f"the slowest: {slowest[0]} ({_n(slowest[1])} ms)" if slowest else "",
    )
    m = sec.get("merge")
    v.add(
        "duplicates.merge",
        "Merge of a lead with 1,000 dialogs ≤ 1 s; undo the same",
        f"merge {_n(m['merge_s'] * 1000)} ms, undo {_n(m['undo_s'] * 1000)} ms" if m else "not measured",
        [
            check("merge", m["merge_s"] if m else None, "≤", 1.0, " s"),
            check("undo", m["undo_s"] if m else None, "≤", 1.0, " s"),
        ],
        "",
    )
    return v.rows
