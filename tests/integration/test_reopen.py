"""An operator reopens a closed dialog to write to its customer again (the `reopen` console command): the same
dialog comes back, theirs; the answer goes out through the customer's channel, and the customer's next message
lands in it. Refused, with a code, when it is not theirs to reopen, still open, or the customer has another."""

from __future__ import annotations

from tests.conftest import config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


def about(dialog_id):
    return lambda f: f.get("dialog_id") == dialog_id


async def closed_dialog(d, anna, v, text="hello"):
    await v.say(text)
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned", about(dialog_id))
    await anna.send({"type": "close", "dialog_id": dialog_id})
    await anna.expect("dialog.closed", about(dialog_id))
    return dialog_id


async def test_an_operator_reopens_a_closed_dialog_and_writes_to_the_customer(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna", "boris"])])))
    anna = await d.operator("anna")
    v = await d.visitor("support")
    dialog_id = await closed_dialog(d, anna, v)

    await anna.send({"type": "reopen", "dialog_id": dialog_id})
    back = await anna.expect("dialog.assigned", about(dialog_id))
    assert back["operator"] == "anna" and back["dialog"]["state"] == "assigned"
    ack = await anna.reply(dialog_id, "We found your parcel!")
    assert ack["dialog_id"] == dialog_id
    got = await v.expect("message", lambda f: f["text"] == "We found your parcel!")
    assert got["dialog_id"] == dialog_id
    # the customer's answer lands in the same dialog
    reply = await v.say("thank you")
    assert reply["dialog_id"] == dialog_id
    await anna.expect(
        "message", lambda f: f["dialog_id"] == dialog_id and f["message"]["text"] == "thank you"
    )
    events = [e["kind"] for e in (await anna.get(f"/api/dialogs/{dialog_id}/events"))["events"]]
    assert events[-3:] == ["closed", "reopened", "assigned"], events

    # an open dialog is answered, not reopened
    await anna.send({"type": "reopen", "dialog_id": dialog_id})
    err = await anna.expect("error", about(dialog_id))
    assert err["code"] == "bad_state"


async def test_reopen_is_refused_when_not_theirs_unknown_or_the_customer_has_another_dialog(
    tmp_path, start_daemon
):
    d = await start_daemon(
        settings_from(
            tmp_path, config(tmp_path, [line("support", ["anna", "boris"]), line("sales", ["vera"])])
        )
    )
    anna, vera = await d.operator("anna"), await d.operator("vera")
    v = await d.visitor("support")
    dialog_id = await closed_dialog(d, anna, v)

    await vera.send({"type": "reopen", "dialog_id": dialog_id})  # another line's operator
    assert (await vera.expect("error", about(dialog_id)))["code"] == "forbidden"
    boris = await d.operator("boris")  # a colleague of the same line: a closed dialog of anna's is not his
    await boris.send({"type": "reopen", "dialog_id": dialog_id})
    assert (await boris.expect("error", about(dialog_id)))["code"] == "forbidden"
    assert (await anna.get(f"/api/dialogs/{dialog_id}"))["state"] == "closed"
    await anna.send({"type": "reopen", "dialog_id": "nope"})
    assert (await anna.expect("error", about("nope")))["code"] == "not_found"

    # the customer wrote again meanwhile: a new dialog is open, the old one is not brought back beside it
    await v.say("one more question")
    new_id = (await anna.expect("dialog.offered"))["dialog_id"]
    assert new_id != dialog_id
    await anna.send({"type": "reopen", "dialog_id": dialog_id})
    err = await anna.expect("error", about(dialog_id))
    assert err["code"] == "customer_busy" and err["message"]
    assert (await anna.get(f"/api/dialogs/{dialog_id}"))["state"] == "closed"
    # the closed list is the dialogs one handled: not another line's, not a colleague's of the same line
    assert dialog_id in [x["id"] for x in (await anna.get("/api/dialogs?state=closed"))["dialogs"]]
    assert (await vera.get("/api/dialogs?state=closed"))["dialogs"] == []
    assert (await boris.get("/api/dialogs?state=closed"))["dialogs"] == []
