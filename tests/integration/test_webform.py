"""The CRM web form channel (issue 19): /forms/ID, its schema and its submissions — a lead and a dialog in the line's
queue, stored once however often the page sends it; the honeypot, the address's allowance, the sites allowed and
the proof of work keep robots out with a code each; a reply to such a dialog fails with the reason."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores
FIELDS = [
    {"name": "name", "type": "name", "label": "Name", "required": True},
    {"name": "phone", "type": "phone", "label": "Phone", "required": True},
    {"name": "email", "type": "email", "label": "E-mail"},
    {"name": "question", "type": "textarea", "label": "Question"},
]
GOOD = {
    "name": "Olga",
    "phone": "+7 900 555-12-34",
    "email": "olga@example.com",
    "question": "A quote, please",
}


def lines(**extra: Any) -> list[dict[str, Any]]:
    block = {"type": "form", "account": "callback", "title": "Call me back", "thanks": "We will call you.",
             "fields": FIELDS, **extra}  # fmt: skip
    return [{**line("sales", ["anna"]), "channels": [block]}]


async def post(d: Any, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], Any]:
    async with d.session.post(f"{d.base}/forms/callback", json=body, headers=headers or {}) as r:
        return r.status, dict(await r.json()), r.headers


async def test_a_submission_makes_a_lead_and_a_dialog_once(tmp_path: Path, start_daemon: Any) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines())))
    async with d.session.get(f"{d.base}/forms/callback?lang=en") as r:
        html = await r.text()
        assert r.status == 200 and 'data-form="callback"' in html and "<title>Call me back</title>" in html
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    async with d.session.get(f"{d.base}/forms/nowhere") as r:
        assert r.status == 404
    async with d.session.get(f"{d.base}/forms/callback/schema") as r:
        schema = await r.json()
    assert schema["form"]["title"] == "Call me back" and schema["thanks"] == "We will call you."
    assert "pow" not in schema

    anna = await d.operator("anna")
    status, body, _ = await post(d, {"submission": "sub-0001-abcdef", "values": GOOD, "website": ""})
    assert (status, body) == (200, {"status": "ok", "thanks": "We will call you."})
    offer = await anna.expect("dialog.offered")
    assert offer["dialog"]["customer_name"] == "Olga" and offer["dialog"]["channel"] == "form"
    msgs = (await anna.get(f"/api/dialogs/{offer['dialog_id']}/messages"))["messages"]
    assert (
        msgs[0]["text"]
        == "Name: Olga\nPhone: +7 900 555-12-34\nE-mail: olga@example.com\nQuestion: A quote, please"
    )
    lead = (await anna.get(f"/api/dialogs/{offer['dialog_id']}"))["lead"]
    card = await anna.get(f"/api/leads/{lead['id']}")
    assert (card["phone"], card["email"]) == ("+79005551234", "olga@example.com")

    # the page sent it again (a lost answer): stored once
    assert (await post(d, {"submission": "sub-0001-abcdef", "values": GOOD}))[0] == 200
    await anna.absent("dialog.offered", wait=0.5)
    assert len((await anna.get(f"/api/dialogs/{offer['dialog_id']}/messages"))["messages"]) == 1

    # nobody can be answered through a form: the reply fails, saying why
    await anna.send({"type": "take", "dialog_id": offer["dialog_id"]})
    await anna.expect("dialog.assigned")
    ack = await anna.reply(offer["dialog_id"], "Calling you now")
    got = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"], timeout=10)
    assert got["state"] == "failed" and "phone or e-mail" in got["error"]


@pytest.mark.backends("sqlite")  # nothing store-specific: the both-store runs are the tests that write
async def test_robots_and_bad_submissions_get_a_code_and_store_nothing(
    tmp_path: Path, start_daemon: Any
) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines(burst_per_ip=5, rate_per_ip=1))))
    anna = await d.operator("anna")
    # the honeypot: answered as if all went well, and dropped
    assert (await post(d, {"submission": "robot-000001", "values": GOOD, "website": "http://spam"}))[0] == 200
    status, body, _ = await post(
        d, {"submission": "sub-0002-abcdef", "values": {"name": "", "phone": "call me"}}
    )
    assert (status, body["code"], body["fields"]) == (
        422,
        "bad_form",
        {"name": "required", "phone": "bad_phone"},
    )
    assert (await post(d, {"submission": "x", "values": GOOD}))[1]["code"] == "bad_field"
    async with d.session.post(f"{d.base}/forms/callback", data=b"not json") as r:
        assert (r.status, (await r.json())["code"]) == (400, "bad_json")
    async with d.session.post(f"{d.base}/forms/callback", data=b"x" * 70_000) as r:
        assert (r.status, (await r.json())["code"]) == (413, "too_large")
    await anna.absent("dialog.offered", wait=0.5)
    # five taken above: the next is over the address's allowance
    status, body, headers = await post(d, {"submission": "sub-0003-abcdef", "values": GOOD})
    assert (status, body["code"]) == (429, "rate_limited") and int(headers["Retry-After"]) >= 1


@pytest.mark.backends("sqlite")  # nothing store-specific: the both-store runs are the tests that write
async def test_only_the_allowed_sites_embed_it(tmp_path: Path, start_daemon: Any) -> None:
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, lines(allowed_origins=["https://shop.example"])))
    )
    evil = {"Origin": "https://evil.example"}
    status, body, _ = await post(d, {"submission": "sub-0004-abcdef", "values": GOOD}, evil)
    assert (status, body["code"]) == (403, "origin_not_allowed")
    async with d.session.get(f"{d.base}/forms/callback/schema", headers=evil) as r:
        assert r.status == 403
    shop = {"Origin": "https://shop.example"}
    async with d.session.options(f"{d.base}/forms/callback", headers=shop) as r:
        assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    status, _, headers = await post(d, {"submission": "sub-0005-abcdef", "values": GOOD}, shop)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://shop.example"


@pytest.mark.backends("sqlite")  # nothing store-specific: the both-store runs are the tests that write
async def test_the_proof_of_work_must_be_paid_once_per_challenge(tmp_path: Path, start_daemon: Any) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines(proof_of_work=8))))
    async with d.session.get(f"{d.base}/forms/callback/schema") as r:
        pow_ = (await r.json())["pow"]
    assert pow_["bits"] == 8
    challenge = pow_["challenge"]
    nonce = next(
        str(n)
        for n in itertools.count()
        if hashlib.sha256(f"{challenge}:{n}".encode()).digest()[0] == 0  # 8 leading zero bits
    )
    wrong = next(
        str(n) for n in itertools.count() if hashlib.sha256(f"{challenge}:{n}".encode()).digest()[0] != 0
    )
    for body in (
        {"submission": "sub-0006-abcdef", "values": GOOD},
        {"submission": "sub-0006-abcdef", "values": GOOD, "challenge": challenge, "nonce": wrong},
        {"submission": "sub-0006-abcdef", "values": GOOD, "challenge": "forged.token", "nonce": nonce},
    ):
        status, got, _ = await post(d, body)
        assert (status, got["code"]) == (400, "proof_required"), body
    paid = {"submission": "sub-0006-abcdef", "values": GOOD, "challenge": challenge, "nonce": nonce}
    assert (await post(d, paid))[0] == 200
    status, got, _ = await post(d, {**paid, "submission": "sub-0007-abcdef"})  # the same challenge again
    assert (status, got["code"]) == (400, "proof_required")
