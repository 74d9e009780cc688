"""Bad input gets a clear error with a code; the connection and the daemon keep working; nothing is lost."""

from __future__ import annotations

import asyncio
import base64
import time

import orjson
import pytest

from router.web.auth import Signer
from tests.clients import Visitor
from tests.conftest import config, line, settings_from

WIDGET_CASES = [
    ("not json", "bad_json"),
    ("[1, 2]", "bad_json"),
    ({"type": "shout", "text": "hi"}, "unknown_type"),
    ({"type": "message", "text": "no id"}, "missing_field"),
    ({"type": "message", "client_msg_id": "x"}, "missing_field"),
    ({"type": "message", "client_msg_id": 5, "text": "hi"}, "bad_field"),
    ({"type": "message", "client_msg_id": "x" * 200, "text": "hi"}, "bad_field"),
    ({"type": "message", "client_msg_id": "e1", "text": "   "}, "empty_message"),
    ({"type": "message", "client_msg_id": "e2", "text": "x" * 4001}, "message_too_long"),
    ({"type": "message", "client_msg_id": "e3", "text": ["not", "text"]}, "bad_field"),
]


@pytest.fixture
async def support(tmp_path, start_daemon):
    return await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))


async def test_widget_refuses_bad_frames_and_keeps_the_connection(support):
    v = await support.visitor("support")
    for frame, code in WIDGET_CASES:
        await v.send(frame)
        err = await v.expect("error")
        assert err["code"] == code, (frame, err)
        assert err["message"]
    ok = await v.say("still here")  # the same socket still works
    assert ok["id"]
    assert await support.daemon.store.count("messages") == 1


async def test_refused_message_carries_its_client_msg_id(support):
    v = await support.visitor("support")
    await v.send({"type": "message", "client_msg_id": "too-long", "text": "y" * 5000})
    err = await v.expect("error")
    assert (err["code"], err["client_msg_id"]) == ("message_too_long", "too-long")


async def test_message_rating_typing_and_history_before_hello_are_refused(support):
    ws = await support.session.ws_connect(f"{support.base.replace('http', 'ws')}/widget/ws?line=support")
    for frame in (
        {"type": "message", "client_msg_id": "a", "text": "hi"},
        {"type": "rate", "dialog_id": "d1", "score": 5},  # nobody's rating: no visitor has said who they are
        {"type": "typing", "active": True},
        {"type": "history", "before": "m1"},
    ):
        await ws.send_str(orjson.dumps(frame).decode())
        got = orjson.loads((await ws.receive()).data)
        assert got["code"] == "hello_required", (frame, got)
    await ws.close()
    assert await support.daemon.store.count("messages") == 0


async def test_unknown_line_is_refused_and_closed(support):
    ws = await support.session.ws_connect(f"{support.base.replace('http', 'ws')}/widget/ws?line=nope")
    frame = orjson.loads((await ws.receive()).data)
    assert frame["code"] == "unknown_line"
    assert (await ws.receive()).type.name in ("CLOSE", "CLOSED", "CLOSING")


def _forge(token: str) -> str:
    body, _, mac = token.partition(".")
    payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["v"] = "someone-else"
    forged = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()
    return f"{forged}.{mac}"


async def test_forged_expired_and_other_line_tokens_get_a_fresh_identity(tmp_path, start_daemon):
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna"]), line("sales", ["anna"])]))
    )
    owner = await d.visitor("support")
    await owner.say("my private question")
    assert d.daemon.secrets is not None
    expired = Signer(d.daemon.secrets.key).sign({"v": "old", "line": "support"})
    body, _, _ = expired.partition(".")
    old = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    old["iat"] = int(time.time()) - 400 * 86400
    expired = Signer(d.daemon.secrets.key).sign(old)  # re-signed genuinely, but 400 days old
    for token, line_id in (
        (_forge(owner.token or ""), "support"),
        (expired, "support"),
        (owner.token, "sales"),
    ):
        intruder = Visitor(d.session, d.base, line_id, token)
        intruder.ws = await d.session.ws_connect(f"{d.base.replace('http', 'ws')}/widget/ws?line={line_id}")
        intruder._start_reader()
        await intruder.send({"type": "hello", "protocol": 1, "visitor_token": token})
        assert (await intruder.expect("error"))["code"] == "invalid_token"
        hello = await intruder.expect("hello")
        assert hello["visitor_token"] != token
        assert hello["history"] == []  # nobody else's conversation leaks
        await intruder.close()


