"""The report's shorthand for numbers, ratios and phases, shared by its tables (the modules import them under
their short private names: `_n`, `_ratio`, `_phase`, `_lat`, `_div`, `_x`)."""

from __future__ import annotations

from typing import Any

DIRECTIONS = {"forward": "visitor → operator", "back": "operator → visitor"}


def number(x: float | None, unit: str = "") -> str:
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


def ratio(value: float | None, ref: float | None) -> str:
    """value / ref as text: 0.56×, 1,038×; n/a without both."""
    if value is None or ref is None or ref == 0:
        return "n/a"
    r = value / ref
    return f"{r:.2f}×" if r < 10 else f"{r:,.0f}×"


def factor(x: float) -> str:
    """A factor: 1.7×, 18.5×, 1,038×."""
    return f"{x:.1f}×" if x < 100 else f"{x:,.0f}×"


def phase(section: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A load run's phase by name (`forward@saturation`, `back@1000`), None when it did not run."""
    for p in section.get("phases", []):
        if p["phase"] == name:
            return dict(p)
    return None


def latency(p: dict[str, Any] | None) -> str:
    """A phase's p50 / p99 / max."""
    if p is None or p.get("p50_ms") is None:
        return "n/a"
    return f"{number(p['p50_ms'])} / {number(p['p99_ms'])} / {number(p['max_ms'])} ms"


def div(a: float | None, b: float | None) -> float | None:
    """a / b, None without both (or when b is 0)."""
    return a / b if a is not None and b else None
