"""Several router workers keep one queue order per line: a slot an operator frees goes to the dialog that has
waited longest, whichever worker holds it and whichever worker reacts first. Two engines on one store and one
shared load, each holding only the dialogs it opened (as two workers with their own partitions)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from crm_core.ids import new_id
from crm_core.store import Store
from queues.memory import MemoryBus
from queues.messages import InboundMessage, OperatorCommand, SenderProfile
from router.cluster.memory_load import MemorySharedLoad
from router.engine.core import Engine
from router.engine.shared import FAIR_GRACE_S
from router.rules.fairness import Waiting
from tests.conftest import FakeClock, config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
TS = "2026-12-05T12:00:00Z"


def said(chat_id: str, text: str) -> InboundMessage:
    return InboundMessage(
        new_id(), "widget", "support", chat_id, f"{chat_id}:{new_id()}", text, TS, SenderProfile("V")
    )


def command(name: str, dialog_id: str) -> OperatorCommand:
    return OperatorCommand(new_id(), "anna", name, dialog_id, TS)


class Workers:
    """Two router workers sharing the store and the shared load; anna takes `slots` dialogs at a time."""

    def __init__(self, tmp: Path, store: Store, slots: int = 1) -> None:
        ops = [{"login": "admin", "name": "Admin", "role": "admin"}, {"login": "anna", "name": "Anna"}]
        self.settings = settings_from(tmp, config(tmp, [line("support", ["anna"], max_dialogs=slots)], ops))
        self.shared = MemorySharedLoad()
        self.clock = FakeClock(NOW)
        self.a = Engine(self.settings, store, MemoryBus(), self.clock, consumer="a", shared=self.shared)
        self.b = Engine(self.settings, store, MemoryBus(), self.clock, consumer="b", shared=self.shared)
        self.store = store

    async def start(self) -> None:
        await self.shared.set_presence("anna", "online")
        for e in (self.a, self.b):
            e.routing.owned = None  # no partitions on a memory bus: each holds what it opened itself
            await e._reload()

    async def open(self, worker: Engine, chat_id: str) -> str:
        """A customer writes; the worker opens (and routes) the dialog. Returns its id."""
        self.clock.advance(seconds=1)
        before = set(worker.state.dialogs)
        await worker.handle([said(chat_id, f"hello from {chat_id}")])
        (dialog_id,) = set(worker.state.dialogs) - before
        return dialog_id

    async def state(self, dialog_id: str) -> tuple[str, tuple[str, ...]]:
        row = await self.store.get_dialog(dialog_id)
        assert row is not None
        return row["state"], tuple(row["offered_to"])

    async def busy_anna(self, chat_id: str = "v0") -> str:
        """Anna takes a dialog at worker b (whose close will free the slot there, not at worker a)."""
        first = await self.open(self.b, chat_id)
        await self.b.handle([command("take", first)])
        assert await self.state(first) == ("assigned", ())
        return first


async def test_a_freed_slot_goes_to_the_dialog_waiting_longest_at_any_worker(
    tmp_path: Path, store: Store
) -> None:
    w = Workers(tmp_path, store)
    await w.start()
    first = await w.busy_anna()
    older = await w.open(w.a, "v1")  # waits at worker a
    newer = await w.open(w.b, "v2")  # waits at worker b, a second later
    assert await w.state(older) == ("queued", ())
    assert await w.state(newer) == ("queued", ())

    # anna closes her dialog at worker b, which offers its queued dialogs in the same batch: its dialog waited
    # less than worker a's, so it stays queued, and worker a offers its own when it sees the slot freed
    await w.b.handle([command("close", first)])
    assert await w.state(newer) == ("queued", ())
    await w.a.handle([], nudge=True)
    assert await w.state(older) == ("offered", ("anna",))


async def test_a_new_dialog_does_not_jump_ahead_of_one_waiting_at_another_worker(
    tmp_path: Path, store: Store
) -> None:
    w = Workers(tmp_path, store)
    await w.start()
    first = await w.busy_anna()
    waiting = await w.open(w.a, "v1")
    await w.b.handle([command("close", first)])
    # before worker a offers its queued dialog, a new customer writes to worker b
    fresh = await w.open(w.b, "v2")
    assert await w.state(fresh) == ("queued", ())
    await w.a.handle([], nudge=True)
    assert await w.state(waiting) == ("offered", ("anna",))


async def test_with_slots_for_both_the_younger_dialog_is_not_held_back(tmp_path: Path, store: Store) -> None:
    w = Workers(tmp_path, store, slots=2)
    await w.start()
    first, second = await w.busy_anna("v0"), await w.busy_anna("v9")
    older = await w.open(w.a, "v1")
    assert await w.state(older) == ("queued", ())
    await w.b.handle([command("close", first), command("close", second)])  # two slots free, one dialog waits
    fresh = await w.open(w.b, "v2")
    assert await w.state(fresh) == ("offered", ("anna",))
    await w.a.handle([], nudge=True)
    assert await w.state(older) == ("offered", ("anna",))


async def test_an_entry_whose_worker_never_places_it_holds_others_up_only_for_the_grace(
    tmp_path: Path, store: Store
) -> None:
    w = Workers(tmp_path, store)
    await w.start()
    first = await w.busy_anna()
    await w.open(w.a, "v1")  # waits at worker a, which then stalls (never reacts)
    newer = await w.open(w.b, "v2")
    await w.b.handle([command("close", first)])
    assert await w.state(newer) == ("queued", ())
    await asyncio.sleep(FAIR_GRACE_S + 0.2)
    await w.b._shared_tick()  # the grace ran out: worker b routes its dialog on its own
    assert await w.state(newer) == ("offered", ("anna",))


async def test_a_dialog_held_back_once_still_yields_to_older_ones_later(tmp_path: Path, store: Store) -> None:
    w = Workers(tmp_path, store, slots=2)
    await w.start()
    first, second = await w.busy_anna("v0"), await w.busy_anna("v9")
    older = [await w.open(w.a, "v1"), await w.open(w.a, "v2")]  # two dialogs wait at worker a ...
    newer = await w.open(w.b, "v3")  # ... before this one at worker b
    await w.b.handle([command("close", first)])
    assert await w.state(newer) == ("queued", ())
    await w.a.handle([], nudge=True)
    assert await w.state(older[0]) == ("offered", ("anna",))
    await asyncio.sleep(FAIR_GRACE_S + 0.2)  # longer than the grace: it is not a pass for later slots
    await w.b.handle([command("close", second)])
    assert await w.state(newer) == ("queued", ())
    await w.a.handle([], nudge=True)
    assert await w.state(older[1]) == ("offered", ("anna",))


async def test_an_entry_whose_removal_was_lost_is_swept_out_of_the_order(
    tmp_path: Path, store: Store
) -> None:
    w = Workers(tmp_path, store)
    await w.start()
    await w.busy_anna()
    waiting = await w.open(w.a, "v1")
    close = OperatorCommand(new_id(), "admin", "close", waiting, TS)
    await w.a.handle([close])  # an admin closes it while it waits: its entry is removed ...
    row = await store.get_dialog(waiting)
    assert row is not None and row["state"] == "closed"
    lost = Waiting(NOW, waiting, "support")
    await w.shared.set_waiting([lost], [])  # ... but say that removal was lost (a crash after the commit)
    assert w.b.worker is not None
    await w.b.worker.refresh_loads()
    assert w.b.routing.order.waiting["support"] == [lost]
    await w.b._shared_tick()  # the first tick sweeps (and later ones every SWEEP_EVERY)
    assert (await w.shared.load([], ["support"])).waiting == {"support": []}
