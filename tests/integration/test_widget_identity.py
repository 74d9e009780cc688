"""A site's signed-in user in the widget (identity verification): one conversation on every device, the verified
e-mail joining the customer's lead, and forged, altered, missing or unwanted identities refused with a code."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from tests.clients import Visitor
from tests.conftest import config, line, settings_from

SECRET = "site-secret-0123456789"


def signed(user_id: str, email: str = "", phone: str = "", name: str = "") -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), "\n".join([user_id, email, phone, name]).encode(), hashlib.sha256)
    out = {"id": user_id, "hash": digest.hexdigest()}
    out.update({k: v for k, v in (("email", email), ("phone", phone), ("name", name)) if v})
    return out


def site(identity: str = "optional", secret: str | None = SECRET) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "widget", "identity": identity}
    if secret is not None:
        block["identity_secret"] = secret
    return {**line("site", ["anna"]), "channels": [block]}


async def refused_hello(d: Any, identity: object, token: str | None = None) -> dict[str, Any]:
    """The error frame a hello with `identity` gets (and the socket takes nothing before a good hello)."""
    v = Visitor(d.session, d.base, "site", token, None)
    v.ws = await d.session.ws_connect(f"{d.base.replace('http', 'ws')}/widget/ws?line=site")
    v._start_reader()
    hello: dict[str, Any] = {"type": "hello", "protocol": 1, "visitor_token": token}
    if identity is not None:
        hello["identity"] = identity
    await v.send(hello)
    error = await v.expect("error")
    await v.send({"type": "message", "client_msg_id": "c1", "text": "let me in"})
    assert (await v.expect("error", lambda f: f.get("client_msg_id") == "c1"))["code"] == "hello_required"
    await v.close()
    return error


async def test_a_signed_user_has_one_conversation_on_every_device(tmp_path, start_daemon) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site()])))
    anna = await d.operator("anna")
    me = signed("user-42", "ivan@example.com", "+7 900 123-45-67", "Ivan Petrov")
    laptop = await d.visitor("site", identity=me)
    await laptop.say("Hello from my laptop")
    offer = await anna.expect("dialog.offered")
    dialog_id = offer["dialog_id"]
    assert offer["dialog"]["customer_name"] == "Ivan Petrov"
    await anna.reply(dialog_id, "Hello Ivan, how can I help?")

    other_user = await d.visitor("site", identity=signed("user-43", name="Olga"))  # someone else, online too
    phone = await d.visitor("site", identity=me)  # another device: no token of its own
    texts = [m["text"] for m in phone.hello["history"]]
    assert texts == ["Hello from my laptop", "Hello Ivan, how can I help?"]
    assert phone.hello["dialog_id"] == dialog_id
    await phone.say("And from my phone")
    got = await anna.expect("message", lambda f: f["message"]["text"] == "And from my phone")
    assert got["dialog_id"] == dialog_id
    # the laptop, still open, shows it at once (the user's own message from their other device)
    echo = await laptop.expect("message", lambda f: f.get("text") == "And from my phone")
    assert echo["author"]["kind"] == "customer" and echo["dialog_id"] == dialog_id and echo["id"]
    # nobody else's socket gets it
    assert not any(f.get("text") == "And from my phone" for f in other_user.frames)
    lead = (await anna.get(f"/api/dialogs/{dialog_id}"))["lead"]
    card = await anna.get(f"/api/leads/{lead['id']}")
    assert (card["name"], card["email"]) == ("Ivan Petrov", "ivan@example.com")
    assert card["phone"] and card["phone"].endswith("9001234567")

    # an anonymous visitor of the same browser is someone else: no history of the user's, also with their token
    stranger = await d.visitor("site")
    assert stranger.hello["history"] == []
    v = Visitor(d.session, d.base, "site", phone.token)  # the user's token, without their signature
    v.ws = await d.session.ws_connect(f"{d.base.replace('http', 'ws')}/widget/ws?line=site")
    v._start_reader()
    await v.send({"type": "hello", "protocol": 1, "visitor_token": phone.token})
    assert (await v.expect("error"))["code"] == "invalid_token"
    fresh = await v.expect("hello")
    assert fresh["history"] == [] and fresh["visitor_token"] != phone.token


async def test_a_verified_email_joins_the_lead_that_has_it(tmp_path, start_daemon) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site()])))
    anna = await d.operator("anna")
    first = await d.visitor("site", identity=signed("shop-1", "olga@example.com", name="Olga"))
    await first.say("first shop account")
    one = (await anna.expect("dialog.offered"))["dialog_id"]
    second = await d.visitor("site", identity=signed("shop-2", "olga@example.com", name="Olga K."))
    await second.say("my other account")
    two = (await anna.expect("dialog.offered", lambda f: f["dialog_id"] != one))["dialog_id"]
    lead_one = (await anna.get(f"/api/dialogs/{one}"))["lead"]["id"]
    lead_two = (await anna.get(f"/api/dialogs/{two}"))["lead"]["id"]
    assert lead_one == lead_two  # the verified e-mail is the same customer


@pytest.mark.parametrize(
    ("identity", "code"),
    [
        ({**signed("42", "ivan@example.com"), "email": "boss@example.com"}, "identity_refused"),
        ({"id": "42", "hash": "0" * 64}, "identity_refused"),
        ({"id": "42"}, "bad_identity"),
        ("user-42", "bad_identity"),
    ],
)
async def test_a_forged_or_altered_identity_is_refused(tmp_path, start_daemon, identity, code) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site()])))
    error = await refused_hello(d, identity)
    assert error["code"] == code and error["message"]


async def test_a_line_that_requires_identities_refuses_anonymous_visitors(tmp_path, start_daemon) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site("required")])))
    assert (await refused_hello(d, None))["code"] == "identity_required"
    ok = await d.visitor("site", identity=signed("7", name="Vera"))
    assert ok.hello["visitor_token"]


async def test_a_line_without_a_secret_takes_no_identity(tmp_path, start_daemon) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site(secret=None)])))
    assert (await refused_hello(d, signed("42")))["code"] == "identity_off"
    assert (await d.visitor("site")).hello["visitor_token"]  # anonymous visitors as before
