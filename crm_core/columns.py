"""What the batch writers (crm_core/pg_batch.py, crm_core/sqlite_batch.py) need to know of a table's columns to
store a row as SQLAlchemy's insert would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _called(fn: Callable[[Any], Any]) -> Callable[[], Any]:
    return lambda: fn(None)  # SQLAlchemy passes the execution context, which our defaults do not use


def python_defaults(table: Table) -> tuple[tuple[str, Callable[[], Any]], ...]:
    """The columns with a Python-side default, and a function giving the value SQLAlchemy's insert would fill in."""
    out: list[tuple[str, Callable[[], Any]]] = []
    for c in table.columns:
        if c.default is None:
            continue
        if getattr(c.default, "is_scalar", False):
            out.append((str(c.name), _constant(c.default.arg)))  # type: ignore[attr-defined]
        elif getattr(c.default, "is_callable", False):
            out.append((str(c.name), _called(c.default.arg)))  # type: ignore[attr-defined]
    return tuple(out)
