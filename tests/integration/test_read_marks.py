"""Unread counts that survive a reload: each operator's read mark per dialog (POST /api/dialogs/{id}/read), the
customer messages after it counted in every dialog the console lists, and every tab of the operator told."""

from __future__ import annotations

from typing import Any

from tests.conftest import config, line, settings_from
from tests.integration.test_security import EVIL, cookie_session

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


async def post(op: Any, path: str, body: Any) -> tuple[int, Any]:
    async with op.session.post(f"{op.base}{path}", json=body, headers=op.headers) as r:
        return r.status, await r.json()


def unread_of(listing: dict[str, Any], dialog_id: str) -> int:
    return next(d["unread"] for d in listing["dialogs"] if d["id"] == dialog_id)


async def test_unread_counts_follow_the_read_mark_and_every_tab_learns_it(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna", "boris"])])))
    anna, admin = await d.operator("anna"), await d.operator("admin")
    anna_again = await d.operator("anna", online=False)  # a second tab: she is online already
    v = await d.visitor("support")
    await v.say("hello")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned")
    await v.say("are you there?")
    await anna.expect("message", lambda f: f["message"]["text"] == "are you there?")
    await anna.reply(dialog_id, "Yes!")  # her own answer is never unread
    await v.say("great")
    await anna.expect("message", lambda f: f["message"]["text"] == "great")

    assert unread_of(await anna.get("/api/dialogs?state=mine"), dialog_id) == 3
    assert (await anna.get(f"/api/dialogs/{dialog_id}"))["unread"] == 3
    transcript = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"]
    first, second, _, third = transcript
    assert [m["text"] for m in (first, second, third)] == ["hello", "are you there?", "great"]

    # read up to the second customer message: one left, in every tab of hers
    status, body = await post(anna, f"/api/dialogs/{dialog_id}/read", {"message_id": second["id"]})
    assert status == 200 and body == {"dialog_id": dialog_id, "unread": 1}
    told = await anna_again.expect("dialog.read", lambda f: f["dialog_id"] == dialog_id)
    assert told["unread"] == 1
    assert unread_of(await anna.get("/api/dialogs?state=mine"), dialog_id) == 1
    # a mark never moves back
    status, body = await post(anna, f"/api/dialogs/{dialog_id}/read", {"message_id": first["id"]})
    assert status == 200 and body["unread"] == 1
    # the mark is hers: the admin's count is untouched, and the admin is not told
    assert unread_of(await admin.get("/api/dialogs?state=open"), dialog_id) == 3
    await admin.absent("dialog.read", wait=0.2)
    status, body = await post(anna, f"/api/dialogs/{dialog_id}/read", {"message_id": third["id"]})
    assert body["unread"] == 0
    assert unread_of(await anna.get("/api/dialogs?state=mine"), dialog_id) == 0


async def test_who_may_mark_what_and_bad_input(tmp_path, start_daemon):
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna"]), line("sales", ["vera"])]))
    )
    anna, vera = await d.operator("anna"), await d.operator("vera")
    v = await d.visitor("support")
    await v.say("hello")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    message_id = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"][0]["id"]

    status, err = await post(vera, f"/api/dialogs/{dialog_id}/read", {"message_id": message_id})
    assert status == 403 and err["code"] == "forbidden"  # another line's dialog
    status, err = await post(anna, f"/api/dialogs/{dialog_id}/read", {})
    assert status == 400 and err["code"] == "missing_field"
    status, err = await post(anna, f"/api/dialogs/{dialog_id}/read", {"message_id": "nope"})
    assert status == 404 and err["code"] == "not_found"
    status, err = await post(anna, "/api/dialogs/nope/read", {"message_id": message_id})
    assert status == 404 and err["code"] == "not_found"
    # a message of another dialog does not move this one's mark
    other = await d.visitor("support")
    await other.say("another customer")
    other_id = (await anna.expect("dialog.offered", lambda f: f["dialog_id"] != dialog_id))["dialog_id"]
    other_message = (await anna.get(f"/api/dialogs/{other_id}/messages"))["messages"][0]["id"]
    status, err = await post(anna, f"/api/dialogs/{dialog_id}/read", {"message_id": other_message})
    assert status == 404 and err["code"] == "not_found"

    s = await cookie_session(d.base)
    try:
        url, body = f"{d.base}/api/dialogs/{dialog_id}/read", {"message_id": message_id}
        async with s.post(url, json=body, headers={"Origin": EVIL}) as r:
            assert r.status == 403 and (await r.json())["code"] == "cross_site"
        async with s.post(url, json=body, headers={"Origin": d.base}) as r:
            assert r.status == 200 and (await r.json())["unread"] == 0
    finally:
        await s.close()
