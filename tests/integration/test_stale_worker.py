"""Two router workers that both think they own a conversation (one lost its partition while it stalled): the
store refuses the stale one's write of a dialog the other changed, so nothing the owner did is overwritten; the
stale worker reads the dialogs again and decides its batch on what is stored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from crm_core.ids import new_id
from crm_core.store import Store
from queues.memory import MemoryBus
from queues.messages import InboundMessage, OperatorCommand, SenderProfile
from router.cluster.memory_load import MemorySharedLoad
from router.engine.core import Engine
from tests.conftest import FakeClock, config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def said(text: str) -> InboundMessage:
    return InboundMessage(
        new_id(),
        "widget",
        "support",
        "v1",
        f"v1:{new_id()}",
        text,
        "2026-12-04T12:00:00Z",
        SenderProfile("Ivan"),
    )


async def test_a_stale_worker_cannot_overwrite_a_dialog_the_owner_changed(
    tmp_path: Path, store: Store
) -> None:
    settings = settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])]))
    shared = MemorySharedLoad()
    await shared.set_presence("anna", "online")
    clock = FakeClock(NOW)
    owner = Engine(settings, store, MemoryBus(), clock, consumer="owner", shared=shared)
    stale = Engine(settings, store, MemoryBus(), clock, consumer="stale", shared=shared)
    for e in (owner, stale):
        e.routing.owned = None  # both believe they own every partition
    await owner._reload()
    await owner.handle([said("hello")])
    (dialog_id,) = owner.state.dialogs
    await stale._reload()  # the stale worker read the dialog: offered to anna, version 0
    assert stale.state.dialogs[dialog_id].state == "offered"
    take = OperatorCommand(new_id(), "anna", "take", dialog_id, "2026-12-04T12:00:01Z")
    await owner.handle([take])  # the owner gives it to anna
    await stale.handle(
        [said("are you there?")]
    )  # decided on the old copy: refused, read again, decided again
    row = await store.get_dialog(dialog_id)
    assert row is not None
    assert row["state"] == "assigned" and row["operator"] == "anna", "the assignment was not overwritten"
    assert row["last_message_text"] == "are you there?"
    assert row["version"] == 2  # created (0), taken by the owner (1), the stale batch decided again (2)
    assert [m["text"] for m in await store.dialog_messages([dialog_id])] == ["hello", "are you there?"]
    assert stale.state.dialogs[dialog_id].state == "assigned"
    assert {h.dialog_id: h.kind for h, _ in await shared.holds(["anna"])} == {dialog_id: "assigned"}
