"""The Telegram channel: the real aiogram client against a fake Bot API, the real daemon in-process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import pytest
import structlog
import structlog.testing

from connectors.telegram_updates import Skipped
from tests.conftest import Running, StartDaemon, config, line, settings_from, web_process
from tests.connectors.fake_telegram import USER, FakeTelegram
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)

TOKEN = "123:abc"
OTHER_TOKEN = "456:def"
SECRET = "s3cret-token_1"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    f = FakeTelegram()
    f.add_bot(TOKEN)
    await f.start()
    yield f
    await f.stop()


def tg(fake: FakeTelegram, token: str = TOKEN, **block: Any) -> dict[str, Any]:
    """A telegram channel block pointed at the fake, polling briefly."""
    return {"type": "telegram", "token": token, "api_base": fake.url, "polling_timeout": 1, **block}


def tg_line(line_id: str, queue: list[str], *channels: dict[str, Any]) -> dict[str, Any]:
    return {**line(line_id, queue), "channels": list(channels)}


async def start(
    tmp_path: Path, start_daemon: StartDaemon, lines: list[dict[str, Any]], **top: Any
) -> Running:
    data = {**config(tmp_path, lines), **top}
    return await start_daemon(settings_from(tmp_path, data))


async def eventually(check: Any, timeout: float = 5.0) -> None:
    """Poll an async or plain condition until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def healthz(d: Running) -> dict[str, Any]:
    async with d.session.get(f"{d.base}/healthz") as r:
        return dict(await r.json())


# ---- a conversation -------------------------------------------------------------------------------------


async def test_first_message_opens_a_dialog_and_the_reply_goes_back_to_the_chat(tmp_path, fake, start_daemon):
    d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], tg(fake))])
    anna = await d.operator("anna")
    await fake.message(TOKEN, "Do you ship to Kazan?")

    offered = await anna.expect("dialog.offered")
    dialog_id = offered["dialog_id"]
    assert offered["dialog"]["line_id"] == "support" and offered["dialog"]["channel"] == "telegram"
    assert offered["dialog"]["customer_name"] == "Ivan Petrov"
    msg = await anna.expect("message", lambda f: f["dialog_id"] == dialog_id)
    assert msg["message"]["text"] == "Do you ship to Kazan?"

    # plain text: markup in an operator's answer is never interpreted
    ack = await anna.reply(dialog_id, "Yes, <b>3 days</b> & free")
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert status["state"] == "sent", status
    sent = fake.bots[TOKEN].sent
    assert [(s.method, s.chat_id, s.text) for s in sent] == [
        ("sendmessage", USER["id"], "Yes, <b>3 days</b> & free")
    ]
    call = next(c for c in fake.bots[TOKEN].calls if c.method == "sendmessage")
    assert "parse_mode" not in call.params

    lead = await anna.get(f"/api/leads/{offered['dialog']['lead']['id']}")
    assert lead["name"] == "Ivan Petrov" and lead["source"] == "telegram"
    assert [
        (i["channel"], i["account"], i["external_id"], i["display_name"]) for i in lead["identities"]
    ] == [("telegram", "support", str(USER["id"]), "Ivan Petrov")]


async def test_a_deep_link_tags_the_lead_and_a_shared_contact_gives_it_a_phone(tmp_path, fake, start_daemon):
    d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], tg(fake))])
    anna = await d.operator("anna")
    await fake.message(TOKEN, "/start spring_promo-42")
    offered = await anna.expect("dialog.offered")
    assert (await anna.expect("message"))["message"]["text"] == "/start spring_promo-42"
    await anna.reply(offered["dialog_id"], "Welcome! May we call you?")

    contact = {"phone_number": "79161234567", "first_name": "Ivan", "user_id": USER["id"]}
    await fake.message(TOKEN, None, contact=contact)
    msg = await anna.expect("message", lambda f: f["message"]["author"]["kind"] == "customer")
    assert msg["message"]["text"] == "Shared a contact: +79161234567"
    lead = await anna.get(f"/api/leads/{offered['dialog']['lead']['id']}")
    assert (lead["source"], lead["phone"]) == ("spring_promo-42", "+79161234567")


# ---- files ---------------------------------------------------------------------------------------------


