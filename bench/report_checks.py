"""What the issue's targets are judged by: their sizes, one bound checked against a measured value, a target's
verdict from its checks."""

from __future__ import annotations

from typing import Any

from bench.report_format import factor as _x
from bench.report_format import number as _n

# The targets. Each is met only when all of its checks are; `goal` is the bound, `op` its direction.
TARGET_RATE = 1000.0  # msg/s offered, for the latency and CPU target
TARGET_CONNECTIONS = 10_000
TARGET_CONTACTS = 1_000_000


def offered(results: dict[str, Any]) -> tuple[float, str]:
    """The offered rate the latency and CPU targets are judged at (a run without TARGET_RATE: its highest), and
    the note the measured values carry when it is not TARGET_RATE."""
    rates = sorted(float(x) for x in str(results["plan"]["rates"]).split(",") if x)
    rate = TARGET_RATE if TARGET_RATE in rates or not rates else rates[-1]
    at = "" if rate == TARGET_RATE else f" at {rate:,.0f} msg/s offered"
    return rate, at


def check(label: str, value: float | None, op: str, goal: float, unit: str) -> dict[str, Any]:
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


class Verdicts:
    """The targets judged so far, in the table's order."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, tid: str, target: str, measured: str, checks: list[dict[str, Any]], limit: str) -> None:
        """One target: met when all of its checks are, None when one was not measured; the limiting factor only
        when missed."""
        verdicts = [c["met"] for c in checks]
        met = None if None in verdicts else all(verdicts)
        by = "; ".join((f"{c['label']} " if c["label"] else "") + c["by"] for c in checks)
        self.rows.append(
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
