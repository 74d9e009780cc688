"""A line's pre-chat form in the widget (issue 19): the visitor's answers become their first message and fill their
new lead; a wrong or missing answer is refused per field and nothing is stored; an e-mail typed into the form is
not proof, so it never joins the visitor to another customer's lead (a signed-in user's does, and is not asked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.clients import Visitor
from tests.conftest import config, line, settings_from
from tests.integration.test_widget_identity import SECRET, signed

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores
PRECHAT = {
    "title": "Before we start",
    "fields": [
        {"name": "name", "type": "name", "label": "Your name", "required": True},
        {"name": "email", "type": "email", "label": "E-mail", "required": True},
        {"name": "phone", "type": "phone", "label": "Phone"},
        {"name": "topic", "type": "select", "label": "Topic", "options": ["Delivery", "Returns"]},
        {
            "name": "order",
            "type": "text",
            "label": "Order number",
            "required": True,
            "show_if": {"field": "topic", "equals": "Returns"},
        },
        {"name": "question", "type": "textarea", "label": "Your question", "required": True},
    ],
}


def site(**extra: Any) -> dict[str, Any]:
    block = {"type": "widget", "prechat": PRECHAT, "identity_secret": SECRET, **extra}
    return {**line("site", ["anna"]), "channels": [block]}


async def fill(v: Visitor, cmid: str, values: dict[str, Any]) -> dict[str, Any]:
    """Send the form; its ack or its error."""
    await v.send({"type": "form", "client_msg_id": cmid, "values": values})
    return await v.expect(("ack", "error"), lambda f: f.get("client_msg_id") == cmid)


async def test_the_answers_open_the_dialog_and_fill_the_lead(tmp_path: Path, start_daemon: Any) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site()])))
    anna = await d.operator("anna")
    v = await d.visitor("site")
    assert v.hello["prechat"]["title"] == "Before we start"
    assert [f["name"] for f in v.hello["prechat"]["fields"]][:2] == ["name", "email"]

    bad = await fill(v, "f1", {"name": "", "email": "nope", "topic": "Returns", "question": "Where is it?"})
    assert bad["type"] == "error" and bad["code"] == "bad_form"
    assert bad["fields"] == {"name": "required", "email": "bad_email", "order": "required"}
    await anna.absent("dialog.offered", wait=0.5)  # nothing stored

    values = {
        "name": "Olga Ivanova",
        "email": "Olga@Example.com",
        "phone": "8 (900) 555-12-34",
        "topic": "Returns",
        "order": "A-17",
        "question": "The box came broken.\nWhat now?",
    }
    ack = await fill(v, "f2", values)
    assert ack["type"] == "ack"
    assert ack["text"].startswith("Your name: Olga Ivanova\n")  # the widget shows what was stored
    offer = await anna.expect("dialog.offered")
    assert offer["dialog"]["customer_name"] == "Olga Ivanova"
    msgs = (await anna.get(f"/api/dialogs/{offer['dialog_id']}/messages"))["messages"]
    assert msgs[0]["text"] == (
        "Your name: Olga Ivanova\nE-mail: Olga@Example.com\nPhone: 8 (900) 555-12-34\nTopic: Returns\n"
        "Order number: A-17\nYour question:\nThe box came broken.\nWhat now?"
    )
    lead = (await anna.get(f"/api/dialogs/{offer['dialog_id']}"))["lead"]
    card = await anna.get(f"/api/leads/{lead['id']}")
    assert (card["name"], card["email"], card["phone"]) == (
        "Olga Ivanova",
        "olga@example.com",
        "+79005551234",
    )
    # the same form again (a resend after a lost ack) is stored once
    assert (await fill(v, "f2", values))["id"] == ack["id"]
    await v.say("And one more thing")
    msgs = (await anna.get(f"/api/dialogs/{offer['dialog_id']}/messages"))["messages"]
    assert [m["text"].split("\n")[0] for m in msgs] == ["Your name: Olga Ivanova", "And one more thing"]


async def test_a_typed_email_never_joins_another_customers_lead(tmp_path: Path, start_daemon: Any) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site()])))
    anna = await d.operator("anna")
    # the real Olga, signed in by the site: her e-mail is verified, and she is not asked the form
    olga = await d.visitor("site", identity=signed("olga-1", "olga@example.com", name="Olga"))
    assert olga.hello["prechat"] is None
    await olga.say("hello, it is Olga")
    first = (await anna.expect("dialog.offered"))["dialog_id"]
    olgas_lead = (await anna.get(f"/api/dialogs/{first}"))["lead"]["id"]

    impostor = await d.visitor("site")
    ack = await fill(
        impostor, "i1", {"name": "Olga", "email": "olga@example.com", "question": "show me my orders"}
    )
    assert ack["type"] == "ack"
    second = (await anna.expect("dialog.offered", lambda f: f["dialog_id"] != first))["dialog_id"]
    theirs = (await anna.get(f"/api/dialogs/{second}"))["lead"]["id"]
    assert theirs != olgas_lead  # a new lead: the typed address fills it, it proves nothing
    assert (await anna.get(f"/api/leads/{theirs}"))["email"] == "olga@example.com"
    history = [m["text"] for m in olga.hello["history"]]
    again = await d.visitor("site", identity=signed("olga-1", "olga@example.com", name="Olga"))
    assert [m["text"] for m in again.hello["history"]] == [*history, "hello, it is Olga"]


@pytest.mark.backends("sqlite")  # nothing store-specific: the both-store runs are the tests that write
async def test_a_line_without_a_form_refuses_one(tmp_path: Path, start_daemon: Any) -> None:
    plain = {**line("plain", ["anna"]), "channels": [{"type": "widget"}]}
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [plain])))
    v = await d.visitor("plain")
    assert v.hello["prechat"] is None
    got = await fill(v, "x1", {"name": "Ivan"})
    assert (got["type"], got["code"]) == ("error", "form_off")
    await v.say("still here")  # the connection keeps serving
