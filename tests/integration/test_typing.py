"""Typing indicators both ways (docs/protocol.md): a visitor's `typing` reaches the consoles following their
dialog, an operator's reaches the visitor's tabs with their name; never stored, passed on only when it is news,
and only the dialog's own operator shows as typing."""

from __future__ import annotations

from tests.conftest import config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


def about(dialog_id):
    return lambda f: f.get("dialog_id") == dialog_id


async def test_typing_goes_both_ways_and_is_never_stored(tmp_path, start_daemon):
    d = await start_daemon(
        settings_from(
            tmp_path, config(tmp_path, [line("support", ["anna", "boris"]), line("sales", ["vera"])])
        )
    )
    anna, boris, vera, admin = (
        await d.operator("anna"),
        await d.operator("boris"),
        await d.operator("vera"),
        await d.operator("admin"),
    )
    v = await d.visitor("support")
    await v.say("hello")
    offer = await anna.expect("dialog.offered")
    dialog_id = offer["dialog_id"]
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned", about(dialog_id))

    # the visitor types: the dialog's operator and the admins see it; the text is never sent
    await v.send({"type": "typing", "active": True})
    seen = await anna.expect("typing", about(dialog_id))
    assert seen == {"type": "typing", "dialog_id": dialog_id, "who": "customer", "active": True}
    await admin.expect("typing", about(dialog_id))
    await v.send({"type": "typing", "active": True})  # "still typing" at once: not news, not passed on
    await v.send({"type": "typing", "active": False})
    stopped = await anna.expect("typing", about(dialog_id))
    assert stopped["active"] is False
    await anna.absent("typing", about(dialog_id), wait=0.3)
    await boris.absent("typing", wait=0.1)  # not his dialog
    await vera.absent("typing", wait=0.1)

    # the operator types: every tab of the visitor sees it with her name
    await anna.send({"type": "typing", "dialog_id": dialog_id, "active": True})
    shown = await v.expect("typing")
    assert shown == {"type": "typing", "dialog_id": dialog_id, "active": True, "name": "Anna"}
    await anna.send({"type": "typing", "dialog_id": dialog_id, "active": False})
    assert (await v.expect("typing"))["active"] is False

    # a colleague, an operator of another line and an admin who has not taken it show nothing (and get no error:
    # an indicator has nothing to refuse)
    for who in (boris, vera, admin):
        await who.send({"type": "typing", "dialog_id": dialog_id, "active": True})
    await v.absent("typing", wait=0.5)
    for who in (boris, vera, admin):
        await who.absent("error", wait=0.05)

    # nothing of it was stored: the transcript holds the one message
    transcript = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"]
    assert [m["text"] for m in transcript] == ["hello"]


async def test_bad_typing_frames_get_a_clear_error_and_the_socket_keeps_serving(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.send({"type": "typing", "active": "yes"})
    err = await v.expect("error")
    assert err["code"] == "bad_field" and "active" in err["message"]
    await anna.send({"type": "typing", "dialog_id": "d1", "active": 1})
    err = await anna.expect("error")
    assert err["code"] == "bad_field" and "active" in err["message"]
    await anna.send({"type": "typing", "active": True})
    assert (await anna.expect("error"))["code"] == "missing_field"
    # both still serve
    await v.say("still here")
    offer = await anna.expect("dialog.offered")
    assert offer["dialog"]["state"] == "offered"


async def test_a_visitor_typing_before_hello_is_asked_for_hello(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    ws = await d.session.ws_connect(f"{d.base.replace('http', 'ws')}/widget/ws?line=support")
    try:
        await ws.send_json({"type": "typing", "active": True})
        frame = await ws.receive_json(timeout=5)
        assert frame["type"] == "error" and frame["code"] == "hello_required"
    finally:
        await ws.close()
