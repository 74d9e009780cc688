"""Several web processes number an operator's presence changes; two of them may publish in the other order than
they wrote, so the router applies a change only if it is newer than the last it applied."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from crm_core.ids import new_id
from crm_core.store import Store
from queues.memory import MemoryBus
from queues.messages import OperatorPresence
from router.cluster.memory_load import MemorySharedLoad
from router.engine.core import Engine
from tests.conftest import FakeClock, config, line, settings_from

BACKENDS = ("sqlite",)
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def presence(status: str, seq: int) -> OperatorPresence:
    return OperatorPresence(new_id(), "anna", status, "2026-12-05T12:00:00Z", seq)


async def test_a_presence_change_published_after_a_newer_one_is_skipped(tmp_path: Path, store: Store) -> None:
    settings = settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])]))
    shared = MemorySharedLoad()
    engine = Engine(settings, store, MemoryBus(), FakeClock(NOW), shared=shared)
    engine.routing.owned = None
    await engine.recovery.load()
    await engine.handle([presence("online", 1)])
    await engine.handle([presence("offline", 3)])  # her last tab closed (change 3) ...
    await engine.handle([presence("online", 2)])  # ... published before the older change 2 arrived
    assert engine.state.presence["anna"] == "offline"
    assert (await shared.load(["anna"])).presence == {"anna": "offline"}
    await engine.handle([presence("away", 3), presence("online", 4)])  # a repeat is old too; 4 is new
    assert (await shared.load(["anna"])).presence == {"anna": "online"}
    await engine.handle([presence("away", 0)])  # unnumbered (one web process): always applied
    assert engine.state.presence["anna"] == "away"
