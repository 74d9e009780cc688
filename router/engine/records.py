"""Dialogs between their pure form (router/rules/dialogs.py) and their rows in the store."""

from __future__ import annotations

from typing import Any

from router.rules.dialog import Dialog

_FIELDS = Dialog.__dataclass_fields__


def dialog_row(d: Dialog, now: Any) -> dict[str, Any]:
    """The store row of a dialog (lists for the JSON columns)."""
    row = {name: getattr(d, name) for name in _FIELDS}
    row["offered_to"] = list(d.offered_to)
    row["excluded"] = sorted(d.excluded)
    row["updated_at"] = now
    return row


def dialog_from_row(row: dict[str, Any]) -> Dialog:
    """A dialog from its store row."""
    kwargs = {name: row[name] for name in _FIELDS if name in row}
    kwargs["offered_to"] = tuple(row.get("offered_to") or ())
    kwargs["excluded"] = frozenset(row.get("excluded") or ())
    return Dialog(**kwargs)
