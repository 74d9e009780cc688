"""What an admin's console is sent: every dialog frame (offers and withdrawals of other operators' offers
included), and every dialog frame names the lead as the CRM has it (its own name and status, as REST does)."""

from __future__ import annotations

from tests.conftest import config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


def about(dialog_id):
    return lambda f: f["dialog_id"] == dialog_id


async def test_admin_receives_offers_and_withdrawals_of_other_operators(tmp_path, start_daemon):
    lines = [line("sales", ["anna", "boris"], mode="sequential", offer_timeout="30s")]
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines)))
    anna, boris, admin = await d.operator("anna"), await d.operator("boris"), await d.operator("admin")
    v = await d.visitor("sales")
    await v.say("is the sofa in stock?")
    offer = await anna.expect("dialog.offered")
    dialog_id = offer["dialog_id"]

    # the admin sees the offer to anna (not to them: they are not in offered_to)
    seen = await admin.expect("dialog.offered", about(dialog_id))
    assert seen["dialog"]["offered_to"] == ["anna"]
    assert seen["dialog"]["state"] == "offered"

    # anna passes it on: the admin learns whose offer went and to whom it went next
    await anna.send({"type": "skip", "dialog_id": dialog_id})
    gone = await admin.expect("dialog.withdrawn", about(dialog_id))
    assert gone["operators"] == ["anna"] and gone["reason"] == "skipped"
    assert gone["dialog"]["offered_to"] == ["boris"]
    nxt = await admin.expect("dialog.offered", about(dialog_id))
    assert nxt["dialog"]["offered_to"] == ["boris"]
    mine = await anna.expect("dialog.withdrawn", about(dialog_id))
    assert mine["operators"] == ["anna"] and mine["reason"] == "skipped"
    assert "dialog" not in mine  # no longer anna's to see
    await boris.expect("dialog.offered", about(dialog_id))

    # boris takes it: the admin is told, as before
    await boris.send({"type": "take", "dialog_id": dialog_id})
    taken = await admin.expect("dialog.assigned", about(dialog_id))
    assert taken["operator"] == "boris"
    # an operator still gets only the offers made to them
    await anna.absent("dialog.offered", about(dialog_id), wait=0.3)


async def test_dialog_frames_carry_the_leads_own_name_and_status(tmp_path, start_daemon):
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna"]), line("sales", ["boris"])]))
    )
    anna, boris, admin = await d.operator("anna"), await d.operator("boris"), await d.operator("admin")
    v = await d.visitor("support")
    await v.say("hello")

    # a new lead: its status is the pipeline's first, in the frames as over REST
    offer = await anna.expect("dialog.offered")
    dialog_id = offer["dialog_id"]
    rest = await admin.get(f"/api/dialogs/{dialog_id}")
    assert rest["lead"]["status"] == "new"
    assert offer["dialog"]["lead"] == rest["lead"]
    assert (await admin.expect("dialog.offered", about(dialog_id)))["dialog"]["lead"] == rest["lead"]
    await anna.send({"type": "take", "dialog_id": dialog_id})
    assigned = await anna.expect("dialog.assigned", about(dialog_id))
    assert assigned["dialog"]["lead"] == rest["lead"]

    # the lead is renamed and moves on in the pipeline: the next frames say so
    lead_id = rest["lead"]["id"]
    status, _ = await admin.patch(f"/api/leads/{lead_id}", {"name": "Ivan Petrov", "status": "in_progress"})
    assert status == 200
    expected = {"id": lead_id, "name": "Ivan Petrov", "status": "in_progress"}
    await anna.send({"type": "transfer", "dialog_id": dialog_id, "to_line": "sales"})
    moved = await anna.expect("dialog.transferred", about(dialog_id))
    assert moved["dialog"]["lead"] == expected
    offered = await boris.expect("dialog.offered", about(dialog_id))
    assert offered["dialog"]["lead"] == expected
    assert (await admin.expect("dialog.offered", about(dialog_id)))["dialog"]["lead"] == expected
    await boris.send({"type": "take", "dialog_id": dialog_id})
    assert (await boris.expect("dialog.assigned", about(dialog_id)))["dialog"]["lead"] == expected
    await boris.send({"type": "close", "dialog_id": dialog_id})
    closed = await admin.expect("dialog.closed", about(dialog_id))
    assert closed["dialog"]["lead"] == expected
    assert (await admin.get(f"/api/dialogs/{dialog_id}"))["lead"] == expected

    # the customer comes back: the frames of that dialog name the renamed lead too
    await v.say("me again")
    again = await admin.expect("dialog.offered", lambda f: f["dialog"]["lead"]["id"] == lead_id, timeout=5)
    assert again["dialog"]["lead"] == expected
