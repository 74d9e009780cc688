"""The thread's system lines: GET /api/dialogs/{id}/events gives what happened to a dialog (offered, taken,
transferred, closed, auto-replies), oldest first, to those who may see the dialog; the customer never sees them."""

from __future__ import annotations

from tests.conftest import config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


async def test_a_dialogs_events_are_listed_in_order_for_those_who_may_see_it(tmp_path, start_daemon):
    support = line("support", ["anna", "boris"], mode="sequential", offer_timeout="30s")
    support["auto_replies"] = {"closing": "Thank you, goodbye!"}
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support, line("sales", ["vera"])])))
    anna, boris, vera = await d.operator("anna"), await d.operator("boris"), await d.operator("vera")
    v = await d.visitor("support")
    await v.say("hello")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned")
    await anna.send({"type": "transfer", "dialog_id": dialog_id, "to_operator": "boris"})
    await boris.expect("dialog.assigned", lambda f: f["dialog_id"] == dialog_id)
    await boris.send({"type": "close", "dialog_id": dialog_id})
    await boris.expect("dialog.closed")
    await v.expect("message", lambda f: f["text"] == "Thank you, goodbye!")

    events = (await boris.get(f"/api/dialogs/{dialog_id}/events"))["events"]
    kinds = [(e["kind"], e["operator"]) for e in events]
    assert kinds[0] == ("offered", None) and events[0]["data"]["operators"] == ["anna"]
    assert ("assigned", "anna") in kinds and ("transferred", "anna") in kinds
    assert ("closed", "boris") in kinds and ("auto_reply", None) in kinds
    assert (
        kinds.index(("assigned", "anna"))
        < kinds.index(("transferred", "anna"))
        < kinds.index(("closed", "boris"))
    )
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert not {e["kind"] for e in events} & {"first_response", "responsible", "consent"}  # bookkeeping

    # another line's operator may not read them; the visitor never got any of them
    async with vera.session.get(f"{vera.base}/api/dialogs/{dialog_id}/events", headers=vera.headers) as r:
        assert r.status == 403 and (await r.json())["code"] == "forbidden"
    assert {f["type"] for f in v.frames} <= {"hello", "ack", "message", "typing"}
