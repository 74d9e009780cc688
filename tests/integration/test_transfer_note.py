"""A transfer may carry a note to the next operator (what the customer wants, what was tried): the next operator
gets it with the transfer, it stays in the dialog's events, and the customer never sees it."""

from __future__ import annotations

from tests.conftest import config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


async def test_a_transfer_note_reaches_the_next_operator_and_never_the_customer(tmp_path, start_daemon):
    lines = [line("support", ["anna", "boris"], mode="sequential"), line("sales", ["vera"])]
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines)))
    anna, boris, vera = await d.operator("anna"), await d.operator("boris"), await d.operator("vera")
    v = await d.visitor("support")
    await v.say("my parcel is late")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned")

    # a note longer than the limit is refused whole: nothing moves
    await anna.send({"type": "transfer", "dialog_id": dialog_id, "to_operator": "boris", "note": "x" * 1001})
    assert (await anna.expect("error"))["code"] == "bad_field"
    note = "Заказ 1042, <b>курьер</b> не звонил — проверь трек"
    await anna.send(
        {"type": "transfer", "dialog_id": dialog_id, "to_operator": "boris", "note": f"  {note} "}
    )
    moved = await boris.expect("dialog.transferred", lambda f: f["dialog_id"] == dialog_id)
    assert (moved["from_operator"], moved["to_operator"], moved["by"], moved["note"]) == (
        "anna",
        "boris",
        "anna",
        note,
    )

    # on to another line with a second note; the first stays in the history
    await boris.expect("dialog.assigned", lambda f: f["dialog_id"] == dialog_id)
    await boris.send(
        {"type": "transfer", "dialog_id": dialog_id, "to_line": "sales", "note": "wants a discount"}
    )
    offer = await vera.expect("dialog.offered", lambda f: f["dialog_id"] == dialog_id)
    events = (await vera.get(f"/api/dialogs/{dialog_id}/events"))["events"]
    notes = [(e["operator"], e["data"].get("note")) for e in events if e["kind"] == "transferred"]
    assert notes == [("anna", note), ("boris", "wants a discount")]
    assert offer["dialog"]["line_id"] == "sales"

    # a transfer without a note has none
    await vera.send({"type": "take", "dialog_id": dialog_id})
    await vera.expect("dialog.assigned", lambda f: f["dialog_id"] == dialog_id)
    await vera.send({"type": "transfer", "dialog_id": dialog_id, "to_operator": "anna"})
    plain = await anna.expect("dialog.transferred", lambda f: f["from_operator"] == "vera")
    assert plain["note"] is None

    # the customer heard nothing of it
    assert not any("1042" in str(f) or "discount" in str(f) for f in v.frames)