async def test_rest_errors_have_codes(support):
    s, base = support.session, support.base
    async with s.post(f"{base}/api/login", json={"login": "anna", "password": "wrong"}) as r:
        assert r.status == 401 and (await r.json())["code"] == "bad_credentials"
    async with s.post(f"{base}/api/login", json={"login": "nobody", "password": "x"}) as r:
        assert r.status == 401 and (await r.json())["code"] == "bad_credentials"
    async with s.post(
        f"{base}/api/login", data=b"{not json", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400 and (await r.json())["code"] == "bad_json"
    async with s.post(f"{base}/api/login", json={"login": "anna"}) as r:
        assert r.status == 400 and (await r.json())["code"] == "missing_field"
    for path in ("/api/me", "/api/dialogs", "/api/leads", "/api/meta"):
        async with s.get(f"{base}{path}") as r:
            assert r.status == 401 and (await r.json())["code"] == "unauthorized", path
    async with s.get(f"{base}/api/me", headers={"Authorization": "Bearer forged.token"}) as r:
        assert r.status == 401
    async with s.get(f"{base}/api/console/ws") as r:
        assert r.status == 401
    anna = await support.operator("anna")
    async with s.get(f"{base}/api/dialogs/nope", headers=anna.headers) as r:
        assert r.status == 404 and (await r.json())["code"] == "not_found"
    async with s.get(f"{base}/api/dialogs?state=weird", headers=anna.headers) as r:
        assert r.status == 400 and (await r.json())["code"] == "bad_field"
    status, body = await anna.patch("/api/leads/nope", {"name": "x"})
    assert (status, body["code"]) == (404, "not_found")


async def test_lead_patch_validates_fields(support):
    anna = await support.operator("anna")
    v = await support.visitor("support")
    await v.say("hello")
    lead_id = (await anna.expect("dialog.offered"))["dialog"]["lead"]["id"]
    for body, code in (
        ({"phone": "call me maybe"}, "bad_field"),
        ({"email": "not-an-email"}, "bad_field"),
        ({"status": "won"}, "unknown_status"),
        ({"responsible": "ghost"}, "unknown_operator"),
        ({"id": "x"}, "bad_field"),
        ({"name": 5}, "bad_field"),
    ):
        status, err = await anna.patch(f"/api/leads/{lead_id}", body)
        assert (status, err["code"]) == (400, code), body
    status, lead = await anna.patch(f"/api/leads/{lead_id}", {"name": "Olga", "phone": ""})
    assert status == 200 and lead["name"] == "Olga" and lead["phone"] is None


async def test_console_refuses_bad_frames_and_keeps_the_connection(support):
    anna = await support.operator("anna")
    v = await support.visitor("support")
    await v.say("hello")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    cases = [
        ("{oops", "bad_json"),
        ({"type": "dance"}, "unknown_type"),
        ({"type": "take"}, "missing_field"),
        ({"type": "reply", "dialog_id": dialog_id, "text": "no id"}, "missing_field"),
        ({"type": "reply", "dialog_id": dialog_id, "client_msg_id": "c1", "text": " "}, "empty_message"),
        (
            {"type": "reply", "dialog_id": dialog_id, "client_msg_id": "c2", "text": "z" * 4001},
            "message_too_long",
        ),
        (
            {
                "type": "reply",
                "dialog_id": dialog_id,
                "client_msg_id": "c3",
                "text": "x",
                "visibility": "secret",
            },
            "bad_field",
        ),
        ({"type": "transfer", "dialog_id": dialog_id}, "missing_field"),
        ({"type": "presence", "status": "asleep"}, "bad_field"),
        ({"type": "take", "dialog_id": "no-such-dialog"}, "not_found"),
        ({"type": "skip", "dialog_id": dialog_id, "extra": 1}, None),  # extra fields are ignored: skip works
    ]
    for frame, code in cases:
        await anna.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())
        if code is None:
            await anna.expect("dialog.withdrawn", lambda f: f["dialog_id"] == dialog_id)
            continue
        err = await anna.expect("error")
        assert err["code"] == code, (frame, err)
    await anna.send({"type": "take", "dialog_id": dialog_id})
    assert (await anna.expect("dialog.assigned"))["operator"] == "anna"
    await anna.send({"type": "skip", "dialog_id": dialog_id})
    assert (await anna.expect("error"))["code"] == "not_offered"
    await anna.send({"type": "close", "dialog_id": dialog_id})
    await anna.expect("dialog.closed")
    await anna.send({"type": "reply", "dialog_id": dialog_id, "client_msg_id": "late", "text": "too late"})
    assert (await anna.expect("error", lambda f: f.get("client_msg_id") == "late"))["code"] == "bad_state"
    assert await support.daemon.store.count("messages") == 1


