"""Several router workers: the operators' slots a batch must secure in Redis before it commits.

The protocol (docs/architecture.md, "Several router workers"), per batch of a worker that owns the batch's
partitions:

1. Read every operator's presence and load from the shared state (one round trip, when the batch decides who
   gets a dialog); decide the batch (pure).
2. Capacity: every slot the batch newly gives an operator (an offer in `even`/`sequential` mode, an assignment)
   is reserved on that operator's key by one Lua step that refuses past `max_dialogs`. Two workers racing for
   the last slot: one of them is refused, releases what it reserved, re-reads the loads and decides again.
3. Ownership: the commit itself. Every dialog row has a version, and the batch's update of a dialog expects the
   version this worker read or last wrote; a worker that lost its partition while it stalled finds a newer one
   (the new owner's write) and its whole transaction fails (`crm_core.store.StaleDialog`): nothing of it is
   written, the slots it reserved are given back, and the batch is not acked — so one dialog is never given to
   two operators by two workers, and a stale copy of a dialog never overwrites a newer one.
4. After the commit, the slots the batch gave up (an offer passed on, a dialog closed) are released; releasing
   bumps an epoch that tells every worker to offer its backlog again.

Each Redis step is on one key (one operator's key), so it runs on Redis Cluster without CROSSSLOT errors; the
ownership check is in the database transaction that writes the batch, so no stall between a check and the
commit can let a stale worker through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from router.cluster.shared_load import Hold, SharedLoad
from router.rules.dialog import ASSIGNED, CLOSED, OFFERED, Dialog


def holds_of(d: Dialog | None, mode_of: Callable[[str], str]) -> set[Hold]:
    """The slots a dialog takes: its operator's, and each offered operator's where an offer reserves one."""
    if d is None or d.state == CLOSED:
        return set()
    if d.state == ASSIGNED and d.operator:
        return {Hold(d.operator, d.id, "assigned")}
    if d.state == OFFERED and mode_of(d.line_id) != "all":
        return {Hold(login, d.id, "offered") for login in d.offered_to}
    return set()


@dataclass
class Fence:
    """What one batch secured, so it can be released or undone."""

    reserved: list[Hold] = field(default_factory=list)
    # slots that changed kind (an offer taken): undone by setting the old kind back, never by a release, which
    # would drop a slot the operator still holds
    replaced: dict[Hold, Hold] = field(default_factory=dict)
    now: datetime | None = None
    gone: list[Hold] = field(default_factory=list)


class Conflict(Exception):
    """Another worker took an operator's last slot first: re-read the loads and decide again."""


async def secure(
    shared: SharedLoad,
    before: Mapping[str, Dialog],
    after: Mapping[str, Dialog],
    *,
    mode_of: Callable[[str], str],
    limit: Callable[[Hold, Dialog], int | None],
    now: datetime,
) -> Fence:
    """Step 2 for the dialogs a batch changed (`after`); raises Conflict after undoing its own reservations."""
    fence = Fence(now=now)
    new: list[tuple[Hold, Dialog]] = []
    for dialog_id, d in after.items():
        old, now_holds = holds_of(before.get(dialog_id), mode_of), holds_of(d, mode_of)
        if old == now_holds:
            continue
        new += [(h, d) for h in sorted(now_holds - old, key=_order)]
        fence.gone += sorted(old - now_holds, key=_order)
        prior = {h.login: h for h in old}
        fence.replaced.update({h: prior[h.login] for h in now_holds - old if h.login in prior})
    try:
        for hold, d in new:
            if not await shared.reserve(hold, limit(hold, d), now):
                raise Conflict(f"{hold.login} has no free slot for {hold.dialog_id}")
            fence.reserved.append(hold)
    except BaseException:
        await undo(shared, fence)
        raise
    return fence


async def undo(shared: SharedLoad, fence: Fence) -> None:
    """The commit failed (or a later step did): release the new slots, set re-kinded ones back."""
    for hold in fence.reserved:
        if hold in fence.replaced:
            assert fence.now is not None
            await shared.reserve(fence.replaced[hold], None, fence.now)
    await shared.release([h for h in fence.reserved if h not in fence.replaced])
    fence.reserved.clear()


def _order(h: Hold) -> tuple[str, str, str]:
    return h.login, h.dialog_id, h.kind
