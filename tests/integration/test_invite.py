"""Inviting a colleague into a dialog (Bitrix24's "consult"): the guest follows the thread live and writes internal
notes, public replies only when the operator allows it, and the dialog stays the operator's; a guest leaves, or
is taken out; nobody else gets in. Notes never reach the customer."""

from __future__ import annotations

from tests.conftest import config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


def about(dialog_id):
    return lambda f: f.get("dialog_id") == dialog_id


async def test_a_guest_follows_writes_notes_and_answers_only_when_allowed(tmp_path, start_daemon):
    d = await start_daemon(
        settings_from(
            tmp_path, config(tmp_path, [line("support", ["anna", "boris"]), line("sales", ["vera"])])
        )
    )
    anna, boris, vera = await d.operator("anna"), await d.operator("boris"), await d.operator("vera")
    v = await d.visitor("support")
    await v.say("my order never came")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned", about(dialog_id))

    # vera (another line) is invited: she gets the dialog, its messages from now on, and may write notes
    await anna.send({"type": "invite", "dialog_id": dialog_id, "operator": "vera"})
    invited = await vera.expect("dialog.invited", about(dialog_id))
    assert (invited["guest"], invited["by"], invited["replies"]) == ("vera", "anna", False)
    assert invited["dialog"]["invited"] == ["vera"] and invited["dialog"]["operator"] == "anna"
    await anna.expect("dialog.invited", about(dialog_id))
    assert [x["id"] for x in (await vera.get("/api/dialogs?state=invited"))["dialogs"]] == [dialog_id]
    assert (await vera.get(f"/api/dialogs/{dialog_id}/messages"))["messages"][0][
        "text"
    ] == "my order never came"
    await v.say("hello?")
    await vera.expect("message", lambda f: f["dialog_id"] == dialog_id and f["message"]["text"] == "hello?")

    note = await vera.reply(
        dialog_id, "Check the courier's tracking, it was lost once", visibility="internal"
    )
    assert note["dialog_id"] == dialog_id
    await anna.expect("message", lambda f: f["message"]["text"].startswith("Check the courier"))
    # a public answer is not hers to give yet, and taking it is not either
    await vera.send({"type": "reply", "dialog_id": dialog_id, "client_msg_id": "v1", "text": "Hi!"})
    assert (await vera.expect("error", about(dialog_id)))["code"] == "forbidden"
    await vera.send({"type": "invite", "dialog_id": dialog_id, "operator": "boris"})
    assert (await vera.expect("error", about(dialog_id)))["code"] == "forbidden"
    # boris of the same line, invited for notes only: the line does not let him answer a taken dialog
    await anna.send({"type": "invite", "dialog_id": dialog_id, "operator": "boris"})
    await boris.expect("dialog.invited", about(dialog_id))
    await boris.send(
        {"type": "reply", "dialog_id": dialog_id, "client_msg_id": "b0", "text": "Hi from Boris"}
    )
    assert (await boris.expect("error", about(dialog_id)))["code"] == "forbidden"
    await anna.send({"type": "leave", "dialog_id": dialog_id, "operator": "boris"})
    await boris.expect("dialog.left", about(dialog_id))
    boris.frames.clear()
    # boris, no longer invited, sees nothing and may write nothing
    await boris.send(
        {
            "type": "reply",
            "dialog_id": dialog_id,
            "client_msg_id": "b1",
            "text": "x",
            "visibility": "internal",
        }
    )
    assert (await boris.expect("error", about(dialog_id)))["code"] == "forbidden"

    # anna allows guests to answer: vera's reply reaches the customer, and the dialog stays anna's
    await anna.send({"type": "invite", "dialog_id": dialog_id, "operator": "vera", "allow_replies": True})
    again = await vera.expect("dialog.invited", lambda f: f["dialog_id"] == dialog_id and f["replies"])
    assert again["guest"] == "vera"
    ack = await vera.reply(dialog_id, "We are sending a new one today.")
    got = await v.expect("message", lambda f: f["text"] == "We are sending a new one today.")
    assert got["author"]["kind"] == "operator"
    assert (await anna.get(f"/api/dialogs/{dialog_id}"))["operator"] == "anna"
    assert ack["dialog_id"] == dialog_id

    # she leaves: no more frames of it, no more writing, and the thread's history says so
    await vera.send({"type": "leave", "dialog_id": dialog_id})
    left = await anna.expect("dialog.left", lambda f: f["dialog_id"] == dialog_id and f["guest"] == "vera")
    assert (left["guest"], left["by"], left["dialog"]["invited"]) == ("vera", "vera", [])
    await vera.expect("dialog.left", lambda f: f["dialog_id"] == dialog_id and f["guest"] == "vera")
    await v.say("thanks!")
    await anna.expect("message", lambda f: f["message"]["text"] == "thanks!")
    await vera.absent("message", lambda f: f["message"]["text"] == "thanks!", wait=0.3)
    await vera.send(
        {
            "type": "reply",
            "dialog_id": dialog_id,
            "client_msg_id": "v2",
            "text": "x",
            "visibility": "internal",
        }
    )
    assert (await vera.expect("error", about(dialog_id)))["code"] == "forbidden"
    kinds = [
        (e["kind"], e["operator"]) for e in (await anna.get(f"/api/dialogs/{dialog_id}/events"))["events"]
    ]
    assert ("invited", "anna") in kinds and ("left", "vera") in kinds

    # the customer saw the operators' public answers only, never the note
    texts = [f.get("text") for f in v.frames if f.get("type") == "message"]
    assert not any("courier" in (t or "") or "Boris" in (t or "") for t in texts)


