"""The supervisor's live board: every open dialog by operator and by line, with waiting times, each operator's load
against their capacity, and presence. Pure: the web side loads the dialogs and the presences."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Seat:
    """An operator as the board lists them: their lines and their capacity in each."""

    login: str
    name: str
    role: str
    lines: tuple[str, ...]
    capacity: Mapping[str, int]  # line -> max open dialogs


def waiting_seconds(d: Mapping[str, Any], now: datetime) -> float | None:
    """How long the customer has been waiting: since the dialog was queued (or opened) while nobody has it; since
    their last message while it is unanswered in an operator's hands; None when nobody waits."""
    if d["state"] in ("queued", "offered"):
        since = d.get("queued_since") or d.get("created_at")
    elif d.get("last_message_author") == "customer":
        since = d.get("last_message_at")
    else:
        return None
    return max(0.0, (now - since).total_seconds()) if since is not None else None


def positive(score: int, scale: str | None) -> bool:
    """Whether a rating is a good one: a like, or 4 and 5 of five (the usual customer-satisfaction cut)."""
    return score >= 4 if scale == "five" else score >= 1


@dataclass(frozen=True, slots=True)
class Recent:
    """Closed dialogs of the last hours, by line, operator and rating (crm_core.board_reads.closed_since rows)."""

    rows: tuple[Mapping[str, Any], ...] = ()
    scales: Mapping[str, str | None] = field(
        default_factory=dict
    )  # line -> its rating scale (None: no rating)

    def figures(self, *, operator: str | None = None, line: str | None = None) -> dict[str, Any]:
        """`closed`, `rated` and `positive` of an operator's or a line's dialogs."""
        rows = [r for r in self.rows if (operator is None or r["operator"] == operator)]
        rows = [r for r in rows if line is None or r["line_id"] == line]
        rated = [r for r in rows if r["rating"] is not None]
        good = sum(r["dialogs"] for r in rated if positive(r["rating"], self.scales.get(r["line_id"])))
        return {
            "closed": sum(r["dialogs"] for r in rows),
            "rated": sum(r["dialogs"] for r in rated),
            "positive": good,
        }


def board(
    dialogs: Iterable[Mapping[str, Any]],
    seats: Iterable[Seat],
    presence: Mapping[str, str],
    lines: Mapping[str, str],
    now: datetime,
    recent: Recent | None = None,
    queue: Mapping[str, tuple[int, datetime | None]] | None = None,
) -> dict[str, Any]:
    """The board: `operators` (presence, open dialogs, capacity, the longest wait among theirs), `lines` (dialogs
    by state, the longest wait), `dialogs` (each one's id, line, state, operator, guests and wait), longest wait
    first; with `recent`, each operator and line also has `recent` {closed, rated, positive} and each line its
    `rating_scale` and `rating_average` (on its own scale, None before the first rating). With `queue` (per line:
    how many dialogs are queued, since when the first waits) the queue's figures are those, also when `dialogs`
    holds only the longest-waiting part of it; `queued_not_listed` says how many queued dialogs are not listed."""
    recent = recent or Recent()
    open_dialogs = [d for d in dialogs if d["state"] != "closed"]
    waits = {d["id"]: waiting_seconds(d, now) for d in open_dialogs}

    def longest(ids: Iterable[str]) -> float | None:
        known = [w for i in ids if (w := waits.get(i)) is not None]
        return max(known) if known else None

    operators = []
    for s in seats:
        mine = [d["id"] for d in open_dialogs if d.get("operator") == s.login and d["state"] == "assigned"]
        offered = [d["id"] for d in open_dialogs if s.login in (d.get("offered_to") or ())]
        operators.append(
            {
                "login": s.login,
                "name": s.name,
                "role": s.role,
                "presence": presence.get(s.login, "offline"),
                "lines": list(s.lines),
                "open_dialogs": len(mine),
                "offers": len(offered),
                "capacity": max(s.capacity.values(), default=None),  # None: in no line's queue
                "longest_wait_seconds": longest(mine),
                "dialogs": mine,
                "recent": recent.figures(operator=s.login),
            }
        )
    by_line = []
    for line_id, name in lines.items():
        here = [d for d in open_dialogs if d["line_id"] == line_id]
        counts = {st: sum(1 for d in here if d["state"] == st) for st in ("queued", "offered", "assigned")}
        wait = longest(d["id"] for d in here)
        if queue is not None:
            counts["queued"], first = queue.get(line_id, (0, None))
            if first is not None:
                wait = max(wait or 0.0, (now - first).total_seconds())
        rated = [r for r in recent.rows if r["line_id"] == line_id and r["rating"] is not None]
        votes = sum(r["dialogs"] for r in rated)
        by_line.append(
            {
                "id": line_id,
                "name": name,
                **counts,
                "longest_wait_seconds": wait,
                "recent": recent.figures(line=line_id),
                "rating_scale": recent.scales.get(line_id),
                "rating_average": (
                    round(sum(r["rating"] * r["dialogs"] for r in rated) / votes, 2) if votes else None
                ),
            }
        )
    rows = [
        {
            "id": d["id"],
            "line_id": d["line_id"],
            "state": d["state"],
            "operator": d.get("operator"),
            "offered_to": list(d.get("offered_to") or ()),
            "invited": list(d.get("invited") or ()),
            "customer_name": d.get("lead_name") or d.get("customer_name") or "",
            "channel": d.get("channel"),
            "waiting_seconds": waits[d["id"]],
        }
        for d in open_dialogs
    ]
    rows.sort(key=lambda r: (r["waiting_seconds"] is None, -(r["waiting_seconds"] or 0.0)))
    listed = sum(1 for d in open_dialogs if d["state"] == "queued")
    hidden = max(0, sum(n for n, _ in queue.values()) - listed) if queue is not None else 0
    return {"operators": operators, "lines": by_line, "dialogs": rows, "queued_not_listed": hidden}
