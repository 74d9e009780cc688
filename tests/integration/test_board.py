"""The supervisor's board over REST (GET /api/admin/board): admins only, every open dialog with its wait, each
operator's load and presence as the router and the consoles see them."""

from __future__ import annotations

import asyncio

from tests.conftest import config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


async def test_an_admin_sees_loads_waits_and_presence_and_an_operator_may_not(tmp_path, start_daemon):
    lines = [line("support", ["anna", "boris"], max_dialogs=4), line("sales", ["vera"])]
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines)))
    anna, admin = await d.operator("anna"), await d.operator("admin")
    v = await d.visitor("support")
    await v.say("hello")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned")
    w = await d.visitor("sales")  # vera is offline: it waits in the queue
    await w.say("a price, please?")

    got = await admin.get("/api/admin/board")
    ops = {o["login"]: o for o in got["operators"]}
    assert (ops["anna"]["presence"], ops["anna"]["open_dialogs"], ops["anna"]["capacity"]) == ("online", 1, 4)
    assert ops["anna"]["dialogs"] == [dialog_id] and ops["anna"]["longest_wait_seconds"] is not None
    assert ops["vera"]["presence"] == "offline" and ops["vera"]["open_dialogs"] == 0
    by_line = {ln["id"]: ln for ln in got["lines"]}
    assert by_line["support"]["assigned"] == 1 and by_line["sales"]["queued"] == 1
    states = {r["line_id"]: r["state"] for r in got["dialogs"]}
    assert states == {"support": "assigned", "sales": "queued"}
    assert all(r["waiting_seconds"] is not None and r["waiting_seconds"] >= 0 for r in got["dialogs"])

    async with anna.session.get(f"{anna.base}/api/admin/board", headers=anna.headers) as r:
        assert r.status == 403 and (await r.json())["code"] == "forbidden"

    # anna closes hers: it leaves the board and counts among her last day's closed dialogs (not rated: no rating)
    await anna.send({"type": "close", "dialog_id": dialog_id})
    await anna.expect("dialog.closed")
    got = await admin.get("/api/admin/board")
    ops = {o["login"]: o for o in got["operators"]}
    assert ops["anna"]["open_dialogs"] == 0 and ops["anna"]["recent"] == {
        "closed": 1,
        "rated": 0,
        "positive": 0,
    }
    assert ops["boris"]["recent"] == {"closed": 0, "rated": 0, "positive": 0}
    by_line = {ln["id"]: ln for ln in got["lines"]}
    assert by_line["support"]["recent"]["closed"] == 1 and by_line["support"]["rating_scale"] is None
    assert [r["line_id"] for r in got["dialogs"]] == ["sales"]


async def test_a_long_queue_is_counted_whole_and_its_longest_waiting_are_listed(
    tmp_path, start_daemon, monkeypatch
):
    from router.web import board_api

    monkeypatch.setattr(board_api, "QUEUED_SHOWN", 2)
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("sales", ["vera"])])))
    admin = await d.operator("admin")
    order = []
    for n in range(4):  # vera is offline: every one waits in the queue, the first longest
        v = await d.visitor("sales")
        await v.say(f"question {n}")
        for _ in range(100):
            rows = await d.daemon.store.list_dialogs(states=["queued"])
            if len(rows) == n + 1:
                break
            await asyncio.sleep(0.05)
        order.append(next(r["id"] for r in rows if r["id"] not in order))
    got = await admin.get("/api/admin/board")
    [sales] = got["lines"]
    assert sales["queued"] == 4 and got["queued_not_listed"] == 2
    assert [r["id"] for r in got["dialogs"]] == order[:2]  # the two that wait longest
    assert sales["longest_wait_seconds"] >= got["dialogs"][0]["waiting_seconds"]
