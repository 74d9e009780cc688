"""PURE: the rows of a lead's history (`lead_events`): every change of its status or responsible, who made it (None:
the routing), when, from → to, and the words given with it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from crm_core.ids import new_id

KINDS = ("status", "responsible")


def history_row(
    lead_id: str, kind: str, before: Any, after: Any, *, by: str | None, reason: str | None, at: datetime
) -> dict[str, Any]:
    """One change, as a `lead_events` row."""
    return {
        "id": new_id(),
        "lead_id": lead_id,
        "kind": kind,
        "from_value": before,
        "to_value": after,
        "by": by,
        "reason": reason,
        "at": at,
    }


def history_of(
    lead_id: str,
    before: Mapping[str, Any],
    fields: Mapping[str, Any],
    *,
    by: str | None,
    at: datetime,
    reason: str | None = None,
    reason_on: Collection[str] = ("status",),
) -> list[dict[str, Any]]:
    """The rows for the status and responsible these fields change on a lead that had `before`; `reason` goes with
    the kinds of `reason_on` (the console's words go with a status change; a merge's with both)."""
    return [
        history_row(
            lead_id,
            kind,
            before.get(kind),
            fields[kind],
            by=by,
            at=at,
            reason=reason if kind in reason_on else None,
        )
        for kind in KINDS
        if kind in fields and fields[kind] != before.get(kind)
    ]
