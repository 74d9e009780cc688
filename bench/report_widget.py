"""The widget's size against issue 19's goal: what a page loads before the chat opens, ≤ 30 KB gzipped."""

from __future__ import annotations

from typing import Any

from bench.report_checks import Verdicts, check
from bench.widget_size import GOAL_KB


def widget_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row: the loader and its strings, gzipped, against the goal."""
    sec = results["sections"].get("widget") or {}
    total = sec.get("before_open_gzip")
    kb = total / 1024 if isinstance(total, int) else None
    files = sec.get("files") or {}
    detail = ", ".join(
        f"{n} {v['bytes'] / 1024:.1f} KB ({v['gzip'] / 1024:.1f} KB gzip)" for n, v in files.items()
    )
    verdicts = Verdicts()
    verdicts.add(
        "widget.size",
        f"The widget: what a page loads before the chat opens ≤ {GOAL_KB:g} KB gzipped (issue 19)",
        f"{kb:.1f} KB gzipped ({detail})" if kb is not None else "not measured",
        [check("", kb, "≤", GOAL_KB, " KB")],
        "the loader carries the whole widget (panel, history, files, rating), not only the launcher",
    )
    return verdicts.rows