async def test_healthz_names_backends_and_channels(support):
    async with support.session.get(f"{support.base}/healthz") as r:
        body = await r.json()
    assert r.status == 200
    assert body["backends"] == {"store": "sqlite", "bus": "memory"}
    assert body["channels"] == {"widget:support": {"state": "up"}}


def queue_away_once(monkeypatch: pytest.MonkeyPatch, d: object) -> list[int]:
    """The next write to the bus fails, as with Redis restarting; the ones after work."""
    bus = d.daemon.bus  # type: ignore[attr-defined]
    real = bus.enqueue
    failed: list[int] = []

    def enqueue(items, encoded=None):  # type: ignore[no-untyped-def]
        if not failed:
            failed.append(len(items))
            lost = asyncio.get_running_loop().create_future()
            lost.set_exception(ConnectionError("the queue is away"))
            return lost
        return real(items, encoded)

    monkeypatch.setattr(bus, "enqueue", enqueue)
    return failed


async def test_a_widget_message_the_queue_could_not_take_is_refused_and_taken_when_sent_again(
    support, monkeypatch
):
    anna = await support.operator("anna")
    v = await support.visitor("support")
    failed = queue_away_once(monkeypatch, support)
    await v.send({"type": "message", "client_msg_id": "m-1", "text": "hello?"})
    err = await v.expect("error", lambda f: f.get("client_msg_id") == "m-1")
    assert err["code"] == "unavailable" and err["retry_after"] == 1 and failed
    assert await support.daemon.store.count("messages") == 0  # refused, so not stored
    ack = await v.say("hello?", client_msg_id="m-1")  # the widget sends it again with the same id
    assert (await anna.expect("message"))["message"]["id"] == ack["id"]
    assert await support.daemon.store.count("messages") == 1


async def test_a_console_command_the_queue_could_not_take_is_refused_and_taken_when_sent_again(
    support, monkeypatch
):
    anna = await support.operator("anna")
    v = await support.visitor("support")
    await v.say("hello")
    offer = await anna.expect("dialog.offered")
    queue_away_once(monkeypatch, support)
    frame = {"type": "reply", "dialog_id": offer["dialog_id"], "client_msg_id": "r-1", "text": "hi!"}
    await anna.send(frame)
    err = await anna.expect("error", lambda f: f.get("client_msg_id") == "r-1")
    assert err["code"] == "unavailable" and err["dialog_id"] == offer["dialog_id"]
    await anna.send(frame)  # the console sends it again
    assert (await anna.expect("ack", lambda f: f["client_msg_id"] == "r-1"))["id"]
    assert (await v.expect("message"))["text"] == "hi!"


async def test_meta_gives_the_console_the_configured_limits(tmp_path, start_daemon):
    data = config(tmp_path, [line("support", ["anna"])])
    data["limits"] = {"max_message_length": 1234, "max_attachment_bytes": 4096}
    d = await start_daemon(settings_from(tmp_path, data))
    anna = await d.operator("anna")
    meta = await anna.get("/api/meta")
    assert meta["limits"] == {"max_message_length": 1234, "max_attachment_bytes": 4096}
