"""What channels beyond the widget send: edits, verified phones, files (published on the bus as a connector does)."""

from __future__ import annotations

import aiohttp

from queues.bus import INBOUND, conversation_key
from queues.messages import Attachment, CustomerConsent, InboundMessage, SenderProfile
from tests.conftest import config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


def inbound(external_id: str, text: str, **kw) -> InboundMessage:
    return InboundMessage(
        event_id=external_id,
        channel="widget",
        account="support",
        chat_id="customer-1",
        external_id=external_id,
        text=text,
        ts="2026-11-23T10:00:00.000Z",
        sender=kw.pop("sender", SenderProfile(display_name="Ivan")),
        **kw,
    )


async def publish(d, *events: InboundMessage) -> None:
    for e in events:
        await d.daemon.bus.publish(INBOUND, [e], key=conversation_key(e.channel, e.account, e.chat_id))


async def test_an_edit_replaces_the_text_and_keeps_the_history(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    await publish(d, inbound("c1:7", "I want 2 bikes"))
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    original = (await anna.expect("message"))["message"]
    await publish(d, inbound("c1:7:edit:1", "I want 3 bikes", edit_of="c1:7"))
    edited = await anna.expect("message.edited")
    assert edited["message"]["id"] == original["id"]
    assert edited["message"]["text"] == "I want 3 bikes"
    assert [e["text"] for e in edited["message"]["edits"]] == ["I want 2 bikes"]
    await publish(d, inbound("c1:7:edit:1", "I want 3 bikes", edit_of="c1:7"))  # the same edit redelivered
    await anna.absent("message.edited", wait=0.3)
    msgs = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"]
    assert [(m["text"], m["edited_at"] is not None) for m in msgs] == [("I want 3 bikes", True)]
    assert await d.daemon.store.count("messages") == 1


async def test_a_shared_contact_fills_the_phone_but_never_overwrites_it(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    await publish(d, inbound("c1:1", "hello"))
    lead_id = (await anna.expect("dialog.offered"))["dialog"]["lead"]["id"]
    contact = SenderProfile(display_name="Ivan", phone="8 916 123-45-67")
    await publish(d, inbound("c1:2", "Shared a contact: +79161234567", sender=contact))
    await anna.expect("message", lambda f: "Shared a contact" in f["message"]["text"])
    assert (await anna.get(f"/api/leads/{lead_id}"))["phone"] == "+79161234567"
    other = SenderProfile(display_name="Ivan", phone="+7 999 000-00-00")
    await publish(d, inbound("c1:3", "and my wife's", sender=other))
    await anna.expect("message", lambda f: f["message"]["text"] == "and my wife's")
    assert (await anna.get(f"/api/leads/{lead_id}"))["phone"] == "+79161234567"


async def test_operator_uploads_a_file_and_sends_it_with_a_reply(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna", "vera"])])))
    anna, vera = await d.operator("anna"), await d.operator("vera")
    v = await d.visitor("support")
    await v.say("send me the price list")
    offer = await anna.expect("dialog.offered")
    dialog_id = offer["dialog_id"]
    form = aiohttp.FormData(quote_fields=False)  # as browsers send it
    form.add_field(
        "file", b"%PDF-1.4 price list", filename="prices <2026>.pdf", content_type="application/pdf"
    )
    async with d.session.post(
        f"{d.base}/api/dialogs/{dialog_id}/attachments", data=form, headers=anna.headers
    ) as r:
        assert r.status == 200, await r.text()
        uploaded = await r.json()
    assert (uploaded["name"], uploaded["mime"], uploaded["size"]) == (
        "prices <2026>.pdf",
        "application/pdf",
        19,
    )
    await anna.send(
        {
            "type": "reply",
            "dialog_id": dialog_id,
            "client_msg_id": "f1",
            "text": "",
            "attachments": [uploaded],
        }
    )
    await anna.expect("ack", lambda f: f["client_msg_id"] == "f1")
    msgs = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"]
    sent = msgs[-1]
    assert [a["name"] for a in sent["attachments"]] == ["prices <2026>.pdf"]
    async with d.session.get(f"{d.base}{sent['attachments'][0]['url']}", headers=anna.headers) as r:
        assert r.status == 200
        assert await r.read() == b"%PDF-1.4 price list"
        # never rendered by the browser as one of our pages: a download, sniffing off, sandboxed
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert r.headers["Content-Disposition"].startswith("attachment;")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    async with d.session.get(f"{d.base}{sent['attachments'][0]['url']}", headers=vera.headers) as r:
        assert r.status == 403  # not vera's dialog
    # refs that were never uploaded, and files over the limit, are refused
    await anna.send(
        {
            "type": "reply",
            "dialog_id": dialog_id,
            "client_msg_id": "f2",
            "text": "x",
            "attachments": [{"ref": "nope"}],
        }
    )
    assert (await anna.expect("error"))["code"] == "bad_field"
    async with d.session.post(
        f"{d.base}/api/dialogs/{dialog_id}/attachments",
        data=b"{}",
        headers={**anna.headers, "Content-Type": "application/json"},
    ) as r:
        assert (r.status, (await r.json())["code"]) == (415, "unsupported_media_type")


async def test_an_inbound_file_the_channel_cannot_serve_is_a_404(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    photo = Attachment(name="photo.jpg", mime="image/jpeg", size=1234, ref="AgACAgIAAxkBAAIB")
    await publish(d, inbound("c1:9", "look", attachments=(photo,)))
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    msg = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"][0]
    assert [(a["name"], a["mime"], a["size"], a["ref"]) for a in msg["attachments"]] == [
        ("photo.jpg", "image/jpeg", 1234, "AgACAgIAAxkBAAIB")
    ]
    async with d.session.get(f"{d.base}{msg['attachments'][0]['url']}", headers=anna.headers) as r:
        assert (r.status, (await r.json())["code"]) == (404, "not_found")


async def test_a_customer_who_denied_messages_gets_none_and_the_console_says_why(tmp_path, start_daemon):
    settings = settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])]))
    d = await start_daemon(settings)
    anna = await d.operator("anna")
    await publish(d, inbound("c1:1", "hello"))
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    deny = CustomerConsent("k1", "widget", "support", "customer-1", False, "2026-11-23T10:00:00.000Z")
    await d.daemon.bus.publish(INBOUND, [deny], key=conversation_key("widget", "support", "customer-1"))
    ack = await anna.reply(dialog_id, "are you there?")
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert status["state"] == "failed" and "does not accept messages" in status["error"]
    # remembered across a restart
    await d.daemon.stop()
    d = await start_daemon(settings)
    anna = await d.operator("anna")
    ack = await anna.reply(dialog_id, "still there?")
    assert (await anna.expect("message.status", lambda f: f["message_id"] == ack["id"]))["state"] == "failed"
    allow = CustomerConsent("k2", "widget", "support", "customer-1", True, "2026-11-23T10:05:00.000Z")
    await d.daemon.bus.publish(INBOUND, [allow], key=conversation_key("widget", "support", "customer-1"))
    ack = await anna.reply(dialog_id, "welcome back")
    assert (await anna.expect("message.status", lambda f: f["message_id"] == ack["id"]))["state"] == "sent"


