"""router/cluster/fence.py on the in-memory twin of the shared load: what a batch secures, and how a failed batch is
undone without touching slots it did not give."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from router.cluster import fence
from router.cluster.memory_load import MemorySharedLoad
from router.cluster.shared_load import Hold
from router.rules.dialog import ASSIGNED, CLOSED, OFFERED, QUEUED, Dialog

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def dialog(
    dialog_id: str, state: str, *, operator: str | None = None, offered: tuple[str, ...] = ()
) -> Dialog:
    return Dialog(
        dialog_id, "site", "lead", "ident", "widget", "site", f"chat-{dialog_id}", state, NOW,
        operator=operator, offered_to=offered,
    )  # fmt: skip


def even(_: str) -> str:
    return "even"


async def secure(
    shared: MemorySharedLoad, before: dict[str, Dialog], after: dict[str, Dialog]
) -> fence.Fence:
    return await fence.secure(shared, before, after, mode_of=even, limit=lambda h, d: 2, now=NOW)


async def slots(shared: MemorySharedLoad, login: str) -> dict[str, str]:
    return {h.dialog_id: h.kind for h, _ in await shared.holds([login])}


async def test_an_offer_and_its_assignment_take_one_slot_and_a_close_gives_it_back() -> None:
    shared = MemorySharedLoad()
    q = dialog("d1", QUEUED)
    offered = replace(q, state=OFFERED, offered_to=("anna",))
    await secure(shared, {"d1": q}, {"d1": offered})
    assert await slots(shared, "anna") == {"d1": "offered"}
    taken = replace(offered, state=ASSIGNED, operator="anna", offered_to=())
    f = await secure(shared, {"d1": offered}, {"d1": taken})
    await shared.release(f.gone)  # after the commit: the old "offered" slot must not drop the assignment
    assert await slots(shared, "anna") == {"d1": "assigned"}
    f = await secure(shared, {"d1": taken}, {"d1": replace(taken, state=CLOSED)})
    await shared.release(f.gone)
    assert await slots(shared, "anna") == {}


async def test_a_full_operator_refuses_a_new_slot_and_the_batch_undoes_what_it_reserved() -> None:
    shared = MemorySharedLoad()
    for n in ("a", "b"):
        assert await shared.reserve(Hold("anna", n, "assigned"), 2, NOW)
    before = {"d1": dialog("d1", QUEUED), "d2": dialog("d2", QUEUED)}
    after = {"d1": replace(before["d1"], state=OFFERED, offered_to=("boris",)),
             "d2": replace(before["d2"], state=OFFERED, offered_to=("anna",))}  # fmt: skip
    with pytest.raises(fence.Conflict):
        await secure(shared, before, after)
    assert await slots(shared, "boris") == {}, "the slot reserved before the refusal is given back"
    assert await slots(shared, "anna") == {"a": "assigned", "b": "assigned"}


async def test_undoing_a_taken_offer_restores_the_offer_slot_instead_of_dropping_it() -> None:
    shared = MemorySharedLoad()
    offered = dialog("d1", OFFERED, offered=("anna",))
    assert await shared.reserve(Hold("anna", "d1", "offered"), 2, NOW)
    taken = replace(offered, state=ASSIGNED, operator="anna", offered_to=())
    f = await secure(shared, {"d1": offered}, {"d1": taken})
    assert await slots(shared, "anna") == {"d1": "assigned"}
    await fence.undo(shared, f)  # the commit failed
    assert await slots(shared, "anna") == {"d1": "offered"}, "anna still holds the slot of the offer"


async def test_a_batch_that_changes_no_slot_reserves_nothing() -> None:
    shared = MemorySharedLoad()
    taken = dialog("d1", ASSIGNED, operator="anna")
    assert await shared.reserve(Hold("anna", "d1", "assigned"), 2, NOW)
    f = await secure(shared, {"d1": taken}, {"d1": replace(taken, last_message_text="more")})
    assert f.reserved == [] and f.gone == []
    assert await slots(shared, "anna") == {"d1": "assigned"}
