"""PURE: which operator(s) a waiting dialog is offered to, by the line's mode, capacity and presence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

Mode = Literal["even", "sequential", "all"]
_EPOCH = datetime.min.replace(tzinfo=UTC)  # never offered anything: longest ago of all


@dataclass(frozen=True, slots=True)
class OperatorState:
    """What routing needs to know about one operator right now."""

    login: str
    online: bool
    open_dialogs: int
    max_dialogs: int
    pending_offers: int = 0
    last_offered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class QueueState:
    """The line's queue as seen by one waiting dialog."""

    queue: tuple[str, ...]
    offer_timeout: timedelta
    excluded: frozenset[str] = frozenset()  # skipped it or let the offer lapse in this round
    last_offered: str | None = None  # where the sequential round continues from
    preferred: str | None = None  # the lead's responsible (sticky), tried first


@dataclass(frozen=True, slots=True)
class Choice:
    """The operators to offer the dialog to, and until when they may take it."""

    operators: tuple[str, ...]
    deadline: datetime


def load(op: OperatorState, mode: Mode) -> int:
    """Open dialogs, plus outstanding offers where an offer reserves a slot (every mode but `all`)."""
    return op.open_dialogs + (op.pending_offers if mode != "all" else 0)


def is_eligible(op: OperatorState | None, mode: Mode) -> bool:
    """Online and below `max_dialogs`."""
    return op is not None and op.online and load(op, mode) < op.max_dialogs


def choose_operator(
    queue: QueueState, operators: Mapping[str, OperatorState], mode: Mode, now: datetime
) -> Choice | None:
    """Pick whom to offer the dialog to; None means it waits in the queue."""
    deadline = now + queue.offer_timeout
    pref = queue.preferred
    if pref is not None and pref not in queue.excluded and is_eligible(operators.get(pref), mode):
        return Choice((pref,), deadline)
    candidates = [
        login
        for login in queue.queue
        if login not in queue.excluded and is_eligible(operators.get(login), mode)
    ]
    if not candidates:
        return None
    if mode == "all":
        return Choice(tuple(candidates), deadline)
    if mode == "even":
        order = {login: i for i, login in enumerate(queue.queue)}

        def fairness(login: str) -> tuple[int, datetime, int]:
            op = operators[login]
            # fewest open dialogs, then the one who was offered a dialog longest ago, then queue order
            return load(op, mode), op.last_offered_at or _EPOCH, order[login]

        return Choice((min(candidates, key=fairness),), deadline)
    # sequential: the next operator after the last one offered, in queue order, wrapping round
    start = queue.queue.index(queue.last_offered) + 1 if queue.last_offered in queue.queue else 0
    rotated = queue.queue[start:] + queue.queue[:start]
    chosen = next(login for login in rotated if login in candidates)
    return Choice((chosen,), deadline)
