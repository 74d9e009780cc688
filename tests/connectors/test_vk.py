"""The VK channel: the real vk-api client against a fake VK API and Bots Long Poll, the real daemon in-process."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors import validate_block
from connectors.vk_events import classify, random_id, split_text, translate
from queues.bus import conversation_key, outbound_stream
from queues.messages import Attachment, InboundMessage, OutboundMessage
from tests.conftest import Running, StartDaemon, config, line, settings_from, web_process
from tests.connectors.fake_vk import GROUP_ID, TOKEN, USER, FakeVK
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)

PEER = int(USER["id"])
SECRET = "callback-secret-1"
CONFIRMATION = "a1b2c3d4"


@pytest.fixture
async def fake() -> AsyncIterator[FakeVK]:
    f = FakeVK()
    await f.start()
    yield f
    await f.stop()


def vk(fake: FakeVK, **block: Any) -> dict[str, Any]:
    """A vk channel block pointed at the fake, long-polling briefly."""
    return {
        "type": "vk",
        "token": TOKEN,
        "group_id": GROUP_ID,
        "api_base": fake.url,
        "longpoll_wait": 1,
        **block,
    }


def vk_config(tmp_path: Path, fake: FakeVK, **block: Any) -> dict[str, Any]:
    """One line with the vk channel, and one operator (each one's password hash costs a daemon start ~0.1 s)."""
    lines = [{**line("support", ["anna"]), "channels": [vk(fake, **block)]}]
    return config(tmp_path, lines, operators=[{"login": "anna", "name": "Anna"}])


async def start(tmp_path: Path, start_daemon: StartDaemon, fake: FakeVK, **block: Any) -> Running:
    return await start_daemon(settings_from(tmp_path, vk_config(tmp_path, fake, **block)))


async def eventually(check: Any, timeout: float = 5.0) -> None:
    """Poll a condition until it holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def first_dialog(d: Running, fake: FakeVK, text: str = "hello") -> tuple[Any, str, dict[str, Any]]:
    """anna online, a customer's first message: (anna, dialog id, the console's message)."""
    anna = await d.operator("anna")
    await fake.message(text)
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    msg = (await anna.expect("message", lambda f: f["dialog_id"] == dialog_id))["message"]
    return anna, dialog_id, msg


# ---- a conversation -------------------------------------------------------------------------------------


async def test_first_message_makes_a_lead_with_the_vk_name_and_the_reply_goes_to_the_peer(
    tmp_path, fake, start_daemon
):
    d = await start(tmp_path, start_daemon, fake)
    anna = await d.operator("anna")
    await fake.message("Do you deliver to Kazan?")
    offered = await anna.expect("dialog.offered")
    dialog_id = offered["dialog_id"]
    assert (offered["dialog"]["channel"], offered["dialog"]["customer_name"]) == ("vk", "Ivan Petrov")
    assert (await anna.expect("message"))["message"]["text"] == "Do you deliver to Kazan?"
    lead = await anna.get(f"/api/leads/{offered['dialog']['lead']['id']}")
    assert (lead["name"], lead["source"]) == ("Ivan Petrov", "vk")
    assert [(i["channel"], i["account"], i["external_id"]) for i in lead["identities"]] == [
        ("vk", "support", str(PEER))
    ]

    ack = await anna.reply(dialog_id, "Yes, in 3 days")
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert status["state"] == "sent", status
    assert [(s.peer_id, s.text, s.random_id) for s in fake.sent] == [
        (PEER, "Yes, in 3 days", random_id(ack["id"], 0))
    ]
    # the name is cached: a second message asks users.get nothing
    await fake.message("thanks")
    await anna.expect("message", lambda f: f["message"]["text"] == "thanks")
    assert len(fake.method_calls("users.get")) == 1
    health = await (await d.session.get(f"{d.base}/healthz")).json()
    assert health["channels"]["vk:support"]["state"] == "up"


async def test_a_send_retried_after_error_10_reuses_its_random_id_and_arrives_once(
    tmp_path, fake, start_daemon
):
    d = await start(tmp_path, start_daemon, fake)
    anna, dialog_id, _ = await first_dialog(d, fake)
    fake.fail_next("messages.send", 10, deliver=True)  # VK sent it, then answered "internal error"
    ack = await anna.reply(dialog_id, "Your order is on its way")
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert status["state"] == "sent", status
    calls = fake.method_calls("messages.send")
    assert len(calls) == 2 and calls[0].params["random_id"] == calls[1].params["random_id"]
    assert [s.text for s in fake.sent] == ["Your order is on its way"]


async def test_a_long_answer_is_split_at_4096_characters_each_part_with_its_own_random_id(
    tmp_path, fake, start_daemon
):
    data = {**vk_config(tmp_path, fake), "limits": {"max_message_length": 10_000}}
    d = await start_daemon(settings_from(tmp_path, data))
    anna, dialog_id, _ = await first_dialog(d, fake)
    text = ("word " * 1000).strip() + "\n\n" + "tail " * 200
    ack = await anna.reply(dialog_id, text.strip())
    assert (await anna.expect("message.status", lambda f: f["message_id"] == ack["id"]))["state"] == "sent"
    assert [len(s.text) <= 4096 for s in fake.sent] == [True, True]
    assert " ".join(s.text for s in fake.sent).split() == text.split()
    assert [s.random_id for s in fake.sent] == [random_id(ack["id"], 0), random_id(ack["id"], 1)]


async def test_a_customer_who_blocked_messages_fails_the_send_at_once_with_the_reason(
    tmp_path, fake, start_daemon
):
    d = await start(tmp_path, start_daemon, fake)
    anna, dialog_id, _ = await first_dialog(d, fake)
    fake.fail_next("messages.send", 901)
    ack = await anna.reply(dialog_id, "hello?")
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert status["state"] == "failed"
    assert "901" in status["error"] and "has not allowed messages" in status["error"]
    assert len(fake.method_calls("messages.send")) == 1  # final: not retried
    assert fake.sent == []


async def test_message_deny_then_a_reply_fails_with_the_reason_and_nothing_reaches_vk(
    tmp_path, fake, start_daemon
):
    d = await start(tmp_path, start_daemon, fake)
    anna, dialog_id, _ = await first_dialog(d, fake)
    await fake.consent(False)
    await fake.message("one more thing")  # the same conversation's partition: applied after the deny
    await anna.expect("message", lambda f: f["message"]["text"] == "one more thing")
    ack = await anna.reply(dialog_id, "are you there?")
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert status["state"] == "failed" and "does not accept messages" in status["error"]
    await asyncio.sleep(0.2)
    assert fake.method_calls("messages.send") == []


# ---- edits and files ----------------------------------------------------------------------------------


async def test_message_edit_replaces_the_stored_text(tmp_path, fake, start_daemon):
    d = await start(tmp_path, start_daemon, fake)
    anna = await d.operator("anna")
    msg = await fake.message("I want 2 bikes")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    original = (await anna.expect("message"))["message"]
    await fake.edit(msg, "I want 3 bikes")
    edited = (await anna.expect("message.edited"))["message"]
    assert (edited["id"], edited["text"]) == (original["id"], "I want 3 bikes")
    msgs = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"]
    assert [(m["text"], m["edited_at"] is not None) for m in msgs] == [("I want 3 bikes", True)]


async def test_a_photo_arrives_as_an_attachment_the_console_downloads_through_our_server(
    tmp_path, fake, start_daemon
):
    d = await start(tmp_path, start_daemon, fake)
    anna = await d.operator("anna")
    body = b"\xff\xd8\xff" + b"jpeg" * 50_000  # ~200 KB: streamed in chunks
    photo = fake.photo(body)
    sent = await fake.message(
        "the scratch", attachments=[photo, {"type": "sticker", "sticker": {"sticker_id": 9}}]
    )
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    msg = (await anna.expect("message"))["message"]
    assert msg["text"] == "the scratch\n[sticker]"
    [att] = msg["attachments"]
    largest = photo["photo"]["sizes"][1]["url"]
    assert (att["mime"], att["ref"], att["url"].endswith("/attachments/0")) == (
        "image/jpeg",
        f"{PEER}:{sent['conversation_message_id']}:0",
        True,
    )
    stored = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"][0]["attachments"][0]
    assert stored["ref"] == att["ref"]
    async with d.session.get(f"{d.base}{att['url']}", headers=anna.headers) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
        assert await r.read() == body
    assert largest.startswith(fake.url)
    # after a restart the URL is not cached: VK is asked for the message again (its file URLs expire)
    d.daemon.connectors["vk"].communities["support"]._urls.clear()
    async with d.session.get(f"{d.base}{att['url']}", headers=anna.headers) as r:
        assert r.status == 200 and await r.read() == body
    assert len(fake.method_calls("messages.getByConversationMessageId")) == 1


async def test_a_web_process_serves_the_files_of_a_community_another_process_long_polls(
    tmp_path,
    fake,
    start_daemon,
    redis_url,  # noqa: F811  (fixture)
):
    settings = settings_from(
        tmp_path, {**vk_config(tmp_path, fake), "queue": {"backend": "redis", "url": redis_url}}
    )
    d = await start_daemon(settings)  # long-polls the community
    async with web_process(settings) as web:  # runs no VK loop
        assert "vk" not in web.connectors
        anna = await d.operator("anna")
        body = b"\xff\xd8\xff" + b"jpeg" * 5_000
        await fake.message("look", attachments=[fake.photo(body)])
        [att] = (await anna.expect("message"))["message"]["attachments"]
        # the web process has no URL cached: it asks VK for the message, then downloads the file
        async with d.session.get(f"http://127.0.0.1:{web.port}{att['url']}", headers=anna.headers) as r:
            assert r.status == 200, await r.text()
            assert await r.read() == body


async def test_documents_voice_and_forwarded_messages_are_files_and_quotes(tmp_path, fake, start_daemon):
    d = await start(tmp_path, start_daemon, fake)
    anna = await d.operator("anna")
    fake.users[6002] = {"id": 6002, "first_name": "Olga", "last_name": "Sidorova"}
    forwarded = {
        "from_id": 6002,
        "text": "the price is 100\nper item",
        "attachments": [fake.photo(b"x")],
        "conversation_message_id": 0,
        "date": 1,
        "peer_id": 6002,
    }
    await fake.message(
        "see below",
        attachments=[fake.doc("invoice.pdf", b"%PDF-1", "pdf"), fake.voice(b"OggS voice")],
        fwd_messages=[forwarded],
    )
    await anna.expect("dialog.offered")
    msg = (await anna.expect("message"))["message"]
    assert msg["text"] == (
        "see below\n> Forwarded from Olga Sidorova:\n> the price is 100\n> per item\n> [photo]"
    )
    assert [(a["name"], a["mime"], a["size"]) for a in msg["attachments"]] == [
        ("invoice.pdf", "application/pdf", 6),
        (msg["attachments"][1]["name"], "audio/ogg", None),
    ]
    async with d.session.get(f"{d.base}{msg['attachments'][1]['url']}", headers=anna.headers) as r:
        assert await r.read() == b"OggS voice"
    # one users.get for the sender and the forwarded author together
    [call] = fake.method_calls("users.get")
    assert sorted(call.params["user_ids"].split(",")) == sorted([str(PEER), "6002"])


async def test_files_to_the_customer_are_uploaded_as_photo_and_document(tmp_path, fake, start_daemon):
    d = await start(tmp_path, start_daemon, fake)
    anna, dialog_id, _ = await first_dialog(d, fake)
    store = d.daemon.connectors["vk"].ctx.attachments
    png, pdf = b"\x89PNG\r\n\x1a\n" + b"p" * 100, b"%PDF-1.4 invoice"
    files = (
        Attachment(
            "bike.png", "image/png", len(png), await store.put(png, name="bike.png", mime="image/png")
        ),
        Attachment(
            "invoice.pdf", "application/pdf", len(pdf), await store.put(pdf, name="x", mime="application/pdf")
        ),
    )
    message_id = uuid.uuid4().hex
    out = OutboundMessage(
        uuid.uuid4().hex,
        message_id,
        dialog_id,
        "vk",
        "support",
        str(PEER),
        "Here you are",
        "2026-01-01T00:00:00Z",
        "operator",
        "Anna",
        files,
    )
    assert d.daemon.bus is not None
    await d.daemon.bus.publish(outbound_stream("vk"), [out], key=conversation_key("vk", "support", str(PEER)))
    assert (await anna.expect("message.status", lambda f: f["message_id"] == message_id))["state"] == "sent"
    assert [(u.kind, u.filename.endswith(".png"), u.body) for u in fake.uploads] == [
        ("photo", True, png),
        ("doc", False, pdf),
    ]
    assert fake.uploads[1].title == "invoice.pdf"
    [sent] = fake.sent
    assert sent.text == "Here you are" and sent.attachment is not None
    photo_ref, doc_ref = sent.attachment.split(",")
    assert photo_ref.startswith(f"photo-{GROUP_ID}_") and doc_ref.startswith(f"doc-{GROUP_ID}_")


# ---- Bots Long Poll -------------------------------------------------------------------------------------


async def test_longpoll_failed_2_gets_a_new_key_and_keeps_the_ts(tmp_path, fake, start_daemon):
    d = await start(tmp_path, start_daemon, fake)
    anna, _, _ = await first_dialog(d, fake)
    await eventually(lambda: fake.polls and fake.polls[-1]["ts"] == str(fake.next_ts))
    ts = fake.polls[-1]["ts"]
    await fake.fail_poll(2)
    await eventually(lambda: len(fake.method_calls("groups.getLongPollServer")) == 2)
    await fake.message("still here")
    await anna.expect("message", lambda f: f["message"]["text"] == "still here")
    after = fake.polls[-1]
    assert after["key"] == fake.key != "key-1" and int(after["ts"]) >= int(ts)
    assert {p["ts"] for p in fake.polls if p["key"] == fake.key} >= {ts}  # the same ts, with the new key


async def test_longpoll_failed_1_goes_on_from_the_new_ts(tmp_path, fake, start_daemon):
    d = await start(tmp_path, start_daemon, fake)
    anna, _, _ = await first_dialog(d, fake)
    before = fake.next_ts
    await fake.fail_poll(1, lose=2)  # VK lost two events; it answers the ts after them
    await eventually(lambda: any(p["ts"] == str(before + 2) for p in fake.polls))
    await fake.message("after the gap")
    await anna.expect("message", lambda f: f["message"]["text"] == "after the gap")
    assert all(int(p["ts"]) in (before, before + 2, before + 3) for p in fake.polls if int(p["ts"]) >= before)
    assert await d.daemon.store.count("messages") == 2  # the lost ones never arrived
    assert len(fake.method_calls("groups.getLongPollServer")) == 1


async def test_a_restart_resumes_from_the_committed_ts_and_stores_the_event_once(
    tmp_path, fake, start_daemon
):
    settings = settings_from(tmp_path, vk_config(tmp_path, fake))
    d = await start_daemon(settings)
    anna, _, _ = await first_dialog(d, fake)
    community = d.daemon.connectors["vk"].communities["support"]
    await eventually(lambda: fake.polls[-1]["ts"] == str(fake.next_ts))
    committed = fake.next_ts
    # the next event is stored, but its receipt never reaches the connector (a crash in between)
    lost: list[Any] = []

    async def lose(receipt: Any) -> None:
        lost.append(receipt)

    d.daemon.connectors["vk"].on_receipt = lose
    await fake.message("sent just before the crash")
    await anna.expect("message", lambda f: f["message"]["text"] == "sent just before the crash")
    await eventually(lambda: bool(lost))
    assert await d.daemon.store.get_checkpoint("vk", "support", community.checkpoint_key) == str(committed)
    await d.daemon.stop()

    polls_before = len(fake.polls)
    d = await start_daemon(settings)
    anna = await d.operator("anna")
    await fake.message("after the restart")
    await anna.expect("message", lambda f: f["message"]["text"] == "after the restart")
    # the first poll after the restart asks from the committed ts, so VK sends the uncommitted event again
    assert fake.polls[polls_before]["ts"] == str(committed)
    store = d.daemon.store
    assert await store.count("messages") == 3  # the redelivered event was a no-op
    key = d.daemon.connectors["vk"].communities["support"].checkpoint_key
    await eventually(lambda: fake.polls[-1]["ts"] == str(fake.next_ts))
    assert await store.get_checkpoint("vk", "support", key) == str(fake.next_ts)


async def test_a_message_written_while_the_daemon_was_down_arrives_after_the_first_start(
    tmp_path, fake, start_daemon
):
    settings = settings_from(tmp_path, vk_config(tmp_path, fake))
    d = await start_daemon(settings)
    await eventually(lambda: bool(fake.polls))  # started from VK's current ts; nothing came
    await d.daemon.stop()
    await fake.message("written while you were down")
    d = await start_daemon(settings)
    anna = await d.operator("anna")
    # the message may be routed before anna is online (the dialog waits, then is offered to her) or after (she
    # gets the message frame too): either way the dialog is offered to her with the message stored in it
    offered = await anna.expect("dialog.offered")
    msgs = (await anna.get(f"/api/dialogs/{offered['dialog_id']}/messages"))["messages"]
    assert [m["text"] for m in msgs] == ["written while you were down"]


# ---- Callback API ---------------------------------------------------------------------------------------


async def test_callback_confirms_checks_the_secret_and_answers_ok_once_stored(tmp_path, fake, start_daemon):
    d = await start(tmp_path, start_daemon, fake, mode="callback", confirmation=CONFIRMATION, secret=SECRET)
    anna = await d.operator("anna")
    url = f"{d.base}/vk/callback"
    async with d.session.post(url, json={"type": "confirmation", "group_id": GROUP_ID}) as r:
        assert (r.status, await r.text()) == (200, CONFIRMATION)

    event = fake.message_new_event(fake.new_message("via callback"))
    async with d.session.post(url, json={**event, "secret": "wrong"}) as r:
        assert r.status == 403
    async with d.session.post(url, json=event) as r:  # no secret at all
        assert r.status == 403
    async with d.session.post(url, json={**event, "group_id": 999, "secret": SECRET}) as r:
        assert r.status == 403
    assert await d.daemon.store.count("messages") == 0

    async with d.session.post(url, json={**event, "secret": SECRET}) as r:
        assert (r.status, await r.text()) == (200, "ok")
    assert await d.daemon.store.count("messages") == 1  # "ok" means stored
    await anna.expect("message", lambda f: f["message"]["text"] == "via callback")
    async with d.session.post(url, json={**event, "secret": SECRET}) as r:  # VK retries: stored once
        assert (r.status, await r.text()) == (200, "ok")
    assert await d.daemon.store.count("messages") == 1
    assert fake.polls == [] and fake.method_calls("groups.getLongPollServer") == []


# ---- pure parts and settings ----------------------------------------------------------------------------

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("code", "retryable", "in_reason"),
    [
        (None, True, "unreachable"),
        (6, True, "VK error 6"),
        (9, True, "VK error 9"),
        (10, True, "VK error 10"),
        (7, False, "no right to send"),
        (15, False, "denied access"),
        (901, False, "has not allowed messages"),
        (902, False, "privacy settings"),
        (917, False, "no access to this conversation"),
        (100, False, "refused a parameter"),
    ],
)
def test_vk_errors_are_sorted_into_retryable_and_final(code, retryable, in_reason):
    is_retryable, reason = classify(code, "VK's own text")
    assert is_retryable is retryable and in_reason in reason


def test_random_ids_are_stable_positive_int31_and_differ_by_part():
    ids = {random_id("m1", 0), random_id("m1", 1), random_id("m2", 0)}
    assert len(ids) == 3 and all(0 < i < 2**31 for i in ids)
    assert random_id("m1", 0) == random_id("m1", 0)


def test_split_text_keeps_short_texts_and_cuts_long_ones_at_a_word():
    assert split_text("short") == ["short"]
    parts = split_text("a" * 4000 + " " + "b" * 200)
    assert parts == ["a" * 4000, "b" * 200]
    assert [len(p) for p in split_text("x" * 9000)] == [4096, 4096, 808]


def new_event(**message: Any) -> dict[str, Any]:
    return {"type": "message_new", "object": {"message": message}}


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"type": "message_reply", "object": {}}, "unsupported"),
        (new_event(peer_id=5, from_id=-1, conversation_message_id=1, out=1), "outgoing"),
        (new_event(peer_id=2_000_000_001, from_id=5, conversation_message_id=1), "chat"),
        ({"type": "message_new", "object": {"message": {"text": "no ids"}}}, "malformed"),
    ],
)
def test_events_that_make_no_message_are_skipped(event, reason):
    assert getattr(translate(event, "support", {}, NOW), "reason", None) == reason


def test_an_edit_refers_to_the_original_by_its_external_id():
    edit = {
        "type": "message_edit",
        "event_id": "e1",
        "object": {
            "peer_id": 5,
            "from_id": 5,
            "conversation_message_id": 12,
            "text": "new",
            "update_time": 99,
            "date": 1,
        },
    }
    m = translate(edit, "support", {}, NOW)
    assert isinstance(m, InboundMessage)
    assert (m.external_id, m.edit_of, m.chat_id, m.text) == ("5:12:edit:99", "5:12", "5", "new")


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ({"mode": "callback", "secret": "s"}, "needs confirmation"),
        ({"mode": "callback", "confirmation": "abc"}, "needs secret"),
        ({"group_id": -5}, "positive"),
        ({"api_base": "ftp://x"}, "not an http(s) URL"),
        ({"longpoll_wait": 0}, "greater than or equal to 1"),
        ({"requests_per_second": 50}, "less than or equal to 20"),
    ],
)
def test_settings_problems_are_precise(block, problem):
    found = validate_block({"type": "vk", "token": "t", "group_id": 1, **block})
    assert found and problem in found[0][1], found


async def test_an_operator_typing_sets_the_communitys_activity_in_the_conversation(
    tmp_path, fake, start_daemon
):
    d = await start(tmp_path, start_daemon, fake)
    anna, dialog_id, _ = await first_dialog(d, fake)
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned")
    await anna.send({"type": "typing", "dialog_id": dialog_id, "active": True})
    for _ in range(100):
        if fake.method_calls("messages.setActivity"):
            break
        await asyncio.sleep(0.05)
    calls = fake.method_calls("messages.setActivity")
    assert [(c.params["peer_id"], c.params["type"], c.params["group_id"]) for c in calls] == [
        (str(PEER), "typing", str(fake.group_id))
    ]
    # denied messages: nothing is shown either
    await fake.consent(False)
    await fake.message("one more thing")
    await anna.expect("message", lambda f: f["message"]["text"] == "one more thing")
    await anna.send({"type": "typing", "dialog_id": dialog_id, "active": False})
    await anna.send({"type": "typing", "dialog_id": dialog_id, "active": True})
    await asyncio.sleep(0.3)
    assert len(fake.method_calls("messages.setActivity")) == 1
