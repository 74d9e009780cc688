"""The customer rates the answer by e-mail: the question's mail (through a real aiosmtpd) carries a link per score
in both parts; the page behind them (served by the connector's own routes) records a POST as a CustomerRating, and
refuses forged or expired links and foreign origins without a server error."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from connectors.email import EmailConnector, EmailSettings
from connectors.email import rating as email_rating
from connectors.email.mailbox import Mailbox
from connectors.email.parse import parse_mail
from queues.messages import OutboundMessage
from tests.connectors.mailservers import MAILBOX as SUPPORT
from tests.connectors.mailservers import (  # noqa: F401 (the fixtures `dovecot` and `mail`)
    MailServers,
    Recorder,
    dovecot_fixture,
    free_port,
    mail_fixture,
)
from tests.connectors.stub_context import RecordingSink, Routes, binding, stub_context

MAILBOX = "support@shop.test"
DIALOG = "01JB2Q3R4S5T6V7W8X9Y0Z1A2B"
LINK = re.compile(r"https?://[^\s\"<>]+/email/rate/[^\s\"<>]+")


class Channel:
    def __init__(self, connector: EmailConnector, base: str, smtp: Recorder, chat_id: str) -> None:
        self.connector, self.base, self.smtp, self.chat_id = connector, base, smtp, chat_id

    @property
    def sink(self) -> RecordingSink:
        return self.connector.ctx.sink  # type: ignore[return-value]

    def question(
        self, scale: str, text: str = "Оцените, пожалуйста, наш ответ", **kw: Any
    ) -> OutboundMessage:
        return OutboundMessage(
            event_id="e1", message_id=f"m{time.monotonic_ns()}", dialog_id=DIALOG, channel="email",
            account="support", chat_id=self.chat_id, text=text, ts="2026-12-07T02:00:00.000Z",
            author_kind="system", ask_rating=scale, **kw,
        )  # fmt: skip


@pytest.fixture
async def channel() -> AsyncIterator[Channel]:
    smtp = Recorder()
    port = free_port()
    controller = Controller(smtp, hostname="127.0.0.1", port=port)
    controller.start()
    settings = EmailSettings.model_validate(
        {"type": "email", "address": MAILBOX,
         "imap": {"host": "127.0.0.1", "port": 1, "ssl": False, "password": "x"},
         "smtp": {"host": "127.0.0.1", "port": port, "starttls": False, "user": ""}}
    )  # fmt: skip
    ctx = stub_context("email")
    b = binding(settings)
    connector = EmailConnector([b], ctx)
    await connector.open_files()  # mounts the rating page (and reads no mail)
    routes: Routes = ctx.routes  # type: ignore[assignment]
    base = await routes.serve()
    ctx.public_url = base
    connector.mailboxes[b.account] = Mailbox(b, ctx, connector.book)  # sends; its intake is not started
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "Ivan <ivan@example.com>", MAILBOX, "Where is my order?"
    m["Message-ID"], m["Date"] = "<c1@example.com>", "Mon, 23 Nov 2026 10:00:00 +0000"
    m.set_content("Hello, where is order 5?")
    mail = parse_mail(m.as_bytes(), max_attachment_bytes=1024)
    chat_id = await connector.book.conversation_of("support", mail)
    await connector.book.customer_wrote("support", chat_id, mail)
    try:
        yield Channel(connector, base, smtp, chat_id)
    finally:
        await routes.close()
        controller.stop()


def parts(mail: EmailMessage) -> tuple[str, str]:
    plain = mail.get_body(("plain",))
    rich = mail.get_body(("html",))
    assert plain is not None and rich is not None
    return plain.get_content(), rich.get_content()


async def send(ch: Channel, msg: OutboundMessage) -> tuple[str, str]:
    before = len(ch.smtp.received)
    result = await ch.connector.send(msg)
    assert result.ok, result
    received = (await ch.smtp.wait(before + 1))[-1]
    return parts(received.message)


async def get(url: str, **kw: Any) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url, **kw) as r:
        return r.status, await r.text(), dict(r.headers)


async def post(url: str, data: dict[str, str], origin: str | None, **kw: Any) -> tuple[int, str]:
    headers = {"Origin": origin} if origin is not None else {}
    async with aiohttp.ClientSession() as http, http.post(url, data=data, headers=headers, **kw) as r:
        return r.status, await r.text()


# ---- the mail ------------------------------------------------------------------------------------------------


async def test_the_question_mail_carries_one_link_per_score_in_both_parts(channel):
    plain, rich = await send(channel, channel.question("five"))
    plain_links = LINK.findall(plain)
    assert len(plain_links) == 5 and all(u.startswith(channel.base + "/email/rate/") for u in plain_links)
    assert [u.rsplit("score=", 1)[1] for u in plain_links] == ["5", "4", "3", "2", "1"]
    assert "Оцените наш ответ:" in plain and "5 ★★★★★" in plain
    assert [u.replace("&amp;", "&") for u in LINK.findall(rich)] == plain_links

    plain, rich = await send(channel, channel.question("like", "Please rate our answer"))
    assert [u.rsplit("score=", 1)[1] for u in LINK.findall(plain)] == ["1", "0"]
    assert "👍 Good" in plain and "👎 Bad" in rich
    plain, rich = await send(channel, channel.question(None, "Just an answer"))
    assert not LINK.findall(plain) and not LINK.findall(rich)


# ---- the page --------------------------------------------------------------------------------------------------


async def test_the_page_shows_the_choices_and_a_post_records_one_rating(channel):
    plain, _ = await send(channel, channel.question("five", ask_comment=True))
    four = next(u for u in LINK.findall(plain) if u.endswith("score=4"))
    status, page, headers = await get(four)
    assert status == 200 and '<html lang="ru">' in page
    assert page.count('type="radio"') == 5 and 'value="4" checked' in page and "<textarea" in page
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert (
        # not no-referrer: under it a browser posts the form with `Origin: null`, which the page refuses
        headers["Referrer-Policy"] == "same-origin"
        and "<script" not in page
        and "http" not in page.split("<body>")[1]
    )
    assert channel.sink.events == []  # opening the link records nothing (mail scanners open links too)

    comment = '<script>alert("x")</script> & thanks'
    status, done = await post(four, {"score": "4", "comment": comment}, channel.base)
    assert status == 200 and "Спасибо за оценку!" in done
    assert "<script>" not in done and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; thanks" in done
    [rating] = channel.sink.ratings()
    assert (rating.channel, rating.account, rating.chat_id, rating.dialog_id, rating.score, rating.comment) == (
        "email", "support", channel.chat_id, DIALOG, 4, comment,
    )  # fmt: skip
    # the customer changes their mind: a new rating (the engine keeps the later one)
    status, _ = await post(four, {"score": "2"}, None)  # no Origin: not a browser form, the token decides
    assert status == 200 and [r.score for r in channel.sink.ratings()] == [4, 2]


async def test_without_ask_comment_the_page_has_no_comment_box_and_drops_one(channel):
    plain, _ = await send(channel, channel.question("like", "Please rate our answer"))
    good = LINK.findall(plain)[0]
    status, page, _ = await get(good)
    assert status == 200 and '<html lang="en">' in page and "<textarea" not in page
    status, done = await post(good, {"score": "1", "comment": "sneaky"}, channel.base)
    assert status == 200 and "Your rating: 👍 Good" in done and "sneaky" not in done
    assert [(r.score, r.comment) for r in channel.sink.ratings()] == [(1, None)]


async def test_a_foreign_origin_or_an_off_scale_score_records_nothing(channel):
    plain, _ = await send(channel, channel.question("like"))
    url = LINK.findall(plain)[0]
    for origin in ("https://evil.example", "null", channel.base.replace("127.0.0.1", "localhost")):
        status, page = await post(url, {"score": "1"}, origin)
        assert status == 403, origin
    for score in ("5", "-1", "", "1; drop", "01x"):
        status, page = await post(url, {"score": score}, channel.base)
        assert status == 400 and 'type="radio"' in page
    status, page = await post(url, {}, channel.base)
    assert status == 400
    assert channel.sink.events == []


async def test_forged_expired_or_foreign_links_are_404_or_410_never_500(channel):
    plain, _ = await send(channel, channel.question("five"))
    url = LINK.findall(plain)[0]
    token = url.split("/email/rate/")[1].split("?")[0]
    body, mac = token.split(".")
    signer = channel.connector.ctx.signer
    # a link is as old as the engine's rating window (RATE_WITHIN, 7 days) and a minute
    old = signer.sign({"iat": int(time.time()) - 7 * 86400 - 60, "k": "email.rating", "a": "support",
                       "c": channel.chat_id, "d": DIALOG, "s": "five", "l": "en"})  # fmt: skip
    recent = signer.sign({"iat": int(time.time()) - 7 * 86400 + 60, "k": "email.rating", "a": "support",
                          "c": channel.chat_id, "d": DIALOG, "s": "five", "l": "en"})  # fmt: skip
    status, page, _ = await get(f"{channel.base}/email/rate/{recent}?score=4")
    assert status == 200 and "<form" in page
    other = email_rating.make_token(signer, "another-line", channel.chat_id, DIALOG, "five", "en")
    widget_token = signer.sign({"v": "visitor", "line": "support"})  # genuine, but not a rating link
    cases = {
        f"{body}.{mac[:-2]}xx": 404,  # tampered
        f"{body[:-4]}AAAA.{mac}": 404,
        "nonsense": 404,
        "a" * 5000: 404,
        old: 410,
        other: 404,
        widget_token: 404,
    }
    for bad, expected in cases.items():
        status, page, _ = await get(f"{channel.base}/email/rate/{bad}")
        assert status == expected, (bad[:20], status)
        status, page = await post(f"{channel.base}/email/rate/{bad}", {"score": "5"}, channel.base)
        assert status == expected and "<form" not in page
    status, page, _ = await get(f"{channel.base}/email/rate/{old}", headers={"Accept-Language": "ru-RU,ru"})
    assert status == 410 and "Срок действия ссылки истёк." in page
    assert channel.sink.events == []


# ---- the whole way: the real daemon asks on close by mail, the page's POST is stored on the dialog -----------------


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_on_close_the_mail_links_to_the_page_and_its_post_rates_the_dialog(
    tmp_path, mail, start_daemon
):
    from tests.conftest import config, line, settings_from

    support = {
        **line("support", ["anna"]),
        "channels": [mail.channel()],
        "rating": {"scale": "five", "comment": True},
    }
    data = config(tmp_path, [support])
    data["http"]["port"] = 0  # chosen at bind: the links name the port it got (no public_url here)
    d = await start_daemon(settings_from(tmp_path, data))
    assert d.daemon.port > 0
    anna = await d.operator("anna")
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "Ivan <ivan@example.com>", SUPPORT, "Where is my order?"
    m["Message-ID"], m["Date"] = "<r1@example.com>", "Mon, 23 Nov 2026 10:00:00 +0000"
    m.set_content("Hello, where is order 5?")
    await mail.mailbox.deliver(m)
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.reply(dialog_id, "It is on its way.")
    await anna.send({"type": "close", "dialog_id": dialog_id})
    await anna.expect("dialog.closed", lambda f: f.get("dialog_id") == dialog_id)

    deadline = time.monotonic() + 15
    while not any(LINK.search(parts(r.message)[0]) for r in mail.smtp.received):
        assert time.monotonic() < deadline, "no rating mail"
        await asyncio.sleep(0.1)
    asked = next(r.message for r in mail.smtp.received if LINK.search(parts(r.message)[0]))
    plain, rich = parts(asked)
    urls = LINK.findall(plain)
    assert len(urls) == 5 and all(u.startswith(f"http://127.0.0.1:{d.daemon.port}/email/rate/") for u in urls)
    four = next(u for u in urls if u.endswith("score=4"))
    status, page, _ = await get(four)
    assert status == 200 and "<textarea" in page
    status, done = await post(four, {"score": "4", "comment": "Quick <b>and</b> kind"}, d.base)
    assert status == 200
    rated = await anna.expect("dialog.rated", lambda f: f.get("dialog_id") == dialog_id)
    assert (rated["rating"], rated["comment"]) == (4, "Quick <b>and</b> kind")
    status, _ = await post(four, {"score": "1"}, "https://evil.example")
    assert status == 403
    assert (await anna.get(f"/api/dialogs/{dialog_id}"))["rating"] == 4
