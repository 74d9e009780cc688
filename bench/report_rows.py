"""The README table's rows as the sections add them: each as text (figure, value, reference, ratio) and as
numbers (latest.json's `figures`); the rows every section shares."""

from __future__ import annotations

from typing import Any

from bench.report_format import number as _n


class Rows:
    """The rows added so far, in the table's order."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
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
        """One row: its cells, and its numbers (the value, the reference, their ratio and `more`)."""
        numbers = {
            "key": key,
            "figure": figure,
            "unit": unit,
            "value": num,
            "reference": ref,
            "ratio": num_ratio,
            **more,
        }
        self.rows.append(
            {"figure": figure, "value": value, "reference": reference, "ratio": ratio, "numbers": numbers}
        )


def cap_note(results: dict[str, Any], mine: dict[str, Any] | None, v: float | None) -> str:
    """Saturated throughput at the generator's own cap says so."""
    cap = mine.get("offered_cap_per_s") if mine else None
    if not cap or v is None or v < 0.95 * cap:
        return ""
    if not results["plan"].get("max_rate"):
        return " (at the generator's cap: 18 frames/s per widget connection)"
    return f" (at the generator's cap: {_n(cap)} msg/s)"


def error_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """A row per section that broke: not measured, and why."""
    table = Rows()
    add = table.add
    for name, sec in results["sections"].items():
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
    return table.rows
