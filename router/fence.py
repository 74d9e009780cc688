"""Several router workers: the holds and assignment records a batch must secure in Redis before it commits.

The protocol (docs/architecture.md, "Several router workers"), per batch of a worker that owns the batch's
partitions:

1. Read every operator's presence and load from the shared state (one round trip); decide the batch (pure).
2. Capacity: every slot the batch newly gives an operator (an offer in `even`/`sequential` mode, an assignment)
   is reserved on that operator's key by one Lua step that refuses past `max_dialogs`. Two workers racing for
   the last slot: one of them is refused, releases what it reserved, re-reads the loads and decides again.
3. Ownership: every dialog the batch changes gets a compare-and-set of its record on its partition's key
   (``openlines:inbound:{p}:assign``: a sequence number, the state and the operators), expecting the record
   this worker last wrote or read. A worker that lost its partition while it stalled finds the new owner's
   record and gives the batch up (no ack: the new owner handles it) — so one dialog is never given to two
   operators by two workers, and a stale copy of a dialog never overwrites a newer one.
4. Commit to the database; on failure both steps are undone (releases, the records set back).
5. After the commit, the slots the batch gave up (an offer passed on, a dialog closed) are released; releasing
   bumps an epoch that tells every worker to offer its backlog again.

Each atomic step is on one key (one operator's key, one partition's key), so it runs on Redis Cluster without
CROSSSLOT errors. What it does not cover: a worker that stalls for longer than the lease *between* step 3 and
its commit may commit once more after the new owner has read the database; the leases (5 s by default) make
that window the length of a stall, not of a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from router.dialogs import ASSIGNED, CLOSED, OFFERED, Dialog
from router.shared_load import Hold, SharedLoad


def holds_of(d: Dialog | None, mode_of: Callable[[str], str]) -> set[Hold]:
    """The slots a dialog takes: its operator's, and each offered operator's where an offer reserves one."""
    if d is None or d.state == CLOSED:
        return set()
    if d.state == ASSIGNED and d.operator:
        return {Hold(d.operator, d.id, "assigned")}
    if d.state == OFFERED and mode_of(d.line_id) != "all":
        return {Hold(login, d.id, "offered") for login in d.offered_to}
    return set()


def record(d: Dialog, previous: str | None) -> str | None:
    """The dialog's record on its partition: a sequence number against ABA, then who has it; None once closed."""
    if d.state == CLOSED:
        return None
    seq = int(previous.split("|", 1)[0]) + 1 if previous else 1
    return f"{seq}|{d.state}|{d.operator or ''}|{','.join(d.offered_to)}"


@dataclass
class Fence:
    """What one batch secured, so it can be released or undone."""

    reserved: list[Hold] = field(default_factory=list)
    # slots that changed kind (an offer taken): undone by setting the old kind back, never by a release, which
    # would drop a slot the operator still holds
    replaced: dict[Hold, Hold] = field(default_factory=dict)
    now: datetime | None = None
    records: list[tuple[int, str, str | None, str | None]] = field(default_factory=list)  # p, id, old, new
    gone: list[Hold] = field(default_factory=list)


class Conflict(Exception):
    """Another worker changed a dialog or took the last slot first: re-read and decide again."""


async def secure(
    shared: SharedLoad,
    before: Mapping[str, Dialog],
    after: Mapping[str, Dialog],
    versions: dict[str, str],
    *,
    partition: Callable[[Dialog], int],
    mode_of: Callable[[str], str],
    limit: Callable[[Hold, Dialog], int | None],
    now: datetime,
) -> Fence:
    """Steps 2 and 3 for the dialogs a batch changed (`after`); raises Conflict after undoing its own steps."""
    fence = Fence(now=now)
    new: list[tuple[Hold, Dialog]] = []
    for dialog_id, d in after.items():
        old, now_holds = holds_of(before.get(dialog_id), mode_of), holds_of(d, mode_of)
        new += [(h, d) for h in sorted(now_holds - old, key=_order)]
        fence.gone += sorted(old - now_holds, key=_order)
        prior = {h.login: h for h in old}
        fence.replaced.update({h: prior[h.login] for h in now_holds - old if h.login in prior})
    try:
        for hold, d in new:
            if not await shared.reserve(hold, limit(hold, d), now):
                raise Conflict(f"{hold.login} has no free slot for {hold.dialog_id}")
            fence.reserved.append(hold)
        wanted = []
        for dialog_id, d in after.items():
            old_record = versions.get(dialog_id)
            wanted.append((partition(d), dialog_id, old_record, record(d, old_record)))
        done = await shared.cas_many(wanted)  # one round trip for the batch
        fence.records += [w for w, ok in zip(wanted, done, strict=True) if ok]
        if not all(done):
            lost = next(w[1] for w, ok in zip(wanted, done, strict=True) if not ok)
            raise Conflict(f"dialog {lost} was changed by another worker")
    except BaseException:
        await undo(shared, fence)
        raise
    for _, dialog_id, _, new_record in fence.records:
        if new_record is None:
            versions.pop(dialog_id, None)
        else:
            versions[dialog_id] = new_record
    return fence


async def undo(shared: SharedLoad, fence: Fence, versions: dict[str, str] | None = None) -> None:
    """The commit failed (or a later step did): set the records back and release the new slots."""
    for p, dialog_id, old_record, new_record in reversed(fence.records):
        await shared.cas_assignment(p, dialog_id, new_record, old_record)
        if versions is not None:
            if old_record is None:
                versions.pop(dialog_id, None)
            else:
                versions[dialog_id] = old_record
    fence.records.clear()
    for hold in fence.reserved:
        if hold in fence.replaced:
            assert fence.now is not None
            await shared.reserve(fence.replaced[hold], None, fence.now)
    await shared.release([h for h in fence.reserved if h not in fence.replaced])
    fence.reserved.clear()


async def read_versions(
    shared: SharedLoad, dialogs: Iterable[Dialog], partition: Callable[[Dialog], int]
) -> dict[str, str]:
    """The current records of the dialogs a worker just took charge of."""
    by_partition: dict[int, list[str]] = {}
    for d in dialogs:
        by_partition.setdefault(partition(d), []).append(d.id)
    out: dict[str, str] = {}
    for p, ids in by_partition.items():
        out.update(await shared.assignments(p, ids))
    return out


def _order(h: Hold) -> tuple[str, str, str]:
    return h.login, h.dialog_id, h.kind