async def test_photo_from_the_customer_is_an_attachment_the_console_can_download(
    tmp_path, fake, start_daemon
):
    d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], tg(fake))])
    anna = await d.operator("anna")
    body = b"\xff\xd8\xff" + b"jpeg-bytes" * 20_000  # ~200 KB: streamed in several chunks
    fake.add_file(body, "photos/file_7.jpg", "PHOTO-BIG")
    sizes = [
        {"file_id": "PHOTO-SMALL", "file_unique_id": "us", "width": 90, "height": 90, "file_size": 900},
        {"file_id": "PHOTO-BIG", "file_unique_id": "ub", "width": 800, "height": 800, "file_size": len(body)},
    ]
    await fake.message(TOKEN, None, photo=sizes, caption="the scratch on the frame")
    await anna.expect("dialog.offered")
    msg = (await anna.expect("message"))["message"]
    assert msg["text"] == "the scratch on the frame"
    [att] = msg["attachments"]
    assert (att["name"], att["mime"], att["size"], att["ref"]) == (
        "photo_ub.jpg",
        "image/jpeg",
        len(body),
        "PHOTO-BIG",
    )

    connector = d.daemon.connectors["telegram"]
    fetched = await connector.fetch_attachment("support", "PHOTO-BIG")
    assert fetched is not None and fetched.size == len(body) and fetched.mime == "image/jpeg"
    chunks = [c async for c in fetched.chunks]
    assert b"".join(chunks) == body and len(chunks) > 1
    assert await connector.fetch_attachment("support", "NO-SUCH-FILE") is None

    # through the console: our server fetches it from the Bot API on demand and streams it
    async with d.session.get(f"{d.base}{att['url']}", headers=anna.headers) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("image/jpeg")
        assert await r.read() == body

    # the Bot API away: a clear 502 that says to try again, not a server error; then it works again
    fake.bots[TOKEN].file_failures = 1
    async with d.session.get(f"{d.base}{att['url']}", headers=anna.headers) as r:
        assert r.status == 502
        err = await r.json()
        assert err["code"] == "channel_unavailable" and "try again" in err["message"]
    async with d.session.get(f"{d.base}{att['url']}", headers=anna.headers) as r:
        assert r.status == 200 and await r.read() == body


async def test_a_web_process_serves_the_files_of_a_bot_another_process_polls(
    tmp_path,
    fake,
    start_daemon,
    redis_url,  # noqa: F811  (fixture)
):
    data = {
        **config(tmp_path, [tg_line("support", ["anna"], tg(fake))]),
        "queue": {"backend": "redis", "url": redis_url},
    }
    settings = settings_from(tmp_path, data)
    d = await start_daemon(settings)  # polls the bot
    async with web_process(settings) as web:  # runs no Telegram bot
        assert "telegram" not in web.connectors
        anna = await d.operator("anna")
        body = b"%PDF-1.4 " + b"scan" * 5000
        fake.add_file(body, "documents/file_3.pdf", "DOC-1")
        doc = {
            "file_id": "DOC-1",
            "file_unique_id": "d1",
            "file_name": "scan.pdf",
            "mime_type": "application/pdf",
            "file_size": len(body),
        }
        await fake.message(TOKEN, None, document=doc)
        [att] = (await anna.expect("message"))["message"]["attachments"]
        async with d.session.get(f"http://127.0.0.1:{web.port}{att['url']}", headers=anna.headers) as r:
            assert r.status == 200, await r.text()
            assert await r.read() == body


async def test_files_from_the_console_go_as_photo_with_caption_and_as_document(tmp_path, fake, start_daemon):
    d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], tg(fake))])
    anna = await d.operator("anna")
    await fake.message(TOKEN, "send me the invoice please")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]

    async def upload(name: str, mime: str, data: bytes) -> dict[str, Any]:
        form = aiohttp.FormData()
        form.add_field("file", data, filename=name, content_type=mime)
        url = f"{d.base}/api/dialogs/{dialog_id}/attachments"
        async with d.session.post(url, data=form, headers=anna.headers) as r:
            assert r.status == 200, await r.text()
            return dict(await r.json())

    png = b"\x89PNG\r\n\x1a\n" + b"p" * 100
    pdf = b"%PDF-1.4 invoice"
    for text, file in (
        ("Here is your bike", await upload("bike.png", "image/png", png)),
        ("", await upload("invoice.pdf", "application/pdf", pdf)),
    ):
        ack = await anna.reply(dialog_id, text, attachments=[file])
        status = await anna.expect("message.status", lambda f, ack=ack: f["message_id"] == ack["id"])
        assert status["state"] == "sent", status
    assert [(s.method, s.file_name, s.file_bytes, s.caption) for s in fake.bots[TOKEN].sent] == [
        ("sendphoto", "bike.png", png, "Here is your bike"),
        ("senddocument", "invoice.pdf", pdf, None),
    ]


