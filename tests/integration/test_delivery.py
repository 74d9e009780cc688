"""Every outbound message has a delivery state, pushed to the console; what was not delivered is sent again."""

from __future__ import annotations

from sqlalchemy import update

from crm_core.models import messages
from tests.conftest import config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


async def test_reply_is_reported_sent_to_the_console(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.say("hi")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    ack = await anna.reply(dialog_id, "hello!")
    # the widget delivers what is stored (pushed to the visitor's tabs, in their history later): the reply is
    # stored `sent`, its message frame says so, and its message.status comes with it, once
    frame = await anna.expect("message", lambda f: f["message"]["id"] == ack["id"])
    assert frame["message"]["delivery"] == {"state": "sent", "error": None}
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert (status["state"], status["error"], status["dialog_id"]) == ("sent", None, dialog_id)
    await v.expect("message", lambda f: f["text"] == "hello!")
    await anna.absent("message.status", lambda f: f["message_id"] == ack["id"], wait=0.3)
    msgs = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"]
    assert [m["delivery"] for m in msgs] == [None, {"state": "sent", "error": None}]
    await anna.reply(dialog_id, "a note for colleagues", visibility="internal")
    await anna.absent("message.status", wait=0.3)  # internal notes go nowhere
    await v.absent("message", lambda f: f["text"] == "a note for colleagues", wait=0.1)


async def test_a_message_still_queued_at_restart_is_sent_again(tmp_path, start_daemon):
    settings = settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])]))
    d = await start_daemon(settings)
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.say("hi")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    ack = await anna.reply(dialog_id, "this one got lost")
    await anna.expect("message", lambda f: f["message"]["id"] == ack["id"])
    await d.daemon.stop()
    # as if the process had died after the commit but before the channel confirmed
    async with d.daemon.store.engine.begin() as conn:
        await conn.execute(update(messages).where(messages.c.id == ack["id"]).values(delivery_state="queued"))
    await d.daemon.store.close()

    d2 = await start_daemon(settings)
    v2 = await d2.visitor("support", token=v.token)
    anna2 = await d2.operator("anna")
    msgs = (await anna2.get(f"/api/dialogs/{dialog_id}/messages"))["messages"]
    for _ in range(50):
        msgs = (await anna2.get(f"/api/dialogs/{dialog_id}/messages"))["messages"]
        if msgs[-1]["delivery"]["state"] == "sent":
            break
        await v2.absent("nothing", wait=0.05)
    assert msgs[-1]["delivery"] == {"state": "sent", "error": None}
    assert await d2.daemon.store.count("messages") == 2  # re-sent, not stored twice


async def test_metrics_count_messages_offers_and_dialogs(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.say("one")
    await v.say("two")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.reply(dialog_id, "answer")
    await anna.expect("message.status")
    async with d.session.get(f"{d.base}/metrics") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    lines = set(text.splitlines())
    assert 'openlines_messages_in_total{channel="widget"} 2.0' in lines
    assert 'openlines_messages_out_total{author="operator",channel="widget"} 1.0' in lines
    assert 'openlines_offers_total{line="support"} 1.0' in lines
    assert 'openlines_offer_take_seconds_count{line="support"} 1.0' in lines
    assert 'openlines_queue_wait_seconds_count{line="support"} 1.0' in lines
    assert 'openlines_dialogs{line="support",state="assigned"} 1.0' in lines
    assert 'openlines_operators{presence="online"} 1.0' in lines
