"""What must survive: reloads, returning visitors, duplicate deliveries and daemon restarts."""

from __future__ import annotations

import asyncio

from tests.conftest import config, line, settings_from
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


async def test_reload_keeps_the_conversation(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    v = await d.visitor("support")
    ack = await v.say("before reload")
    offer = await anna.expect("dialog.offered")
    await anna.reply(offer["dialog_id"], "an answer")
    await v.expect("message")
    await v.close()
    again = await d.visitor("support", token=v.token)  # the browser kept the token
    assert again.hello is not None
    assert again.hello["visitor_token"] == v.token
    assert again.hello["dialog_id"] == offer["dialog_id"]
    history = again.hello["history"]
    assert [(m["author"]["kind"], m["text"]) for m in history] == [
        ("customer", "before reload"),
        ("operator", "an answer"),
    ]
    assert history[0]["id"] == ack["id"] and history[0]["client_msg_id"] == ack["client_msg_id"]


async def test_returning_visitor_gets_a_new_dialog_on_the_same_lead(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.say("first question")
    first = await anna.expect("dialog.offered")
    await anna.reply(first["dialog_id"], "answered")
    await anna.send({"type": "close", "dialog_id": first["dialog_id"]})
    await anna.expect("dialog.closed")
    await v.close()
    back = await d.visitor("support", token=v.token)
    assert back.hello is not None and back.hello["dialog_id"] is None  # the old dialog is closed
    await back.say("second question")
    second = await anna.expect("dialog.offered", timeout=3)
    assert second["dialog_id"] != first["dialog_id"]
    lead_id = first["dialog"]["lead"]["id"]
    assert second["dialog"]["lead"]["id"] == lead_id
    card = await anna.get(f"/api/leads/{lead_id}")
    assert len(card["identities"]) == 1
    assert {x["id"] for x in card["dialogs"]} == {first["dialog_id"], second["dialog_id"]}


async def test_duplicate_client_msg_id_is_stored_once(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    v = await d.visitor("support")
    first = await v.say("only once", client_msg_id="m-1")
    again = await v.say("only once", client_msg_id="m-1")  # a resend after a lost ack
    assert again["id"] == first["id"]
    offer = await anna.expect("dialog.offered")
    # and an operator's reply resent with the same client_msg_id
    r1 = await anna.reply(offer["dialog_id"], "one answer", client_msg_id="r-1")
    r2 = await anna.reply(offer["dialog_id"], "one answer", client_msg_id="r-1")
    assert r1["id"] == r2["id"]
    msgs = await anna.get(f"/api/dialogs/{offer['dialog_id']}/messages")
    assert [m["text"] for m in msgs["messages"]] == ["only once", "one answer"]
    assert await d.daemon.store.count("messages") == 2


async def test_a_resent_message_of_a_closed_dialog_opens_nothing(tmp_path, start_daemon):
    # the engine takes a batch's messages as new first: this resend opens a dialog in memory, its commit
    # finds the stored key, and the batch's changes are undone before it is decided again
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    v = await d.visitor("support")
    first = await v.say("hello", client_msg_id="m-1")
    offer = await anna.expect("dialog.offered")
    await anna.send({"type": "take", "dialog_id": offer["dialog_id"]})
    await anna.expect("dialog.assigned")
    await anna.send({"type": "close", "dialog_id": offer["dialog_id"]})
    await anna.expect("dialog.closed")
    assert d.daemon.engine is not None
    engine = d.daemon.engine
    assert not engine.state.dialogs and engine.state.offer_count["anna"] == 0
    again = await v.say("hello", client_msg_id="m-1")  # the ack was lost: the browser sends it again
    assert again["id"] == first["id"]
    await anna.absent("dialog.offered")
    assert not engine.state.dialogs and not engine.state.by_conversation
    assert engine.state.offer_count["anna"] == 0 and engine.state.open_count["anna"] == 0
    assert await d.daemon.store.count("messages") == 1
    assert await d.daemon.store.count("dialogs") == 1
    later = await v.say("a new question", client_msg_id="m-2")  # and the conversation goes on as usual
    assert later["id"] != first["id"]
    assert (await anna.expect("dialog.offered"))["dialog_id"] != offer["dialog_id"]


async def test_restart_keeps_dialogs_leads_and_pending_offers(tmp_path, start_daemon):
    settings = settings_from(
        tmp_path, config(tmp_path, [line("sales", ["anna", "boris"], mode="sequential", offer_timeout="2s")])
    )
    d = await start_daemon(settings)
    anna = await d.operator("anna")
    boris = await d.operator("boris")
    v = await d.visitor("sales")
    await v.say("please call me")
    offer = await anna.expect("dialog.offered")
    dialog_id = offer["dialog_id"]
    token = v.token
    await d.daemon.stop()

    d2 = await start_daemon(settings)
    assert d2.daemon.engine is not None
    resumed = d2.daemon.engine.state.dialogs[dialog_id]
    assert resumed.state == "offered" and resumed.offered_to == ("anna",)
    boris = await d2.operator("boris")
    anna = await d2.operator("anna")
    # anna's stored offer still runs out, and the round continues with boris
    passed = await boris.expect("dialog.offered", lambda f: f["dialog_id"] == dialog_id, timeout=5)
    assert passed["dialog"]["offered_to"] == ["boris"]
    await boris.send({"type": "take", "dialog_id": dialog_id})
    await boris.expect("dialog.assigned")
    v2 = await d2.visitor("sales", token=token)
    assert v2.hello is not None and v2.hello["dialog_id"] == dialog_id
    assert [m["text"] for m in v2.hello["history"]] == ["please call me"]
    lead = await boris.get(f"/api/leads/{offer['dialog']['lead']['id']}")
    assert lead["responsible"] == "boris"


async def test_what_was_committed_but_not_published_is_published_from_the_outbox(
    tmp_path, start_daemon, monkeypatch, request
):
    # a durable bus (Redis) that goes away right after a batch's commit; the in-process bus cannot (it is the
    # process), so the engine writes no outbox for it
    data = config(tmp_path, [line("support", ["anna"])])
    data["queue"] = {"backend": "redis", "url": request.getfixturevalue("redis_url")}
    d = await start_daemon(settings_from(tmp_path, data))
    anna = await d.operator("anna")
    v = await d.visitor("support")
    engine = d.daemon.engine
    assert engine is not None
    real = engine.bus.enqueue
    failed = []

    def away_once(items, encoded=None):
        if not failed and all(
            stream != "inbound" for stream, _, _ in items
        ):  # the engine's publish, not the widget's
            # the queue went away right after the batch's commit
            failed.append(len(items))
            lost = asyncio.get_running_loop().create_future()
            lost.set_exception(ConnectionError("the queue is away"))
            return lost
        return real(items, encoded)

    monkeypatch.setattr(engine.bus, "enqueue", away_once)
    ack = await v.say("was it stored?")  # acked only once the outbox row was published after all
    message = await anna.expect("message")
    assert message["message"]["id"] == ack["id"]
    assert failed and failed[0] >= 2  # the receipt and the console frames of that batch
    assert await d.daemon.store.count("messages") == 1
    for _ in range(50):  # the published rows are deleted with a later batch or when the engine is idle
        if not await d.daemon.store.pending_outbox():
            break
        await asyncio.sleep(0.1)
    assert await d.daemon.store.pending_outbox() == []