# ---- files the Bot API points at (a review found we trusted its file_path and file_size) ------------------------

SECRET_FILE = b"root:x:0:0:the-secret-nobody-may-read"
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=5)  # a download that hangs fails the test, not stalls the suite


async def customer_sends_file(fake: FakeTelegram, anna: Any, file_id: str) -> str:
    """The customer sends a document with this file id: the console URL of its attachment."""
    doc = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_name": "note.txt",
           "mime_type": "text/plain", "file_size": 10}  # fmt: skip
    await fake.message(TOKEN, None, document=doc)
    frame = await anna.expect(
        "message", lambda f: [a["ref"] for a in f["message"]["attachments"]] == [file_id]
    )
    return str(frame["message"]["attachments"][0]["url"])


async def console_download(d: Running, anna: Any, url: str) -> tuple[int, dict[str, str], bytes]:
    """GET the attachment as the operator: status, headers and the whole body, within a few seconds."""
    async with d.session.get(f"{d.base}{url}", headers=anna.headers, timeout=FETCH_TIMEOUT) as r:
        return r.status, dict(r.headers), await r.read()


async def test_an_absolute_file_path_from_the_bot_api_is_refused_without_local_files_root(
    tmp_path, fake, start_daemon
):
    secret = tmp_path / "elsewhere" / "passwd"
    secret.parent.mkdir()
    secret.write_bytes(SECRET_FILE)
    fake.add_file(b"unused", str(secret), "ABSOLUTE")
    with structlog.testing.capture_logs() as logs:
        d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], tg(fake))])
        anna = await d.operator("anna")
        url = await customer_sends_file(fake, anna, "ABSOLUTE")
        status, _, body = await console_download(d, anna, url)
    assert status == 404, body
    assert b"no longer has this file" in body and b"the-secret" not in body
    [event] = [e for e in logs if e["event"] == "telegram.file.refused"]
    assert (event["line"], event["reason"]) == ("support", "no_local_files_root")
    assert not any("the-secret" in str(v) or TOKEN in str(v) for e in logs for v in e.values())


async def test_with_local_files_root_a_file_inside_it_is_served_with_its_real_size(
    tmp_path, fake, start_daemon
):
    root = tmp_path / "telegram-bot-api"
    stored = root / TOKEN / "documents" / "file_1.txt"  # where a --local Bot API server keeps a bot's files
    stored.parent.mkdir(parents=True)
    body = b"invoice #42, " * 10_000  # several chunks
    stored.write_bytes(body)
    fake.add_file(b"not this", str(stored), "LOCAL", declared_size=len(body) + 500)
    block = tg(fake, local_files_root=str(root))
    d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], block)])
    anna = await d.operator("anna")
    status, headers, got = await console_download(d, anna, await customer_sends_file(fake, anna, "LOCAL"))
    assert status == 200
    assert got == body and headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize(
    "escape", ["dot_dot", "symlink", "symlinked_dir", "sibling_prefix", "the_root_itself"]
)
async def test_a_path_escaping_local_files_root_is_refused(tmp_path, fake, start_daemon, escape):
    root = tmp_path / "bot-api"
    (root / TOKEN).mkdir(parents=True)
    outside = tmp_path / "var-secret"
    outside.mkdir()
    (outside / "secret_key").write_bytes(SECRET_FILE)
    sibling = tmp_path / "bot-api-evil"  # starts with the root's name, is not inside it
    sibling.mkdir()
    (sibling / "secret_key").write_bytes(SECRET_FILE)
    (root / TOKEN / "link.txt").symlink_to(outside / "secret_key")
    (root / TOKEN / "documents").symlink_to(outside, target_is_directory=True)
    path = {
        "dot_dot": f"{root}/{TOKEN}/../../var-secret/secret_key",
        "symlink": f"{root}/{TOKEN}/link.txt",
        "symlinked_dir": f"{root}/{TOKEN}/documents/secret_key",
        "sibling_prefix": f"{sibling}/secret_key",
        "the_root_itself": f"{root}",
    }[escape]
    fake.add_file(b"unused", path, "ESCAPE")
    with structlog.testing.capture_logs() as logs:
        block = tg(fake, local_files_root=str(root))
        d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], block)])
        anna = await d.operator("anna")
        status, _, body = await console_download(d, anna, await customer_sends_file(fake, anna, "ESCAPE"))
    assert status == 404 and b"the-secret" not in body, body
    [event] = [e for e in logs if e["event"] == "telegram.file.refused"]
    assert event["reason"] == ("not_a_file" if escape == "the_root_itself" else "outside_local_files_root")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to ask which file was opened")
