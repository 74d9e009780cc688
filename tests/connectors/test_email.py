"""The e-mail channel: the real daemon reading a real Dovecot over IMAP and answering through a real aiosmtpd."""

from __future__ import annotations

import asyncio
import base64
import shutil
import ssl
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from connectors.email import EmailSettings, fetch, mailbox
from connectors.email.fetch import utf7_folder
from connectors.email.threads import tag_of
from crm_core.store import Store
from queues.messages import Receipt
from tests.conftest import Running, StartDaemon, config, line, settings_from, web_process
from tests.connectors.mailservers import (  # noqa: F401 (the fixtures `dovecot` and `mail`)
    MAILBOX,
    PASSWORD,
    Dovecot,
    MailServers,
    dovecot_fixture,
    free_port,
    mail_fixture,
)
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)

# the test SMTP server takes logins over plain TCP on 127.0.0.1
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

CUSTOMER = "Ivan Petrov <Ivan.Petrov@Example.com>"


def customer_mail(
    text: str,
    *,
    message_id: str = "<c1@example.com>",
    subject: str = "Where is order 5?",
    sender: str = CUSTOMER,
    **headers: str,
) -> EmailMessage:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = MAILBOX
    m["Subject"] = subject
    m["Message-ID"] = message_id
    m["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content(text)
    return m


def raw_mail(
    body: bytes, content_type: str, encoding: str, subject: str, sender: str, message_id: str
) -> bytes:
    head = (
        f"From: {sender}\r\nTo: {MAILBOX}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
    )
    return head.encode() + body


async def start(
    tmp_path: Path,
    start_daemon: StartDaemon,
    mail: MailServers,
    channel: dict[str, Any] | None = None,
    **extra: Any,
) -> Running:
    lines = [{**line("support", ["anna"]), "channels": [channel or mail.channel()], **extra}]
    return await start_daemon(settings_from(tmp_path, config(tmp_path, lines)))


async def eventually(check: Any, timeout: float = 10.0) -> Any:
    """Poll an async or plain condition until it holds; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def body(m: EmailMessage, kind: str) -> str:
    """A text part of a received mail, with the SMTP line ends undone."""
    part = m.get_body((kind,))
    assert part is not None, f"no text/{kind} part"
    return str(part.get_content()).replace("\r\n", "\n")


async def seen(mail: MailServers, message_id: str, folder: str = "INBOX") -> bool:
    return "\\Seen" in (await mail.mailbox.flags(folder)).get(message_id, set())


# ---- a conversation -------------------------------------------------------------------------------------


async def test_a_web_process_serves_the_files_of_mail_another_process_fetched(
    tmp_path,
    mail,
    start_daemon,
    redis_url,  # noqa: F811  (fixture)
):
    lines = [{**line("support", ["anna"]), "channels": [mail.channel()]}]
    data = {**config(tmp_path, lines), "queue": {"backend": "redis", "url": redis_url}}
    settings = settings_from(tmp_path, data)
    d = await start_daemon(settings)  # reads the mailbox
    async with web_process(settings) as web:  # reads no mail
        assert "email" not in web.connectors
        anna = await d.operator("anna")
        await mail.mailbox.deliver(customer_mail("Hello, where is my order 5?\n\n-- \nIvan Petrov\nACME Ltd"))
        [att] = (await anna.expect("message"))["message"]["attachments"]  # the original, signature and all
        async with d.session.get(f"{d.base}{att['url']}", headers=anna.headers) as r:
            assert r.status == 200
            original = await r.read()
        async with d.session.get(f"http://127.0.0.1:{web.port}{att['url']}", headers=anna.headers) as r:
            assert r.status == 200, await r.text()
            assert await r.read() == original


async def test_a_new_address_makes_a_lead_the_answer_threads_and_the_reply_comes_back(
    tmp_path, mail, start_daemon
):
    d = await start(tmp_path, start_daemon, mail)
    anna = await d.operator("anna")
    await mail.mailbox.deliver(customer_mail("Hello, where is my order 5?\n\n-- \nIvan Petrov\nACME Ltd"))

    offered = await anna.expect("dialog.offered")
    dialog_id = offered["dialog_id"]
    assert (offered["dialog"]["channel"], offered["dialog"]["customer_name"]) == ("email", "Ivan Petrov")
    first = (await anna.expect("message", lambda f: f["dialog_id"] == dialog_id))["message"]
    assert first["text"] == "Where is order 5?\n\nHello, where is my order 5?"  # subject first, no signature
    assert [a["name"] for a in first["attachments"]] == ["original.eml"]  # the signature is kept there
    lead = await anna.get(f"/api/leads/{offered['dialog']['lead']['id']}")
    assert (lead["name"], lead["email"], lead["source"]) == (
        "Ivan Petrov",
        "ivan.petrov@example.com",
        "email",
    )
    assert [(i["channel"], i["account"], i["external_id"]) for i in lead["identities"]] == [
        ("email", "support", "ivan.petrov@example.com")
    ]
    await eventually(lambda: seen(mail, "<c1@example.com>"))  # flagged once stored

    ack = await anna.reply(dialog_id, "It ships tomorrow.\nTracking: <TRK-1> & more")
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert status["state"] == "sent", status
    [answer] = await mail.smtp.wait(1)
    assert mail.smtp.logins == [MAILBOX]  # logged in with the mailbox's credentials
    assert (answer.sender, answer.recipients) == (MAILBOX, ["ivan.petrov@example.com"])
    m = answer.message
    tag = tag_of("<c1@example.com>")
    assert m["Subject"] == f"Re: Where is order 5? [#{tag}]"
    assert (m["In-Reply-To"], m["References"]) == ("<c1@example.com>", "<c1@example.com>")
    assert m["Message-ID"] == f"<openlines.{ack['id']}@example.test>"
    assert m["Auto-Submitted"] is None
    assert body(m, "plain") == "It ships tomorrow.\nTracking: <TRK-1> & more\n"
    assert "It ships tomorrow.<br>\nTracking: &lt;TRK-1&gt; &amp; more" in body(m, "html")

    # the customer answers from a client that keeps only In-Reply-To, quoting our mail
    reply = customer_mail(
        "Thanks, and can you deliver to the office?\n\n"
        "On Mon, 23 Nov 2026 at 11:00, Support <support@example.test> wrote:\n> It ships tomorrow.",
        message_id="<c2@example.com>",
        subject=f"Re: Where is order 5? [#{tag}]",
        In_Reply_To=m["Message-ID"],
    )
    await mail.mailbox.deliver(reply)
    again = (await anna.expect("message", lambda f: f["message"]["author"]["kind"] == "customer"))["message"]
    assert again["dialog_id"] == dialog_id
    assert again["text"] == "Thanks, and can you deliver to the office?"
    [original] = again["attachments"]
    assert (original["name"], original["mime"]) == ("original.eml", "message/rfc822")
    async with d.session.get(f"{d.base}{original['url']}", headers=anna.headers) as r:
        assert r.status == 200 and b"> It ships tomorrow." in await r.read()

    # the next answer names the customer's latest mail and the whole thread
    await anna.reply(dialog_id, "Yes, we can.")
    second = (await mail.smtp.wait(2))[1].message
    assert second["In-Reply-To"] == "<c2@example.com>"
    assert second["References"].split() == ["<c1@example.com>", m["Message-ID"], "<c2@example.com>"]
    assert second["Subject"] == f"Re: Where is order 5? [#{tag}]"


async def test_a_known_address_is_the_same_lead_and_a_new_thread_a_new_dialog(tmp_path, mail, start_daemon):
    d = await start(tmp_path, start_daemon, mail)
    anna = await d.operator("anna")
    await mail.mailbox.deliver(customer_mail("first question"))
    one = await anna.expect("dialog.offered")
    await mail.mailbox.deliver(
        customer_mail(
            "another topic",
            message_id="<c9@example.com>",
            subject="Invoice",
            sender="ivan.petrov@example.com",
        )
    )
    two = await anna.expect("dialog.offered", lambda f: f["dialog_id"] != one["dialog_id"])
    assert two["dialog"]["lead"]["id"] == one["dialog"]["lead"]["id"]
    # a reply that lost its headers but kept the subject tag still finds its thread
    await mail.mailbox.deliver(
        customer_mail(
            "tagged", message_id="<c10@example.com>", subject=f"RE: Invoice [#{tag_of('<c9@example.com>')}]"
        )
    )
    tagged = await anna.expect("message", lambda f: f["message"]["text"] == "tagged")
    assert tagged["dialog_id"] == two["dialog_id"]


async def test_files_come_in_and_go_out(tmp_path, mail, start_daemon):
    channel = mail.channel(max_attachment_bytes=2000)
    d = await start(tmp_path, start_daemon, mail, channel)
    anna = await d.operator("anna")
    incoming = customer_mail("the invoice and a photo")
    incoming.add_attachment(b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="счёт.pdf")
    incoming.add_attachment(b"\x89PNG" + b"x" * 5000, maintype="image", subtype="png", filename="photo.png")
    await mail.mailbox.deliver(incoming)
    offered = await anna.expect("dialog.offered")
    msg = (await anna.expect("message"))["message"]
    assert msg["text"].endswith("[attachment photo.png (5 KB) was not kept: larger than 2 KB]")
    [pdf] = msg["attachments"]
    assert (pdf["name"], pdf["mime"], pdf["size"]) == ("счёт.pdf", "application/pdf", 16)
    async with d.session.get(f"{d.base}{pdf['url']}", headers=anna.headers) as r:
        assert r.status == 200 and await r.read() == b"%PDF-1.4 invoice"

    form = aiohttp.FormData()
    form.add_field("file", b"price list", filename="prices.txt", content_type="text/plain")
    async with d.session.post(
        f"{d.base}/api/dialogs/{offered['dialog_id']}/attachments", data=form, headers=anna.headers
    ) as r:
        assert r.status == 200, await r.text()
        uploaded = await r.json()
    await anna.reply(offered["dialog_id"], "Here are our prices", attachments=[uploaded])
    [answer] = await mail.smtp.wait(1)
    files = [(f.get_filename(), f.get_content()) for f in answer.message.iter_attachments()]
    assert files == [("prices.txt", "price list")]


# ---- decoding -----------------------------------------------------------------------------------------


async def test_cyrillic_legacy_charsets_and_html_only_mail_reach_the_console_as_text(
    tmp_path, mail, start_daemon
):
    d = await start(tmp_path, start_daemon, mail)
    anna = await d.operator("anna")
    cp1251 = raw_mail(
        base64.encodebytes("Добрый день! Счёт оплачен.".encode("windows-1251")),
        "text/plain; charset=windows-1251",
        "base64",
        "=?windows-1251?B?" + base64.b64encode("Оплата".encode("windows-1251")).decode() + "?=",
        "=?windows-1251?B?"
        + base64.b64encode("Мария Иванова".encode("windows-1251")).decode()
        + "?= <maria@example.ru>",
        "<w1@example.ru>",
    )
    koi8 = raw_mail(
        "Привет, где заказ?".encode("koi8-r"),
        "text/plain; charset=koi8-r",
        "8bit",
        "=?koi8-r?Q?=FA=C1=CB=C1=DA?=",  # "Заказ"
        "=?koi8-r?B?" + base64.b64encode("Пётр".encode("koi8-r")).decode() + "?= <petr@example.ru>",
        "<k1@example.ru>",
    )
    html = raw_mail(
        b"<html><head><style>body{color:red}</style><script>document.location='https://evil.example'</script>"
        b"</head><body><p>Please <b>call</b> me</p><script>alert(1)</script></body></html>",
        "text/html; charset=utf-8",
        "7bit",
        "Call",
        "Oleg <oleg@example.com>",
        "<h1@example.com>",
    )
    for raw in (cp1251, koi8, html):
        await mail.mailbox.deliver(raw)
    got = {}
    for _ in range(3):
        offer = await anna.expect("dialog.offered")
        msg = await anna.expect("message", lambda f, o=offer: f["dialog_id"] == o["dialog_id"])
        got[offer["dialog"]["customer_name"]] = msg["message"]["text"]
    assert got == {
        "Мария Иванова": "Оплата\n\nДобрый день! Счёт оплачен.",
        "Пётр": "Заказ\n\nПривет, где заказ?",
        "Oleg": "Call\n\nPlease call me",
    }


# ---- exactly once -------------------------------------------------------------------------------------


async def test_a_mail_delivered_twice_is_stored_once(tmp_path, mail, start_daemon):
    d = await start(tmp_path, start_daemon, mail)
    anna = await d.operator("anna")
    await mail.mailbox.deliver(customer_mail("only once"))
    await anna.expect("dialog.offered")
    await anna.expect("message")
    await eventually(lambda: seen(mail, "<c1@example.com>"))
    await mail.mailbox.deliver(customer_mail("only once"))  # the same Message-ID again, as a new unseen mail
    await eventually(lambda: _all_seen(mail, 2))
    await anna.absent("message", wait=0.3)
    assert await d.daemon.store.count("messages") == 1


async def _all_seen(mail: MailServers, count: int, folder: str = "INBOX") -> bool:
    flags = await mail.mailbox.flags_by_uid(folder)
    return len(flags) == count and all("\\Seen" in f for f in flags.values())


async def test_a_restart_before_the_receipts_loses_nothing_and_stores_nothing_twice(
    tmp_path, mail, start_daemon
):
    settings = settings_from(
        tmp_path, config(tmp_path, [{**line("support", ["anna"]), "channels": [mail.channel()]}])
    )
    d = await start_daemon(settings)
    connector: Any = d.daemon.connectors["email"]
    receipts: list[Receipt] = []
    passed = 0

    async def crash_after_the_first(receipt: Receipt) -> None:  # the process dies before the other receipts
        nonlocal passed
        receipts.append(receipt)
        if passed == 0:
            passed += 1
            await original(receipt)

    original = connector.on_receipt
    connector.on_receipt = crash_after_the_first
    for n in (1, 2, 3):
        await mail.mailbox.deliver(
            customer_mail(f"mail {n}", message_id=f"<b{n}@example.com>", subject=f"S{n}")
        )
    await eventually(lambda: len(receipts) == 3)
    assert await d.daemon.store.count("messages") == 3
    flags = await mail.mailbox.flags()
    assert ["\\Seen" in flags[f"<b{n}@example.com>"] for n in (1, 2, 3)] == [True, False, False]
    await d.daemon.stop()
    checkpoint = await _checkpoint(tmp_path, settings)
    assert checkpoint.endswith(":1")  # only the committed-and-received mail is behind the checkpoint

    d = await start_daemon(settings)
    await eventually(lambda: _all_seen(mail, 3))
    assert await d.daemon.store.count("messages") == 3

    # the checkpoint moves after the Seen flags are set: under a loaded suite it may come a moment later
    async def caught_up() -> bool:
        return bool((await d.daemon.store.get_checkpoint("email", "support", "uid") or "").endswith(":3"))

    await eventually(caught_up)


async def _checkpoint(tmp_path: Path, settings: Any) -> str:
    store = Store.open(settings.database_url)
    try:
        return str(await store.get_checkpoint("email", "support", "uid"))
    finally:
        await store.close()


async def test_fetched_mail_is_moved_when_the_config_says_so(tmp_path, mail, start_daemon):
    channel = mail.channel(imap={"move_to": "Обработанные"})  # created, named in modified UTF-7
    d = await start(tmp_path, start_daemon, mail, channel)
    anna = await d.operator("anna")
    await mail.mailbox.deliver(customer_mail("move me"))
    await anna.expect("dialog.offered")
    assert await eventually(lambda: _moved(mail))


async def _moved(mail: MailServers) -> bool:
    folder = f'"{utf7_folder("Обработанные")}"'
    return not await mail.mailbox.flags("INBOX") and await seen(mail, "<c1@example.com>", folder)


# ---- auto-replies -------------------------------------------------------------------------------------


async def test_an_auto_submitted_mail_gets_no_auto_reply_and_a_person_gets_one_marked_as_such(
    tmp_path, mail, start_daemon
):
    d = await start(tmp_path, start_daemon, mail, auto_replies={"welcome": "Hello {client_name}, we got it."})
    anna = await d.operator("anna")
    await mail.mailbox.deliver(
        customer_mail(
            "I am out of office",
            message_id="<ooo@example.com>",
            sender="bot@example.org",
            Auto_Submitted="auto-replied",
        )
    )
    await anna.expect("dialog.offered")
    await mail.mailbox.deliver(customer_mail("a real question"))
    await anna.expect("dialog.offered")
    [welcome] = await mail.smtp.wait(1)
    await asyncio.sleep(0.3)
    assert len(mail.smtp.received) == 1 and welcome.recipients == ["ivan.petrov@example.com"]
    m = welcome.message
    assert (m["Auto-Submitted"], m["X-Auto-Response-Suppress"]) == ("auto-replied", "All")
    assert body(m, "plain").strip() == "Hello Ivan Petrov, we got it."


# ---- delivery outcomes --------------------------------------------------------------------------------


async def test_a_transient_smtp_refusal_is_retried_and_a_permanent_one_fails_with_the_reason(
    tmp_path, mail, start_daemon
):
    d = await start(tmp_path, start_daemon, mail)
    anna = await d.operator("anna")
    await mail.mailbox.deliver(customer_mail("hello"))
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]

    mail.smtp.data_replies.append("451 4.3.0 try later")
    ack = await anna.reply(dialog_id, "first answer")
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert status["state"] == "sent" and mail.smtp.attempts == 2
    [sent] = await mail.smtp.wait(1)
    assert sent.message["Message-ID"] == f"<openlines.{ack['id']}@example.test>"

    mail.smtp.rcpt_replies.append("550 5.1.1 <ivan.petrov@example.com>: mailbox unavailable")
    ack = await anna.reply(dialog_id, "second answer")
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert (
        status["state"] == "failed"
        and "550 5.1.1" in status["error"]
        and "mailbox unavailable" in status["error"]
    )
    assert mail.smtp.attempts == 3  # final: not retried
    msgs = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"]
    assert msgs[-1]["delivery"] == {"state": "failed", "error": status["error"]}


# ---- health -------------------------------------------------------------------------------------------


async def test_a_lost_imap_server_shows_in_health_and_intake_resumes_when_it_is_back(
    tmp_path, dovecot, mail, start_daemon, monkeypatch
):
    monkeypatch.setattr(mailbox, "BACKOFF_FIRST", 0.1)  # the same backoff, in tenths of a second
    monkeypatch.setattr(mailbox, "BACKOFF_MAX", 0.4)
    d = await start(tmp_path, start_daemon, mail)
    await eventually(lambda: _health(d, "up"))
    dovecot.stop()
    down = await eventually(lambda: _health(d, "down"))
    assert down.get("detail")
    dovecot.start()
    await eventually(lambda: _health(d, "up"))
    anna = await d.operator("anna")
    await mail.mailbox.deliver(customer_mail("after the outage"))
    assert (await anna.expect("message"))["message"]["text"].endswith("after the outage")


async def _health(d: Running, state: str) -> dict[str, Any] | None:
    async with d.session.get(f"{d.base}/healthz") as r:
        entry = (await r.json())["channels"].get("email:support", {})
    return entry if entry.get("state") == state else None


# ---- TLS ----------------------------------------------------------------------------------------------


@pytest.fixture
def tls_dovecot() -> Iterator[Dovecot]:
    root = Path(tempfile.mkdtemp(prefix="openlines-dovecot-"))
    server = Dovecot(root, free_port(), tls_port=free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
async def test_imap_works_over_starttls_and_implicit_tls(tls_dovecot, monkeypatch, mode):
    trusted = ssl.create_default_context(cafile=str(tls_dovecot.cert))  # the test server's own certificate
    monkeypatch.setattr(fetch.ssl, "create_default_context", lambda: trusted)
    port = tls_dovecot.port if mode == "starttls" else tls_dovecot.tls_port
    imap = {"host": "127.0.0.1", "port": port, "password": PASSWORD, mode: True}
    settings = EmailSettings.model_validate(
        {"type": "email", "address": MAILBOX, "imap": imap, "smtp": {"host": "127.0.0.1"}}
    )
    assert settings.imap.use_ssl is (mode == "ssl")
    session = fetch.ImapSession(settings)
    try:
        await session.open()
        assert session.uidvalidity > 0 and await session.search(0) == []
        transport = session._imap.protocol.transport
        assert transport.get_extra_info("ssl_object") is not None
    finally:
        await session.close()


async def test_a_bounce_joins_the_customers_dialog_and_makes_no_lead_for_mailer_daemon(
    tmp_path, mail, start_daemon
):
    d = await start(tmp_path, start_daemon, mail)
    anna = await d.operator("anna")
    await mail.mailbox.deliver(customer_mail("first question"))
    offer = await anna.expect("dialog.offered")
    leads_before = await d.daemon.store.count("leads")
    bounce = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        f"To: {MAILBOX}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.com>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        "Final-Recipient: rfc822; ivan@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <c1@example.com>\r\nSubject: x\r\n\r\n"
        "--B--\r\n"
    ).encode()
    await mail.mailbox.deliver(bounce)
    report = await anna.expect("message", lambda f: "could not be delivered" in f["message"]["text"])
    assert report["dialog_id"] == offer["dialog_id"]
    assert await d.daemon.store.count("leads") == leads_before  # no lead for MAILER-DAEMON
    card = await anna.get(f"/api/leads/{offer['dialog']['lead']['id']}")
    assert [i["external_id"] for i in card["identities"]] == [CUSTOMER.split("<")[-1].rstrip(">").lower()]
