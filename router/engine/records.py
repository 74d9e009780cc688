"""Dialogs between their pure form (router/rules/dialogs.py) and their rows in the store."""

from __future__ import annotations

from typing import Any

from router.rules.dialog import Dialog, field_values

_FIELDS = Dialog.__dataclass_fields__
_NAMES = tuple(_FIELDS)
_JSON = {"offered_to": list, "excluded": sorted, "invited": list}  # the columns stored as JSON lists


def dialog_row(d: Dialog, now: Any) -> dict[str, Any]:
    """The store row of a dialog (lists for the JSON columns)."""
    row = {name: getattr(d, name) for name in _FIELDS}
    row["offered_to"] = list(d.offered_to)
    row["excluded"] = sorted(d.excluded)
    row["invited"] = list(d.invited)
    row["updated_at"] = now
    return row


def dialog_changes(d: Dialog, before: Dialog, now: Any) -> dict[str, Any]:
    """The update of a stored dialog: its id, the version it was read at, and only the columns that changed (a
    message in an assigned dialog changes three or four of thirty: the rest would be bound and written for
    nothing)."""
    row: dict[str, Any] = {"id": d.id, "version": d.version, "updated_at": now}
    for name, new, old in zip(_NAMES, field_values(d), field_values(before), strict=True):
        if new != old:
            convert = _JSON.get(name)
            row[name] = convert(new) if convert is not None else new  # type: ignore[operator]
    return row


def dialog_from_row(row: dict[str, Any]) -> Dialog:
    """A dialog from its store row."""
    kwargs = {name: row[name] for name in _FIELDS if name in row}
    kwargs["offered_to"] = tuple(row.get("offered_to") or ())
    kwargs["excluded"] = frozenset(row.get("excluded") or ())
    kwargs["invited"] = tuple(row.get("invited") or ())
    return Dialog(**kwargs)