def test_a_directory_swapped_for_a_symlink_after_the_check_is_still_refused(tmp_path):
    from connectors.telegram_files import FileRefused, _open_inside

    root, outside = tmp_path / "bot-api", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret_key").write_bytes(SECRET_FILE)
    (root / "photos").mkdir()
    (root / "photos" / "secret_key").write_bytes(b"a customer's photo")
    real = os.path.realpath

    def swapped_after_realpath(path: str) -> str:
        resolved = real(path)  # inside the root: the check passes...
        (root / "photos").rename(root / "photos.old")  # ...then the directory is swapped for a symlink
        (root / "photos").symlink_to(outside, target_is_directory=True)
        return resolved

    with (
        mock.patch("connectors.telegram_files.os.path.realpath", swapped_after_realpath),
        pytest.raises(FileRefused, match="outside_local_files_root"),
    ):
        _open_inside(str(root), str(root / "photos" / "secret_key"))


@pytest.mark.parametrize("declared", ["larger", "smaller", "larger_sent_chunked"])
async def test_the_console_gets_the_real_body_whatever_file_size_getfile_declares(
    tmp_path, fake, start_daemon, declared
):
    body = b"%PDF-1.4 " + b"page" * 50_000  # ~200 KB: several chunks
    size = len(body) - 10_000 if declared == "smaller" else len(body) + 10_000
    fake.add_file(
        body, "documents/file_9.pdf", "LYING", declared_size=size, chunked=declared.endswith("chunked")
    )
    d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], tg(fake))])
    anna = await d.operator("anna")
    status, headers, got = await console_download(d, anna, await customer_sends_file(fake, anna, "LYING"))
    assert status == 200
    assert len(got) == len(body) and got == body
    # the download's own length, or none (sent chunked) when the Bot API sent none
    assert headers.get("Content-Length") == (None if declared.endswith("chunked") else str(len(body)))


# ---- delivery errors ------------------------------------------------------------------------------------


async def test_flood_control_is_retried_after_retry_after_and_a_blocked_bot_fails_at_once(
    tmp_path, fake, start_daemon
):
    d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], tg(fake))])
    anna = await d.operator("anna")
    await fake.message(TOKEN, "hi")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    bot = fake.bots[TOKEN]

    fake.fail_sends(TOKEN, 1, "retry_after", retry_after=1)
    ack = await anna.reply(dialog_id, "hello!")
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"], timeout=10)
    assert (status["state"], status["error"]) == ("sent", None)
    attempts = [c.at for c in bot.calls if c.method == "sendmessage"]
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= 0.9  # Telegram's retry_after was honoured
    assert [s.text for s in bot.sent] == ["hello!"]

    fake.fail_sends(TOKEN, 1, "blocked")
    ack = await anna.reply(dialog_id, "hello?")
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert (status["state"], status["error"]) == ("failed", "Forbidden: bot was blocked by the user")
    assert [c.method for c in bot.calls].count("sendmessage") == 3  # final: not retried
    msgs = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"]
    assert msgs[-1]["delivery"] == {"state": "failed", "error": "Forbidden: bot was blocked by the user"}


async def test_a_long_reply_is_split_in_order_on_paragraph_boundaries(tmp_path, fake, start_daemon):
    d = await start(
        tmp_path, start_daemon, [tg_line("support", ["anna"], tg(fake))], limits={"max_message_length": 6000}
    )
    anna = await d.operator("anna")
    await fake.message(TOKEN, "tell me everything")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    paragraphs = [f"Paragraph {i}: " + "word " * 100 for i in range(10)]  # ~510 characters each
    text = "\n\n".join(p.strip() for p in paragraphs)
    assert len(text) > 5000
    ack = await anna.reply(dialog_id, text)
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert status["state"] == "sent"
    parts = [s.text or "" for s in fake.bots[TOKEN].sent]
    assert len(parts) == 2
    assert all(len(p) <= 4096 for p in parts)
    assert parts[0].endswith("word") and parts[1].startswith("Paragraph ")  # cut between paragraphs
    assert "\n\n".join(parts) == text


# ---- idempotency and offsets -----------------------------------------------------------------------------


