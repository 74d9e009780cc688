"""A poison event (one that always fails) is kept as a dead letter after three deliveries, visible to admins at
GET /api/admin/dead-letters, and does not hold up its conversation; on the memory bus and on Redis."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from crm_core.ids import new_id
from queues.bus import INBOUND, conversation_key
from queues.messages import DialogTimer
from tests.conftest import StartDaemon, config, line, settings_from
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)


@pytest.fixture(params=["memory", "redis"])
def queue(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "memory":
        return {"backend": "memory"}
    return {
        "backend": "redis",
        "url": request.getfixturevalue("redis_url"),
        "partitions": 4,
        "lease_time": "1s",
    }


async def test_a_poison_event_becomes_a_dead_letter_and_its_conversation_keeps_flowing(
    tmp_path: Path, start_daemon: StartDaemon, queue: dict[str, Any]
) -> None:
    data = config(tmp_path, [line("site", ["anna"])])
    data["queue"] = queue
    running = await start_daemon(settings_from(tmp_path, data))
    anna = await running.operator("anna")
    admin = await running.operator("admin")
    visitor = await running.visitor("site")
    await visitor.say("hello")
    offer = await anna.expect("dialog.offered")
    row = await running.daemon.store.get_dialog(offer["dialog_id"])
    key = conversation_key(row["channel"], row["account"], row["chat_id"])
    poison = DialogTimer(new_id(), offer["dialog_id"], "offer_expired", "not-a-date", "2026-11-23T10:00:00Z")
    await running.daemon.bus.publish(INBOUND, [poison], key=key)

    deadline = time.monotonic() + 30
    while not (letters := (await admin.get("/api/admin/dead-letters"))["dead_letters"]):
        assert time.monotonic() < deadline, "no dead letter"
        await asyncio.sleep(0.1)
    [letter] = letters
    assert letter["kind"] == "dialog.timer" and letter["event"]["event_id"] == poison.event_id
    assert letter["event"]["due"] == "not-a-date"
    assert letter["error"].startswith("ValueError") and letter["deliveries"] == 3
    assert letter["stream"] == INBOUND and letter["key"] == key

    # the conversation (same key, same partition) is not blocked behind it
    await visitor.say("still there?")
    got = await anna.expect("message", lambda f: f["message"]["text"] == "still there?")
    assert got["dialog_id"] == offer["dialog_id"]
    assert running.daemon.bus.pending_count(INBOUND, "router") == 0

    async with running.session.get(f"{running.base}/api/admin/dead-letters", headers=anna.headers) as r:
        assert r.status == 403 and (await r.json())["code"] == "forbidden"
    for bad in ("0", "1001", "x"):
        url = f"{running.base}/api/admin/dead-letters?limit={bad}"
        async with running.session.get(url, headers=admin.headers) as r:
            assert r.status == 400 and (await r.json())["code"] == "bad_limit"
    for client in (visitor, anna, admin):
        await client.close()
