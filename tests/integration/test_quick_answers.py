"""Quick answers over REST: a line's shared ones from the YAML and each operator's own, searched in any script,
filled in for a dialog, and who may see, change and remove which (docs/protocol.md, "Quick answers")."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import config, line, settings_from
from tests.integration.test_security import EVIL, cookie_session

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


def lines_with_answers() -> list[dict[str, Any]]:
    support = line("support", ["anna", "boris"])
    support["quick_answers"] = [
        {
            "title": "Greeting",
            "text": "Hello {customer.name}, this is {operator.name} of {line.name}.",
            "shortcut": "hi",
        },
        {"title": "Доставка", "text": "Доставка занимает {days} дня.", "shortcut": "dostavka"},
    ]
    sales = line("sales", ["vera"])
    sales["quick_answers"] = [{"title": "Discount", "text": "Ten percent off today."}]
    return [support, sales]


async def call(op: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with op.session.request(method, f"{op.base}{path}", json=body, headers=op.headers) as r:
        return r.status, (await r.json() if r.status != 204 else None)


async def test_shared_and_personal_answers_are_listed_searched_and_filled_for_a_dialog(
    tmp_path, start_daemon
):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines_with_answers())))
    anna, admin = await d.operator("anna"), await d.operator("admin")

    status, made = await call(
        anna,
        "POST",
        "/api/quick-answers",
        {"title": "Спасибо", "text": "Спасибо, {customer.name}!", "shortcut": "Thanks"},
    )
    assert status == 201, made
    mine = made["quick_answer"]
    assert mine["scope"] == "personal" and mine["shortcut"] == "thanks" and mine["line_id"] is None

    # without a dialog: her own first, then the shared ones of her lines (not sales'), each group by title
    listed = (await anna.get("/api/quick-answers"))["quick_answers"]
    assert [(a["scope"], a["title"]) for a in listed] == [
        ("personal", "Спасибо"),
        ("line", "Greeting"),
        ("line", "Доставка"),
    ]
    assert all(a["filled"] is None for a in listed)
    assert listed[1]["id"] == "line:support:0" and listed[1]["line_name"] == "Support"
    # an admin sees every line's shared ones, and not anna's own
    assert {a["title"] for a in (await admin.get("/api/quick-answers"))["quick_answers"]} == {
        "Greeting",
        "Доставка",
        "Discount",
    }

    # search: any script, case folded, every word, in the title, the shortcut or the text
    async def titles(query: str) -> list[str]:
        return [a["title"] for a in (await anna.get(f"/api/quick-answers?query={query}"))["quick_answers"]]

    assert await titles("ДОСТАВ") == ["Доставка"]
    assert await titles("спасибо") == ["Спасибо"]
    assert await titles("HI") == ["Greeting"]  # its shortcut
    assert await titles("hello operator") == ["Greeting"]
    assert await titles("nothing-like-this") == []

    # for a dialog: placeholders filled with the customer's, the operator's and the line's names
    v = await d.visitor("support")
    await v.say("where is my parcel?")
    offer = await anna.expect("dialog.offered")
    dialog_id = offer["dialog_id"]
    lead_id = (await anna.get(f"/api/dialogs/{dialog_id}"))["lead"]["id"]
    status, _ = await admin.patch(f"/api/leads/{lead_id}", {"name": "Иван"})
    assert status == 200
    filled = {
        a["title"]: a["filled"]
        for a in (await anna.get(f"/api/quick-answers?dialog_id={dialog_id}"))["quick_answers"]
    }
    assert filled == {
        "Спасибо": "Спасибо, Иван!",
        "Greeting": "Hello Иван, this is Anna of Support.",
        "Доставка": "Доставка занимает {days} дня.",  # not a placeholder: left as typed
    }


async def test_only_the_owner_changes_or_removes_a_personal_answer_and_shared_ones_stay_as_configured(
    tmp_path, start_daemon
):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines_with_answers())))
    anna, boris, admin = await d.operator("anna"), await d.operator("boris"), await d.operator("admin")
    _, made = await call(
        anna, "POST", "/api/quick-answers", {"title": "Bye", "text": "Goodbye!", "shortcut": "bye"}
    )
    answer_id = made["quick_answer"]["id"]

    # a colleague (and an admin) neither sees, changes nor removes it
    assert all(a["id"] != answer_id for a in (await boris.get("/api/quick-answers"))["quick_answers"])
    for who in (boris, admin):
        status, err = await call(who, "PATCH", f"/api/quick-answers/{answer_id}", {"text": "mine now"})
        assert status == 403 and err["code"] == "forbidden", err
        status, err = await call(who, "DELETE", f"/api/quick-answers/{answer_id}")
        assert status == 403 and err["code"] == "forbidden", err
    # a line's shared answer is changed in the YAML only
    status, err = await call(admin, "PATCH", "/api/quick-answers/line:support:0", {"text": "x"})
    assert status == 403 and "configuration" in err["message"]
    status, err = await call(anna, "DELETE", "/api/quick-answers/nope")
    assert status == 404 and err["code"] == "not_found"

    # the owner changes it; a shortcut she already has is refused; null removes the shortcut
    status, changed = await call(
        anna, "PATCH", f"/api/quick-answers/{answer_id}", {"text": "Goodbye, {customer.name}!"}
    )
    assert status == 200 and changed["quick_answer"]["text"] == "Goodbye, {customer.name}!"
    _, other = await call(
        anna, "POST", "/api/quick-answers", {"title": "Hi", "text": "Hi!", "shortcut": "hey"}
    )
    status, err = await call(anna, "PATCH", f"/api/quick-answers/{answer_id}", {"shortcut": "HEY"})
    assert status == 409 and err["code"] == "duplicate_shortcut", err
    status, err = await call(
        anna, "POST", "/api/quick-answers", {"title": "Again", "text": "x", "shortcut": "hey"}
    )
    assert status == 409 and err["code"] == "duplicate_shortcut", err
    # the same shortcut is free for a colleague
    status, _ = await call(
        boris, "POST", "/api/quick-answers", {"title": "His", "text": "x", "shortcut": "hey"}
    )
    assert status == 201
    status, changed = await call(anna, "PATCH", f"/api/quick-answers/{answer_id}", {"shortcut": None})
    assert status == 200 and changed["quick_answer"]["shortcut"] is None

    # bad input: a clear code and message, nothing stored
    too_long = "x" * (d.daemon.settings.limits.max_message_length + 1)
    for body in (
        {"title": "", "text": "x"},
        {"title": "t" * 101, "text": "x"},
        {"title": "t", "text": "   "},
        {"title": "t", "text": too_long},
        {"title": "t", "text": "x", "shortcut": "two words"},
        {"title": "t", "text": "x", "owner": "boris"},
        {"text": "no title"},
    ):
        status, err = await call(anna, "POST", "/api/quick-answers", body)
        assert status == 400 and err["code"] == "bad_field" and err["message"], (body, err)
    assert sorted(
        a["title"]
        for a in (await anna.get("/api/quick-answers"))["quick_answers"]
        if a["scope"] == "personal"
    ) == ["Bye", "Hi"]

    # removed by its owner
    status, _ = await call(anna, "DELETE", f"/api/quick-answers/{other['quick_answer']['id']}")
    assert status == 204
    assert [
        a["title"]
        for a in (await anna.get("/api/quick-answers"))["quick_answers"]
        if a["scope"] == "personal"
    ] == ["Bye"]


async def test_a_dialog_the_operator_may_not_see_is_not_filled_in(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines_with_answers())))
    anna, vera = await d.operator("anna"), await d.operator("vera")
    v = await d.visitor("support")
    await v.say("hello")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    status, err = await call(vera, "GET", f"/api/quick-answers?dialog_id={dialog_id}")
    assert status == 403 and err["code"] == "forbidden"  # another line's dialog: not even its customer's name
    status, err = await call(vera, "GET", "/api/quick-answers?dialog_id=nope")
    assert status == 404 and err["code"] == "not_found"


async def test_cookie_requests_from_another_site_change_nothing(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines_with_answers())))
    s = await cookie_session(d.base)
    try:
        body = {"title": "t", "text": "x"}
        async with s.post(f"{d.base}/api/quick-answers", json=body, headers={"Origin": EVIL}) as r:
            assert r.status == 403 and (await r.json())["code"] == "cross_site"
        async with s.post(f"{d.base}/api/quick-answers", json=body, headers={"Origin": d.base}) as r:
            assert r.status == 201
    finally:
        await s.close()
    async with aiohttp.ClientSession() as anonymous, anonymous.get(f"{d.base}/api/quick-answers") as r:
        assert r.status == 401