async def test_a_redelivered_update_is_stored_once(tmp_path, fake, start_daemon):
    d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], tg(fake))])
    anna = await d.operator("anna")
    update_id, _ = await fake.message(TOKEN, "only once please")
    await anna.expect("message")
    await fake.redeliver(TOKEN, update_id)
    bot = fake.bots[TOKEN]
    # returned twice, and after the second time the offset moved past it again (its receipt came back)
    await fake.wait_for(lambda: [u["update_id"] for u in fake.delivered(TOKEN)].count(update_id) == 2)
    seen = len(bot.offsets())
    await fake.wait_for(lambda: len(bot.offsets()) > seen and bot.offsets()[-1] == update_id + 1)
    await anna.absent("message", wait=0.2)
    assert await d.daemon.store.count("messages") == 1


async def test_an_edit_replaces_the_text_and_its_redelivery_changes_nothing(tmp_path, fake, start_daemon):
    d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], tg(fake))])
    anna = await d.operator("anna")
    _, message_id = await fake.message(TOKEN, "I need a red bike")
    original = (await anna.expect("message"))["message"]
    edit = await fake.edit(TOKEN, message_id, "I need a blue bike", edit_date=1_800_000_000)
    edited = (await anna.expect("message.edited"))["message"]
    assert (edited["id"], edited["text"]) == (original["id"], "I need a blue bike")
    assert [e["text"] for e in edited["edits"]] == ["I need a red bike"]
    await fake.wait_for(lambda: fake.bots[TOKEN].offsets()[-1] == edit + 1)  # committed

    await fake.redeliver(TOKEN, edit)  # the same edit delivered again
    await fake.wait_for(lambda: [u["update_id"] for u in fake.delivered(TOKEN)].count(edit) == 2)
    await fake.wait_for(lambda: fake.bots[TOKEN].offsets()[-1] == edit + 1)
    await anna.absent("message.edited", wait=0.2)
    assert await d.daemon.store.count("messages") == 1


async def test_restart_before_the_receipt_resumes_from_the_stored_offset(tmp_path, fake, start_daemon):
    settings = settings_from(tmp_path, config(tmp_path, [tg_line("support", ["anna"], tg(fake))]))
    d = await start_daemon(settings)
    anna = await d.operator("anna")
    first, _ = await fake.message(TOKEN, "first")
    await anna.expect("message")
    bot = fake.bots[TOKEN]
    await fake.wait_for(lambda: bot.offsets()[-1] == first + 1)

    # stored, but the receipt never reaches the connector: the offset must not move past it
    connector = d.daemon.connectors["telegram"]

    async def lost(_receipt: Any) -> None:
        return None

    connector.on_receipt = lost  # type: ignore[method-assign]
    second, _ = await fake.message(TOKEN, "second")
    await anna.expect("message", lambda f: f["message"]["text"] == "second")
    await d.daemon.stop()
    assert await d.daemon.store.get_checkpoint("telegram", "support", "offset") == str(second)
    await d.daemon.store.close()
    calls_before = len(bot.offsets())

    d2 = await start_daemon(settings)
    await fake.wait_for(lambda: bot.offsets()[calls_before:][:1] == [second])  # resumed from the old offset
    await fake.wait_for(lambda: bot.offsets()[-1] == second + 1)  # and moved on after the receipt
    assert await d2.daemon.store.count("messages") == 2


async def test_restart_before_the_commit_loses_nothing(tmp_path, fake, start_daemon):
    settings = settings_from(tmp_path, config(tmp_path, [tg_line("support", ["anna"], tg(fake))]))
    d = await start_daemon(settings)
    assert d.daemon.engine is not None
    await d.daemon.engine.stop()  # the router is down: the update is fetched but never committed
    update_id, _ = await fake.message(TOKEN, "are you there?")
    await fake.wait_for(lambda: any(u["update_id"] == update_id for u in fake.delivered(TOKEN)))
    await d.daemon.stop()
    assert await d.daemon.store.count("messages") == 0
    await d.daemon.store.close()

    d2 = await start_daemon(settings)
    anna = await d2.operator("anna")
    # the update may be routed before anna is online (the dialog waits, then is offered to her) or after: either
    # way the dialog is offered to her with the message stored in it
    offered = await anna.expect("dialog.offered")
    msgs = (await anna.get(f"/api/dialogs/{offered['dialog_id']}/messages"))["messages"]
    assert [m["text"] for m in msgs] == ["are you there?"]
    await fake.wait_for(lambda: fake.bots[TOKEN].offsets()[-1] == update_id + 1)
    assert await d2.daemon.store.count("messages") == 1


# ---- webhook ----------------------------------------------------------------------------------------------


