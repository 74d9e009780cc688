"""Roles and visibility: operators see their lines' queue, their offers, their dialogs and leads; admins all."""

from __future__ import annotations

import pytest

from tests.conftest import config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


@pytest.fixture
async def two_lines(tmp_path, start_daemon):
    """support: anna; sales: vera. A support dialog assigned to anna with a lead anna is responsible for."""
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna"]), line("sales", ["vera"])]))
    )
    anna, vera, admin = await d.operator("anna"), await d.operator("vera"), await d.operator("admin")
    v = await d.visitor("support")
    await v.say("where is my order?")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.reply(dialog_id, "checking")
    assigned = await anna.expect("dialog.assigned")
    return d, anna, vera, admin, v, dialog_id, assigned["dialog"]["lead"]["id"]


async def _status(op, method, path, body=None):
    async with op.session.request(method, f"{op.base}{path}", json=body, headers=op.headers) as r:
        return r.status, await r.json()


async def test_rest_endpoints_refuse_the_wrong_operator_with_403(two_lines):
    d, anna, vera, admin, v, dialog_id, lead_id = two_lines
    for method, path, body in (
        ("GET", f"/api/dialogs/{dialog_id}", None),
        ("GET", f"/api/dialogs/{dialog_id}/messages", None),
        ("GET", f"/api/leads/{lead_id}", None),
        ("PATCH", f"/api/leads/{lead_id}", {"name": "stolen"}),
    ):
        status, body_ = await _status(vera, method, path, body)
        assert (status, body_["code"]) == (403, "forbidden"), (method, path)
        status, _ = await _status(anna, method, path, body if method == "GET" else {"name": "Ivan"})
        assert status == 200, (method, path)
        status, _ = await _status(admin, method, path, body if method == "GET" else {"name": "Ivan"})
        assert status == 200, (method, path)
    # lists: vera sees nothing of support; anna sees her dialog; the admin sees it too
    for state in ("open", "mine", "queued", "offered", "closed"):
        assert (await vera.get(f"/api/dialogs?state={state}"))["dialogs"] == [], state
    assert [x["id"] for x in (await anna.get("/api/dialogs?state=open"))["dialogs"]] == [dialog_id]
    assert [x["id"] for x in (await admin.get("/api/dialogs?state=open"))["dialogs"]] == [dialog_id]
    assert (await vera.get("/api/leads"))["leads"] == []
    assert [x["id"] for x in (await anna.get("/api/leads"))["leads"]] == [lead_id]
    assert [x["id"] for x in (await admin.get("/api/leads"))["leads"]] == [lead_id]


async def test_console_commands_refuse_the_wrong_operator(two_lines):
    d, anna, vera, admin, v, dialog_id, lead_id = two_lines
    for frame in (
        {"type": "take", "dialog_id": dialog_id},
        {"type": "reply", "dialog_id": dialog_id, "client_msg_id": "x1", "text": "hi"},
        {"type": "close", "dialog_id": dialog_id},
        {"type": "transfer", "dialog_id": dialog_id, "to_operator": "vera"},
    ):
        await vera.send(frame)
        err = await vera.expect("error")
        assert err["code"] == "forbidden", frame
    await vera.send({"type": "skip", "dialog_id": dialog_id})
    assert (await vera.expect("error"))["code"] == "not_offered"
    await vera.absent("message", wait=0.2)  # vera was never sent the dialog's messages
    assert await d.daemon.store.count("messages") == 2


async def test_operator_cannot_hand_over_a_lead_they_do_not_own(two_lines):
    d, anna, vera, admin, v, dialog_id, lead_id = two_lines
    status, _ = await _status(admin, "PATCH", f"/api/leads/{lead_id}", {"responsible": "vera"})
    assert status == 200
    # anna still sees the lead through her open dialog, but it is vera's now: she cannot give it away
    status, body = await _status(anna, "PATCH", f"/api/leads/{lead_id}", {"responsible": "anna"})
    assert (status, body["code"]) == (403, "forbidden")


async def test_admin_takes_over_and_transfers_any_dialog(two_lines):
    d, anna, vera, admin, v, dialog_id, lead_id = two_lines
    await admin.send({"type": "take", "dialog_id": dialog_id})
    taken = await admin.expect("dialog.assigned", lambda f: f["operator"] == "admin")
    assert taken["dialog_id"] == dialog_id
    moved = await anna.expect("dialog.assigned", lambda f: f["operator"] == "admin")  # it left anna's list
    assert moved["dialog_id"] == dialog_id
    await admin.reply(dialog_id, "the admin answers")
    assert (await v.expect("message", lambda f: f["text"] == "the admin answers"))["author"][
        "name"
    ] == "Alice Admin"
    await admin.send({"type": "transfer", "dialog_id": dialog_id, "to_operator": "vera"})
    assert (await vera.expect("dialog.assigned", lambda f: f["operator"] == "vera"))["dialog_id"] == dialog_id
    status, _ = await _status(vera, "GET", f"/api/dialogs/{dialog_id}/messages")
    assert status == 200  # now hers: visible


async def test_operators_see_the_queue_of_their_lines_only(tmp_path, start_daemon):
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna"]), line("sales", ["vera"])]))
    )
    vera = await d.operator("vera")
    anna = await d.operator("anna", online=False)
    await anna.send({"type": "presence", "status": "away"})
    v = await d.visitor("support")
    await v.say("nobody online in support")
    queued = await anna.expect("dialog.queued")
    await vera.absent("dialog.queued", wait=0.3)
    assert [x["id"] for x in (await anna.get("/api/dialogs?state=queued"))["dialogs"]] == [
        queued["dialog_id"]
    ]
    assert (await vera.get("/api/dialogs?state=queued"))["dialogs"] == []
    status, body = await _status(vera, "GET", f"/api/dialogs/{queued['dialog_id']}")
    assert (status, body["code"]) == (403, "forbidden")
