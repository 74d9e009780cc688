"""A visitor writes in the widget, an operator answers from the console, the lead keeps the transcript."""

from __future__ import annotations

import asyncio

import orjson

from tests.conftest import PASSWORD, config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


async def test_visitor_message_reaches_operator_and_answer_comes_back(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    visitor = await d.visitor("support")
    assert visitor.hello is not None and visitor.hello["dialog_id"] is None and visitor.hello["history"] == []

    ack = await visitor.say("Hello, is the bike in stock?")
    offered = await anna.expect("dialog.offered")
    dialog_id = offered["dialog_id"]
    assert offered["dialog"]["state"] == "offered" and offered["dialog"]["offered_to"] == ["anna"]
    msg = await anna.expect("message", lambda f: f["dialog_id"] == dialog_id)
    assert msg["message"]["text"] == "Hello, is the bike in stock?"
    assert msg["message"]["id"] == ack["id"]
    assert msg["message"]["author"]["kind"] == "customer"

    # answering an offered dialog takes it
    await anna.reply(dialog_id, "Yes, in all sizes.")
    assigned = await anna.expect("dialog.assigned", lambda f: f["dialog_id"] == dialog_id)
    assert assigned["operator"] == "anna"
    answer = await visitor.expect("message")
    assert answer["text"] == "Yes, in all sizes."
    assert answer["author"] == {"kind": "operator", "name": "Anna"}

    history = await anna.get(f"/api/dialogs/{dialog_id}/messages")
    assert [m["text"] for m in history["messages"]] == ["Hello, is the bike in stock?", "Yes, in all sizes."]
    mine = await anna.get("/api/dialogs?state=mine")
    assert [x["id"] for x in mine["dialogs"]] == [dialog_id]

    # the lead: created for the new visitor, editable, and anna became its responsible
    lead_id = assigned["dialog"]["lead"]["id"]
    lead = await anna.get(f"/api/leads/{lead_id}")
    assert lead["status"] == "new" and lead["responsible"] == "anna"
    status, lead = await anna.patch(
        f"/api/leads/{lead_id}",
        {
            "name": "Ivan Sidorov",
            "phone": "8 (916) 123-45-67",
            "email": " Ivan@Example.com ",
            "status": "in_progress",
        },
    )
    assert status == 200
    assert (lead["name"], lead["phone"], lead["email"], lead["status"]) == (
        "Ivan Sidorov",
        "+79161234567",
        "ivan@example.com",
        "in_progress",
    )
    status, err = await anna.patch(f"/api/leads/{lead_id}", {"status": "bogus"})
    assert status == 400 and err["code"] == "unknown_status"

    # closing puts the transcript on the lead's card
    await anna.send({"type": "close", "dialog_id": dialog_id})
    closed = await anna.expect("dialog.closed", lambda f: f["dialog_id"] == dialog_id)
    assert closed["dialog"]["state"] == "closed"
    card = await anna.get(f"/api/leads/{lead_id}")
    assert len(card["dialogs"]) == 1
    transcript = card["dialogs"][0]["transcript"]
    assert [(m["author"]["kind"], m["text"]) for m in transcript] == [
        ("customer", "Hello, is the bike in stock?"),
        ("operator", "Yes, in all sizes."),
    ]
    found = await anna.get("/api/leads?query=sidorov")
    assert [x["id"] for x in found["leads"]] == [lead_id]


async def test_a_console_that_takes_batches_gets_the_frames_of_one_batch_in_one_frame(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    admin = await d.operator("admin")  # a console that did not ask for batches: one frame at a time
    async with d.session.post(f"{d.base}/api/login", json={"login": "anna", "password": PASSWORD}) as r:
        token = (await r.json())["token"]
    anna = await d.session.ws_connect(
        f"{d.base}/api/console/ws?batch=1", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        visitor = await d.visitor("support")
        await visitor.say("anyone?")  # one engine batch: for anna the offer and the message
        batches: list[list[dict]] = []
        async with asyncio.timeout(5):
            while not batches:
                frame = orjson.loads((await anna.receive()).data)
                assert frame["type"] in ("hello", "presence", "batch"), frame
                if frame["type"] == "batch":
                    batches.append(frame["frames"])
        (frames,) = batches
        assert [f["type"] for f in frames] == ["dialog.offered", "message"]
        assert frames[0]["dialog_id"] == frames[1]["dialog_id"]
        assert frames[1]["message"]["text"] == "anyone?"
        message = await admin.expect("message")  # the same message frame, alone
        assert message == frames[1]
        assert not any(f.get("type") == "batch" for f in admin.frames)
    finally:
        await anna.close()