async def test_webhook_checks_the_secret_and_answers_after_the_commit(tmp_path, fake, start_daemon):
    block = tg(fake, mode="webhook", webhook_url="https://chat.example.test/tg/support", secret_token=SECRET)
    d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], block)])
    anna = await d.operator("anna")
    bot = fake.bots[TOKEN]
    await fake.wait_for(lambda: bot.webhook is not None)
    assert bot.webhook is not None
    assert (bot.webhook["url"], bot.webhook["secret_token"]) == (
        "https://chat.example.test/tg/support",
        SECRET,
    )
    assert "getupdates" not in [c.method for c in bot.calls]

    update = {
        "update_id": 77,
        "message": {
            "message_id": 5,
            "date": 1_800_000_000,
            "chat": {"id": USER["id"], "type": "private"},
            "from": USER,
            "text": "via webhook",
        },
    }
    url = f"{d.base}/tg/support"
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        async with d.session.post(url, json=update, headers=headers) as r:
            assert r.status == 401
    await asyncio.sleep(0.2)
    assert await d.daemon.store.count("messages") == 0

    good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with d.session.post(url, json=update, headers=good) as r:
        assert r.status == 200
    assert await d.daemon.store.count("messages") == 1  # answered only once stored
    await anna.expect("dialog.offered")
    async with d.session.post(url, json=update, headers=good) as r:  # Telegram retrying
        assert r.status == 200
    assert await d.daemon.store.count("messages") == 1
    group = {**update, "update_id": 78, "message": {**update["message"], "chat": {"id": -1, "type": "group"}}}
    async with d.session.post(url, json=group, headers=good) as r:
        assert r.status == 200  # ignored, and not redelivered by Telegram


# ---- start-up, health, groups -----------------------------------------------------------------------------


async def test_an_invalid_token_refuses_that_bot_while_the_others_serve(tmp_path, fake, start_daemon):
    fake.add_bot(OTHER_TOKEN, "sales_bot")
    lines = [
        tg_line("support", ["anna"], tg(fake, token="999:revoked"), {"type": "widget"}),
        tg_line("sales", ["boris"], tg(fake, token=OTHER_TOKEN)),
    ]
    d = await start(tmp_path, start_daemon, lines)
    health = await healthz(d)
    assert health["status"] == "degraded"
    refused = health["channels"]["telegram:support"]
    assert refused["state"] == "refused"
    assert "line 'support'" in refused["detail"] and "Unauthorized" in refused["detail"]
    assert health["channels"]["telegram:sales"] == {"state": "up"}
    assert health["channels"]["widget:support"] == {"state": "up"}

    # the widget of the same line and the other bot still work
    anna, boris = await d.operator("anna"), await d.operator("boris")
    visitor = await d.visitor("support")
    await visitor.say("hello from the site")
    assert (await anna.expect("dialog.offered"))["dialog"]["channel"] == "widget"
    await fake.message(OTHER_TOKEN, "hello sales")
    offered = await boris.expect("dialog.offered")
    assert (offered["dialog"]["line_id"], offered["dialog"]["channel"]) == ("sales", "telegram")


async def test_polling_survives_a_network_failure_and_reports_it(tmp_path, fake, start_daemon):
    d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], tg(fake))])
    anna = await d.operator("anna")
    await fake.fail_updates(TOKEN, 2)
    await eventually(lambda: _state(d, "down"))
    health = await healthz(d)
    assert "getUpdates failed" in health["channels"]["telegram:support"]["detail"]
    await eventually(lambda: _state(d, "up"))
    await fake.message(TOKEN, "back online?")
    assert (await anna.expect("message"))["message"]["text"] == "back online?"


async def _state(d: Running, state: str) -> bool:
    return (await healthz(d))["channels"]["telegram:support"]["state"] == state