async def test_a_verified_contact_in_another_channel_joins_the_same_lead(tmp_path, start_daemon):
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna"]), line("sales", ["anna"])]))
    )
    anna = await d.operator("anna")
    await publish(d, inbound("c1:1", "hello from the site"))
    lead_id = (await anna.expect("dialog.offered"))["dialog"]["lead"]["id"]
    status, _ = await anna.patch(f"/api/leads/{lead_id}", {"email": "Ivan@Example.com"})
    assert status == 200
    # the same person writes on another channel account whose sender address the channel verified
    mail = InboundMessage(
        event_id="m1",
        channel="widget",
        account="sales",
        chat_id="<thread-1@example.com>",
        external_id="<m1@example.com>",
        text="a mail about the same order",
        ts="2026-11-23T10:00:00.000Z",
        sender=SenderProfile(display_name="Ivan", email="ivan@example.com"),
        sender_id="ivan@example.com",
    )
    await publish(d, mail)
    second = await anna.expect("dialog.offered", lambda f: f["dialog"]["line_id"] == "sales")
    assert second["dialog"]["lead"]["id"] == lead_id
    card = await anna.get(f"/api/leads/{lead_id}")
    assert sorted((i["account"], i["external_id"]) for i in card["identities"]) == [
        ("sales", "ivan@example.com"),
        ("support", "customer-1"),
    ]
    # a second thread from the same address is another conversation, but the same identity and lead
    again = InboundMessage(
        event_id="m2",
        channel="widget",
        account="sales",
        chat_id="<thread-2@example.com>",
        external_id="<m2@example.com>",
        text="and a new question",
        ts="2026-11-23T10:01:00.000Z",
        sender=SenderProfile(display_name="Ivan", email="ivan@example.com"),
        sender_id="ivan@example.com",
    )
    await publish(d, again)
    third = await anna.expect(
        "dialog.offered",
        lambda f: f["dialog_id"] != second["dialog_id"] and f["dialog"]["line_id"] == "sales",
    )
    assert third["dialog"]["lead"]["id"] == lead_id
    assert len((await anna.get(f"/api/leads/{lead_id}"))["identities"]) == 2