async def test_inviting_is_the_operators_and_bad_invitations_are_refused(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna", "boris"])])))
    anna, boris = await d.operator("anna"), await d.operator("boris")
    v = await d.visitor("support")
    await v.say("hi")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    # an offered dialog has no operator yet: nobody to invite guests
    await anna.send({"type": "invite", "dialog_id": dialog_id, "operator": "boris"})
    assert (await anna.expect("error", about(dialog_id)))["code"] == "forbidden"
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned", about(dialog_id))
    for frame, code in (
        ({"operator": "nobody"}, "unknown_operator"),
        ({"operator": "anna"}, "bad_field"),
        ({}, "missing_field"),
        ({"operator": "boris", "allow_replies": "yes"}, "bad_field"),
    ):
        await anna.send({"type": "invite", "dialog_id": dialog_id, **frame})
        assert (await anna.expect("error", about(dialog_id)))["code"] == code, frame
    await anna.send({"type": "leave", "dialog_id": dialog_id, "operator": "boris"})
    assert (await anna.expect("error", about(dialog_id)))["code"] == "not_invited"
    # the operator takes a guest out
    await anna.send({"type": "invite", "dialog_id": dialog_id, "operator": "boris"})
    await boris.expect("dialog.invited", about(dialog_id))
    await anna.send({"type": "leave", "dialog_id": dialog_id, "operator": "boris"})
    left = await boris.expect("dialog.left", about(dialog_id))
    assert left["by"] == "anna"


async def test_only_the_operator_invites_and_a_guest_ends_only_their_own_invitation(tmp_path, start_daemon):
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna", "boris", "vera"])]))
    )
    anna, boris, vera = await d.operator("anna"), await d.operator("boris"), await d.operator("vera")
    v = await d.visitor("support")
    await v.say("hi")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned", about(dialog_id))
    # a colleague of the same line who is not the dialog's operator invites nobody into it
    await boris.send({"type": "invite", "dialog_id": dialog_id, "operator": "vera"})
    assert (await boris.expect("error", about(dialog_id)))["code"] == "forbidden"
    # the offers list is each one's own: a second customer's dialog offered to one operator only
    admin = await d.operator("admin")  # admins are sent every offer, whoever it is for
    v2 = await d.visitor("support")
    await v2.say("another question")
    second = (await admin.expect("dialog.offered"))["dialog_id"]
    offered = {
        login: [x["id"] for x in (await op.get("/api/dialogs?state=offered"))["dialogs"]]
        for login, op in (("anna", anna), ("boris", boris), ("vera", vera))
    }
    assert sum(second in ids for ids in offered.values()) == 1  # even mode: offered to exactly one of them
    assert all(dialog_id not in ids for ids in offered.values())  # anna's, not an offer any more
    # and nobody who was not invited sees it among their invitations
    assert [x["id"] for x in (await vera.get("/api/dialogs?state=invited"))["dialogs"]] == []
    assert [x["id"] for x in (await boris.get("/api/dialogs?state=invited"))["dialogs"]] == []

    await anna.send({"type": "invite", "dialog_id": dialog_id, "operator": "boris"})
    await boris.expect("dialog.invited", about(dialog_id))
    await anna.send({"type": "invite", "dialog_id": dialog_id, "operator": "vera"})
    await vera.expect("dialog.invited", about(dialog_id))
    assert [x["id"] for x in (await vera.get("/api/dialogs?state=invited"))["dialogs"]] == [dialog_id]
    # a guest reads the customer's card; the dialog's operator edits it
    lead_id = (await anna.get(f"/api/dialogs/{dialog_id}"))["lead"]["id"]
    assert (await vera.get(f"/api/leads/{lead_id}"))["editable"] is False
    status, body = await vera.patch(f"/api/leads/{lead_id}", {"name": "Renamed by a guest"})
    assert (status, body["code"]) == (403, "forbidden")
    assert (await anna.get(f"/api/leads/{lead_id}"))["editable"] is True
    status, body = await anna.patch(f"/api/leads/{lead_id}", {"name": "Olga"})
    assert (status, body["name"], body["editable"]) == (200, "Olga", True)
    # a guest invites no one else, and cannot take another guest out
    await boris.send({"type": "invite", "dialog_id": dialog_id, "operator": "vera"})
    assert (await boris.expect("error", about(dialog_id)))["code"] == "forbidden"
    await boris.send({"type": "leave", "dialog_id": dialog_id, "operator": "vera"})
    assert (await boris.expect("error", about(dialog_id)))["code"] == "forbidden"
    assert [x["id"] for x in (await vera.get("/api/dialogs?state=invited"))["dialogs"]] == [dialog_id]
    # but leaves on their own
    await boris.send({"type": "leave", "dialog_id": dialog_id, "operator": "boris"})
    left = await anna.expect("dialog.left", about(dialog_id))
    assert (left["guest"], left["by"]) == ("boris", "boris")
    assert [x["id"] for x in (await boris.get("/api/dialogs?state=invited"))["dialogs"]] == []