async def test_group_messages_are_ignored_unless_allowed(tmp_path, fake, start_daemon):
    fake.add_bot(OTHER_TOKEN, "team_bot")
    lines = [
        tg_line("support", ["anna"], tg(fake)),
        tg_line("sales", ["boris"], tg(fake, token=OTHER_TOKEN, allow_groups=True)),
    ]
    with structlog.testing.capture_logs() as logs:
        d = await start(tmp_path, start_daemon, lines)
        anna, boris = await d.operator("anna"), await d.operator("boris")
        group = {"id": -100500, "type": "supergroup", "title": "Bike fans"}
        ignored, _ = await fake.message(TOKEN, "hi all", chat=group)
        await fake.message(OTHER_TOKEN, "hi all", chat=group)

        offered = await boris.expect("dialog.offered")
        assert offered["dialog"]["customer_name"] == "Bike fans"
        assert (await boris.expect("message"))["message"]["text"] == "Ivan Petrov: hi all"
        await fake.wait_for(lambda: fake.bots[TOKEN].offsets()[-1] == ignored + 1)  # confirmed at once
        await anna.absent("dialog.offered", wait=0.2)
        assert await d.daemon.store.count("messages") == 1
    [event] = [e for e in logs if e["event"] == "telegram.group.ignored"]
    assert (event["line"], event["chat"], event["chat_type"], event["update_id"]) == (
        "support",
        -100500,
        "supergroup",
        ignored,
    )
    assert not any("hi all" in str(v) for e in logs for v in e.values())  # no message bodies in the logs


# ---- config -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ({"token": "not-a-token"}, "not a bot token"),
        ({"mode": "webhook"}, "needs webhook_url"),
        ({"mode": "webhook", "webhook_url": "http://x.test/h", "secret_token": "s"}, "https://"),
        ({"mode": "webhook", "webhook_url": "https://x.test/h"}, "needs secret_token"),
        ({"mode": "webhook", "webhook_url": "https://x.test/h", "secret_token": "bad secret!"}, "1-256"),
        ({"api_base": "localhost:8081"}, "not an http(s) URL"),
        ({"polling_timeout": 0}, "greater than or equal to 1"),
        ({"tokn": "1:a"}, "Extra inputs are not permitted"),
        ({"local_files_root": "var/telegram-bot-api"}, "an absolute path"),
        ({"local_files_root": "/nonexistent/telegram-bot-api"}, "not an existing directory"),
        ({"local_files_root": "/"}, "must not be the filesystem root"),
    ],
)
def test_bad_channel_blocks_are_refused_with_a_precise_message(block, problem):
    from connectors import validate_block

    problems = validate_block({"type": "telegram", "token": "123:abc", **block})
    assert any(problem in msg for _, msg in problems), problems


def test_importing_the_connectors_does_not_import_aiogram():
    code = "import sys, connectors; assert 'aiogram' not in sys.modules, 'aiogram imported eagerly'"
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], check=False,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_the_token_never_appears_in_a_settings_repr():
    from connectors.telegram import TelegramSettings

    s = TelegramSettings.model_validate({"type": "telegram", "token": "123:topsecret"})
    assert "topsecret" not in repr(s)


# ---- pure parts: updates, text parts, offsets ----------------------------------------------------------------


def _update(**message: Any) -> Any:
    from aiogram.types import Update

    base = {"message_id": 9, "date": 1_800_000_000, "chat": {"id": 5001, "type": "private"}, "from": USER}
    key = "edited_message" if "edit_date" in message else "message"
    return Update.model_validate({"update_id": 1, key: {**base, **message}})


@pytest.mark.parametrize(
    ("message", "text", "attachment"),
    [
        ({"document": {"file_id": "D", "file_unique_id": "d", "file_name": "cv.pdf", "mime_type": "application/pdf",
                       "file_size": 10}, "caption": "my CV"}, "my CV", ("cv.pdf", "application/pdf", 10, "D")),
        ({"voice": {"file_id": "V", "file_unique_id": "v", "duration": 3, "mime_type": "audio/ogg", "file_size": 5}},
         "", ("voice.ogg", "audio/ogg", 5, "V")),
        ({"video_note": {"file_id": "N", "file_unique_id": "n", "length": 240, "duration": 4}},
         "", ("video_note.mp4", "video/mp4", None, "N")),
        ({"location": {"latitude": 55.75, "longitude": 37.62}}, "Shared a location: 55.750000, 37.620000", None),
        ({"sticker": {"file_id": "S", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1,
                      "is_animated": False, "is_video": False, "emoji": "👍"}}, "Sticker 👍", None),
        ({"contact": {"phone_number": "+44 20 7946 0000", "first_name": "Olga", "user_id": 42}},
         "Shared a contact: Olga +44 20 7946 0000", None),
    ],
)  # fmt: skip
def test_media_and_shared_things_become_text_and_attachments(message, text, attachment):
    from connectors.telegram_updates import translate

    m = translate(_update(**message), "support", allow_groups=False)
    assert not isinstance(m, Skipped)
    assert m.text == text
    assert m.sender.phone is None  # someone else's contact is not the customer's phone
    got = [(a.name, a.mime, a.size, a.ref) for a in m.attachments]
    assert got == ([attachment] if attachment else [])


