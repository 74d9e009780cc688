"""Several router workers: one queue order per line across all of them, so a freed slot goes to the dialog that has
waited longest, whichever worker holds it.

Each worker keeps only its own partitions' dialogs, so without a shared order a slot freed by an operator went to
whichever worker reacted first. The shared order (`router/cluster/shared_load.py`, the line's waiting set) lets a worker
see the dialogs that wait at the others: before it routes a waiting or new dialog, it counts the dialogs that wait
longer on the same line; when they would take every free slot, it leaves its dialog queued and their owners place
theirs. Pure: the line's waiting order, the worker's own dialogs and the operators' state in, the operators as this
dialog may see them out.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from router.rules.dialog import QUEUED, Dialog, LinePolicy
from router.rules.distribution import OperatorState, is_eligible, load


@dataclass(frozen=True, slots=True, order=True)
class Waiting:
    """A dialog waiting in its line's queue with nobody offered it; entries sort oldest first."""

    since: datetime  # when it started waiting (the dialog's queued_since)
    dialog_id: str
    line_id: str = field(compare=False)


def free_slots(line: LinePolicy, ops: Mapping[str, OperatorState]) -> int:
    """Slots the line's operators could take a dialog into right now."""
    free = 0
    for login in line.queue:
        op = ops.get(login)
        if op is not None and is_eligible(op, line.mode):
            free += op.max_dialogs - load(op, line.mode)
    return free


def waiting_ahead(
    entries: Iterable[Waiting],
    since: datetime,
    dialog_id: str,
    own: Mapping[str, Dialog],
    skip: Container[str],
    enough: int,
) -> list[str]:
    """The dialogs that wait longer than this one, oldest first (up to `enough`): the other workers' entries, and
    this worker's own that still wait. A dialog already given a slot may linger in the order until its owner's
    removal lands: those are in `skip` (with entries the caller no longer trusts), or ours and no longer queued."""
    me = (since.replace(microsecond=since.microsecond // 1000 * 1000), dialog_id)  # the order keeps ms
    ahead: list[str] = []
    for w in entries:
        if (w.since, w.dialog_id) >= me or len(ahead) >= enough:
            break
        if w.dialog_id == dialog_id or w.dialog_id in skip:
            continue
        d = own.get(w.dialog_id)
        if d is not None and d.state != QUEUED:
            continue
        ahead.append(w.dialog_id)
    return ahead


def held_back_by(
    line: LinePolicy,
    ops: Mapping[str, OperatorState],
    entries: Iterable[Waiting],
    since: datetime,
    dialog_id: str,
    own: Mapping[str, Dialog],
    skip: Container[str],
) -> list[str]:
    """The dialogs that have waited longer on the line and would take every free slot, so this one must wait;
    empty when it need not (`all` mode holds no slots for offers, so its order is the operators' to choose)."""
    if line.mode == "all":
        return []
    free = free_slots(line, ops)
    if free <= 0:
        return []
    ahead = waiting_ahead(entries, since, dialog_id, own, skip, free)
    return ahead if len(ahead) >= free else []


def waiting_changes(
    before: Mapping[str, Dialog], after: Mapping[str, Dialog], now: datetime
) -> tuple[list[Waiting], list[Waiting]]:
    """What a committed batch changes in the shared order: (added, removed). A dialog that started waiting (or
    moved to another line) goes in; one that was placed, closed or moved comes out of its old line's order."""
    add: list[Waiting] = []
    remove: list[Waiting] = []
    for dialog_id, d in after.items():
        old = before.get(dialog_id)
        was = old is not None and old.state == QUEUED
        waits = d.state == QUEUED
        if old is not None and was and (not waits or old.line_id != d.line_id):
            remove.append(Waiting(old.queued_since or now, dialog_id, old.line_id))
        if waits and (
            not was or old is None or old.line_id != d.line_id or old.queued_since != d.queued_since
        ):
            add.append(Waiting(d.queued_since or now, dialog_id, d.line_id))
    return add, remove


def resync(
    own: Mapping[str, Dialog], seen: Mapping[str, list[Waiting]], now: datetime
) -> tuple[list[Waiting], list[Waiting]]:
    """Setting the shared order straight for a worker's own dialogs: (every one that waits, the entries `seen` of
    its dialogs that no longer wait)."""
    waiting = [Waiting(d.queued_since or now, d.id, d.line_id) for d in own.values() if d.state == QUEUED]
    stale = [w for ws in seen.values() for w in ws if w.dialog_id in own and own[w.dialog_id].state != QUEUED]
    return waiting, stale


def lost(
    entries: Iterable[Waiting], rows: Mapping[str, Mapping[str, Any]], mine: Container[str]
) -> list[Waiting]:
    """The entries of the shared order that outlived their dialog's wait (a removal lost to a crash), among
    entries of dialogs that are not open in this worker's memory: their stored `rows` by id, and which of those
    are of this worker's partitions. A dialog gone from the store is lost; one that no longer waits is lost when
    it is ours (another worker's may not have written its removal yet, and it sees to its own)."""
    return [
        w
        for w in entries
        if (row := rows.get(w.dialog_id)) is None or (row["state"] != QUEUED and w.dialog_id in mine)
    ]


class Taken(Mapping[str, OperatorState]):
    """The operators as a dialog that must wait sees them: nobody can take it now."""

    def __init__(self, ops: Mapping[str, OperatorState]) -> None:
        self._ops = ops

    def __getitem__(self, login: str) -> OperatorState:
        return replace(self._ops[login], online=False)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ops)

    def __len__(self) -> int:
        return len(self._ops)
