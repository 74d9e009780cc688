"""The widget when the line does not work (issue 19): closed by its hours or with nobody of its queue online, hello
says so with the line's text and its off-hours form; the form's answers make the lead and a dialog that waits for
the morning; when the line works, none of it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeClock, config, line, settings_from
from tests.integration.test_hours_autoreplies import HOURS

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores
SATURDAY = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # the line works Monday to Friday, 9 to 18 Moscow time
MONDAY = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # 11:00 in Moscow
FORM = {
    "title": "We are away",
    "fields": [
        {"name": "name", "type": "name", "label": "Name", "required": True},
        {"name": "phone", "type": "phone", "label": "Phone", "required": True},
        {"name": "question", "type": "textarea", "label": "Question", "required": True},
    ],
}


def site(when: str = "closed_or_nobody") -> dict[str, Any]:
    offline = {"when": when, "text": "We answer on weekdays, 9 to 18.", "form": FORM}
    return {**line("site", ["anna"]), "hours": HOURS, "channels": [{"type": "widget", "offline": offline}]}


async def test_off_hours_the_widget_offers_the_form_and_its_dialog_waits(
    tmp_path: Path, start_daemon: Any
) -> None:
    clock = FakeClock(SATURDAY)
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site()])), clock)
    anna = await d.operator("anna")  # online, but the line is closed
    v = await d.visitor("site")
    off = v.hello["offline"]
    assert (off["reason"], off["text"]) == ("closed", "We answer on weekdays, 9 to 18.")
    assert off["form"]["title"] == "We are away"

    await v.send({"type": "form", "form": "offline", "client_msg_id": "o1", "values": {"name": "Ivan"}})
    bad = await v.expect("error", lambda f: f.get("client_msg_id") == "o1")
    assert (bad["code"], bad["fields"]) == ("bad_form", {"phone": "required", "question": "required"})
    values = {"name": "Ivan", "phone": "+7 900 111-22-33", "question": "Call me on Monday, please"}
    await v.send({"type": "form", "form": "offline", "client_msg_id": "o2", "values": values})
    ack = await v.expect("ack", lambda f: f.get("client_msg_id") == "o2")
    assert ack["text"] == "Name: Ivan\nPhone: +7 900 111-22-33\nQuestion: Call me on Monday, please"
    await anna.absent("dialog.offered", wait=0.5)  # it waits for the morning
    dialog = await anna.get(f"/api/dialogs/{ack['dialog_id']}")
    assert dialog["state"] == "queued" and dialog["customer_name"] == "Ivan"
    assert (await anna.get(f"/api/leads/{dialog['lead']['id']}"))["phone"] == "+79001112233"

    # a form the line has not got is refused, the connection keeps serving
    await v.send({"type": "form", "form": "survey", "client_msg_id": "o3", "values": {}})
    assert (await v.expect("error", lambda f: f.get("client_msg_id") == "o3"))["code"] == "bad_field"


@pytest.mark.backends("sqlite")  # nothing store-specific: the both-store runs are the tests that write
async def test_in_hours_it_depends_on_who_is_online(tmp_path: Path, start_daemon: Any) -> None:
    clock = FakeClock(MONDAY)
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site()])), clock)
    v = await d.visitor("site")
    assert v.hello["offline"]["reason"] == "nobody_online"  # open, but anna is not here
    anna = await d.operator("anna")
    again = await d.visitor("site", v.token)
    assert again.hello["offline"] is None  # the line works: the chat as usual
    await anna.close()


@pytest.mark.backends("sqlite")  # nothing store-specific: the both-store runs are the tests that write
async def test_a_line_that_minds_only_its_hours(tmp_path: Path, start_daemon: Any) -> None:
    clock = FakeClock(MONDAY)
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site("closed")])), clock)
    v = await d.visitor("site")
    assert v.hello["offline"] is None  # nobody online, but open: people may write and wait
    clock.t = SATURDAY
    assert (await d.visitor("site")).hello["offline"]["reason"] == "closed"