def test_unsupported_messages_and_plain_start_are_told_apart():
    from connectors.telegram_updates import translate

    skipped = translate(_update(dice={"emoji": "🎲", "value": 3}), "support", allow_groups=False)
    assert isinstance(skipped, Skipped) and skipped.reason == "unsupported"
    for text in ("/start", "/start not a valid payload!"):
        m = translate(_update(text=text), "support", allow_groups=False)
        assert not isinstance(m, Skipped) and m.source_tag is None and m.text == text
    nameless = {**USER, "first_name": "", "last_name": None}
    m = translate(_update(text="hi", **{"from": nameless}), "support", allow_groups=False)
    assert not isinstance(m, Skipped) and m.sender.display_name == "@ivanp"


def test_an_edit_refers_to_the_original_and_has_its_own_key():
    from connectors.telegram_updates import translate

    m = translate(_update(text="fixed", edit_date=1_800_000_100), "support", allow_groups=False)
    assert not isinstance(m, Skipped)
    assert (m.external_id, m.edit_of, m.text) == ("5001:9:1800000100", "5001:9", "fixed")
    new = translate(_update(text="first"), "support", allow_groups=False)
    assert not isinstance(new, Skipped) and (new.external_id, new.edit_of) == ("5001:9", None)


@pytest.mark.parametrize(
    ("text", "limit", "parts"),
    [
        ("short", 10, ["short"]),
        ("aaaa\n\nbbbb cc", 10, ["aaaa", "bbbb cc"]),
        ("aaaa bbbb\ncccc", 10, ["aaaa bbbb", "cccc"]),
        ("aaaa bbbb cccc", 10, ["aaaa bbbb", "cccc"]),
        ("abcdefghijklmno", 10, ["abcdefghij", "klmno"]),  # no boundary: a hard cut
        ("a bcdefghijklmno", 10, ["a bcdefghi", "jklmno"]),  # a boundary too early is not worth it
        ("😀😀😀", 4, ["😀😀", "😀"]),  # UTF-16 code units, and never half an emoji
    ],
)
def test_long_texts_are_cut_at_the_nearest_boundary(text, limit, parts):
    from connectors.telegram_updates import split_text

    assert split_text(text, limit) == parts


def test_the_offset_moves_only_past_committed_updates():
    from connectors.telegram_offsets import OffsetTracker
    from connectors.telegram_updates import translate

    def msg(n: int) -> Any:
        m = translate(_update(text=f"m{n}", message_id=n), "support", allow_groups=False)
        assert not isinstance(m, Skipped)
        return m

    t = OffsetTracker(10)
    t.published(10, msg(10))
    t.skipped(11)  # a group message: done at once, but 10 is still in flight
    t.published(12, msg(12))
    assert t.offset == 10 and not t.is_new(10) and t.is_new(13)
    assert t.committed("5001:12") and t.offset == 10  # 12 done, 10 still holds the offset back
    assert t.committed("5001:10") and t.offset == 13
    assert not t.committed("5001:10")  # a repeated receipt changes nothing
    t.published(13, msg(13))
    t.abandon(13)  # its receipt never came
    assert t.offset == 14 and t.in_flight == []
    t.published(3, msg(3))  # an old update sent again: the offset never goes back
    assert t.committed("5001:3") and t.offset == 14


async def test_an_operator_typing_shows_typing_in_the_chat_and_stopping_sends_nothing(
    tmp_path, fake, start_daemon
):
    d = await start(tmp_path, start_daemon, [tg_line("support", ["anna"], tg(fake))])
    anna = await d.operator("anna")
    await fake.message(TOKEN, "Do you ship to Kazan?")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.send({"type": "typing", "dialog_id": dialog_id, "active": True})  # offered, not hers yet
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned")
    await anna.send({"type": "typing", "dialog_id": dialog_id, "active": False})
    await anna.send({"type": "typing", "dialog_id": dialog_id, "active": True})
    bot = fake.bots[TOKEN]

    def actions():
        return [c.params for c in bot.calls if c.method == "sendchataction"]

    await fake.wait_for(lambda: actions())
    assert actions() == [{"chat_id": USER["id"], "action": "typing"}]
    await anna.send({"type": "typing", "dialog_id": dialog_id, "active": False})  # Telegram has no "stop"
    await anna.reply(dialog_id, "Yes")  # after the stop: had it been sent, it would be there by now
    await fake.wait_for(lambda: bot.sent)
    assert len(actions()) == 1
