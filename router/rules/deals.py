"""PURE: a deal's moves through its pipeline: which fields a stage needs (the seed's mandatory fields per stage),
what is missing for a move, and what a move changes (closed or open again)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

# a deal's own fields a stage may require, and the columns that hold them
BUILTIN_COLUMNS = {
    "title": "title",
    "amount": "amount",  # minor units
    "contact": "contact_id",
    "company": "company_id",
    "responsible": "responsible",
    "request": "request",
}


class StageSpec(Protocol):
    """A stage of a pipeline (router/app/deal_settings.Stage)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def required(self) -> list[str]: ...


@dataclass(frozen=True)
class Move:
    """What moving a deal to a stage sets: the stage, when it closed (None: open), and whether it was won."""

    stage: str
    closed_at: datetime | None
    won: bool | None


class MoveRefused(Exception):
    """A move the pipeline does not allow: a code, a readable reason, and the fields still to fill."""

    def __init__(self, code: str, message: str, missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.missing = list(missing)


def required_for(stages: Sequence[StageSpec], stage_id: str) -> list[str]:
    """The fields a deal needs filled to be in this stage: a working stage needs its own and every earlier working
    stage's (a move that skips stages skips none of their fields); won needs every working stage's and its own;
    a lost stage only its own (a reason, say)."""
    target = next((s for s in stages if s.id == stage_id), None)
    if target is None:
        return []
    if target.kind == "lost":
        return list(dict.fromkeys(target.required))
    out: list[str] = []
    for s in stages:
        if s.kind == "work":
            out += s.required
        if s.id == stage_id:
            break
    if target.kind == "won":
        out += [f for s in stages if s.kind == "work" for f in s.required] + target.required
    return list(dict.fromkeys(out))


def filled(deal: Mapping[str, Any], field: str) -> bool:
    """Whether the deal has this field (its own or custom) filled: not empty, a number given (0 included)."""
    column = BUILTIN_COLUMNS.get(field)
    value = deal.get(column) if column else (deal.get("fields") or {}).get(field)
    return value is not None and value != "" and value != []


def missing_for(stages: Sequence[StageSpec], deal: Mapping[str, Any], stage_id: str) -> list[str]:
    """The fields still empty that this stage needs, in the pipeline's order."""
    return [f for f in required_for(stages, stage_id) if not filled(deal, f)]


def move(stages: Sequence[StageSpec], deal: Mapping[str, Any], stage_id: str, now: datetime) -> Move:
    """Move a deal to a stage of its pipeline; MoveRefused when the stage is unknown or fields are missing."""
    target = next((s for s in stages if s.id == stage_id), None)
    if target is None:
        known = ", ".join(s.id for s in stages)
        raise MoveRefused("unknown_stage", f"stage must be one of {known}")
    missing = missing_for(stages, deal, stage_id)
    if missing:
        raise MoveRefused("required_fields", f"fill in {', '.join(missing)} first", missing)
    if target.kind == "work":
        return Move(stage_id, None, None)
    # a deal already closed keeps the time it closed when moved between closed stages
    closed_at = deal.get("closed_at") or now
    return Move(stage_id, closed_at, target.kind == "won")


def needs_reminder(last_activity: datetime, closed: bool, now: datetime, days: int) -> bool:
    """Whether an open deal (or lead) has had no activity for `days` days (0: reminders off)."""
    return days > 0 and not closed and now - last_activity >= timedelta(days=days)


AMOUNT_MAX = 10**15  # minor units: ten trillion in a currency of hundredths
_AMOUNT = re.compile(r"^(\d{1,13})(?:[.,](\d{1,2}))?$")


def parse_amount(raw: Any) -> int | None:
    """An amount given as a number or a decimal string ("1500", "1 500,5", 99.99) in minor units; None clears it;
    ValueError for anything else (negative, more than two decimals, too big)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise ValueError("amount: a number")
    if isinstance(raw, int):
        text = str(raw)
    elif isinstance(raw, float):
        text = f"{raw:.2f}" if raw == round(raw, 2) else "x"
    elif isinstance(raw, str):
        text = raw.replace(" ", "").replace("\u00a0", "")
    else:
        raise ValueError("amount: a number")
    match = _AMOUNT.match(text)
    if match is None:
        raise ValueError("amount: a number of at most two decimals, not negative")
    minor = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if minor > AMOUNT_MAX:
        raise ValueError("amount: too big")
    return minor
