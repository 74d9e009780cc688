"""The e-mail channel's pure rules, from tables: decoding, HTML, quoted history, automatic mail, threading."""

from __future__ import annotations

import base64
import quopri
from email import policy
from email.parser import BytesParser

import pytest

from connectors.email import EmailSettings
from connectors.email.book import ThreadBook
from connectors.email.fetch import utf7_folder
from connectors.email.parse import is_automatic, parse_mail
from connectors.email.progress import Progress
from connectors.email.send import build_answer
from connectors.email.text import html_to_text, strip_quotes
from connectors.email.threads import (
    MAX_REFERENCES,
    Thread,
    customer_wrote,
    is_ours,
    our_message_id,
    referenced,
    reply_subject,
    root_of,
    subject_tag,
    tag_of,
)
from queues.messages import OutboundMessage

LIMIT = 1000


def b_word(text: str, charset: str) -> str:
    """An RFC 2047 encoded word (base64)."""
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def q_word(text: str, charset: str) -> str:
    """An RFC 2047 encoded word (Q)."""
    return f"=?{charset}?Q?{quopri.encodestring(text.encode(charset), header=True).decode()}?="


def mail(
    body: bytes,
    *,
    ctype: str = "text/plain; charset=utf-8",
    cte: str = "8bit",
    headers: str = "",
    subject: str = "Hello",
    sender: str = "Ivan <ivan@example.com>",
) -> bytes:
    head = (
        f"From: {sender}\r\nTo: support@example.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <m1@example.com>\r\nMIME-Version: 1.0\r\n{headers}"
        f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return head.encode() + body


# ---- charsets and transfer encodings ----------------------------------------------------------------

CHARSETS = [
    pytest.param(
        mail(
            quopri.encodestring("Привет! Где мой заказ?".encode("koi8-r")),
            ctype="text/plain; charset=koi8-r",
            cte="quoted-printable",
            subject=b_word("Заказ N5", "koi8-r"),
            sender=f"{b_word('Иван Петров', 'koi8-r')} <Ivan@Example.RU>",
        ),
        ("Заказ N5", "Иван Петров", "ivan@example.ru", "Привет! Где мой заказ?"),
        id="koi8-r-qp",
    ),
    pytest.param(
        mail(
            base64.encodebytes("Добрый день, счёт оплачен.".encode("windows-1251")),
            ctype="text/plain; charset=windows-1251",
            cte="base64",
            subject=q_word("Оплата счёта", "windows-1251"),
            sender=f"{q_word('Мария', 'windows-1251')} <maria@example.ru>",
        ),
        ("Оплата счёта", "Мария", "maria@example.ru", "Добрый день, счёт оплачен."),
        id="windows-1251-base64",
    ),
    pytest.param(
        mail(
            base64.encodebytes("Grüße — 日本語 ✓".encode()),
            cte="base64",
            subject=b_word("Größe ✓", "utf-8"),
            sender=f"{b_word('Jürgen Groß', 'utf-8')} <j@example.de>",
        ),
        ("Größe ✓", "Jürgen Groß", "j@example.de", "Grüße — 日本語 ✓"),
        id="utf-8-base64",
    ),
    pytest.param(
        mail(b"Caf=E9 cr=E8me", ctype="text/plain; charset=iso-8859-1", cte="quoted-printable"),
        ("Hello", "Ivan", "ivan@example.com", "Café crème"),
        id="latin-1-qp",
    ),
    pytest.param(
        mail("Unlabelled but UTF-8: ёлка".encode(), ctype="text/plain; charset=x-unknown-charset"),
        ("Hello", "Ivan", "ivan@example.com", "Unlabelled but UTF-8: ёлка"),
        id="unknown-charset-falls-back-to-utf-8",
    ),
    pytest.param(
        mail("ёлка".encode("koi8-r"), ctype="text/plain; charset=utf-8"),
        ("Hello", "Ivan", "ivan@example.com", "\ufffd" * 4),
        id="wrongly-labelled-bytes-never-raise",
    ),
]


@pytest.mark.parametrize(("raw", "expected"), CHARSETS)
def test_headers_and_bodies_decode_in_any_charset(raw, expected):
    m = parse_mail(raw, max_attachment_bytes=LIMIT)
    assert (m.subject, m.from_name, m.from_address, m.text) == expected
    assert m.message_id == "<m1@example.com>" and m.real_message_id


def test_plain_text_is_preferred_over_html_in_an_alternative():
    raw = (
        b"From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain version\r\n"
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html version</p>\r\n--b--\r\n"
    )
    m = parse_mail(raw, max_attachment_bytes=LIMIT)
    assert (m.text, m.html_only, m.parts) == ("plain version", False, ())


def test_an_html_only_mail_becomes_text_without_script_or_style():
    html = (
        "<html><head><title>Newsletter</title><style>p { color: red }</style>"
        "<script>var stolen = document.cookie;</script></head><body>"
        "<p>Hello,&nbsp;<b>support</b>!</p><script type='text/javascript'>alert('x')</script>"
        "<p>My order <a href='https://shop.example/o/5'>number 5</a> is late.</p></body></html>"
    )
    m = parse_mail(mail(html.encode(), ctype="text/html; charset=utf-8"), max_attachment_bytes=LIMIT)
    assert m.html_only
    assert m.text == "Hello, support!\n\nMy order number 5 (https://shop.example/o/5) is late."
    for leaked in ("stolen", "cookie", "alert", "color", "Newsletter", "<"):
        assert leaked not in m.text


def test_files_are_kept_and_those_over_the_limit_become_a_note():
    raw = (
        b"From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee the files\r\n"
        b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="=?utf-8?B?0YHRh9GR0YIucGRm?="\r\n\r\n'
        + base64.encodebytes(b"%PDF small")
        + b"--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="../../big.png"\r\n\r\n'
        + base64.encodebytes(b"x" * 5000)
        + b"--b--\r\n"
    )
    m = parse_mail(raw, max_attachment_bytes=1000)
    assert [(p.name, p.mime, p.data) for p in m.parts] == [("счёт.pdf", "application/pdf", b"%PDF small")]
    assert [(d.name, d.size) for d in m.dropped] == [("big.png", 5000)]
    assert m.text == ("see the files\n\n[attachment big.png (5 KB) was not kept: larger than 1 KB]")


def test_a_mail_without_message_id_gets_a_stable_one():
    raw = b"From: a@example.com\r\nSubject: s\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nhello\r\n"
    first = parse_mail(raw, max_attachment_bytes=LIMIT)
    again = parse_mail(raw, max_attachment_bytes=LIMIT)
    other = parse_mail(raw.replace(b"hello", b"bye"), max_attachment_bytes=LIMIT)
    assert first.message_id == again.message_id != other.message_id
    assert first.message_id.endswith("@openlines.invalid>") and not first.real_message_id


def test_reply_to_is_where_answers_go():
    m = parse_mail(
        mail(b"hi", headers="Reply-To: Ivan at home <IVAN@home.example>\r\n"), max_attachment_bytes=LIMIT
    )
    assert (m.from_address, m.reply_address, m.reply_name) == (
        "ivan@example.com",
        "ivan@home.example",
        "Ivan at home",
    )


# ---- HTML to text -------------------------------------------------------------------------------------

HTML = [
    ("<p>Hello&nbsp;<b>Ivan</b></p><p>Line 2<br>Line 3</p>", "Hello Ivan\n\nLine 2\nLine 3"),
    ("<ul><li>one</li><li>two</li></ul>", "- one\n- two"),
    ("<div>&lt;b&gt; &amp; &quot;q&quot;</div>", '<b> & "q"'),
    ("<script>evil()</script><style>.x{}</style>visible", "visible"),
    ("<p>unclosed script <script>evil() and the rest", "unclosed script"),
    ("<html><head><title>T</title><body><p>head never closed</p></body>", "head never closed"),
    ("<pre>  keep\n    spacing</pre>", "  keep\n    spacing"),
    ("<table><tr><td>Size</td><td>XL</td></tr></table>", "Size XL"),
    ("<div>Thanks</div><blockquote>Old <b>text</b><br>more</blockquote>", "Thanks\n\n> Old text\n> more"),
]


@pytest.mark.parametrize(("html", "text"), HTML)
def test_html_to_text(html, text):
    assert html_to_text(html) == text


# ---- quoted history and signatures ------------------------------------------------------------------

QUOTES = [
    pytest.param(
        "Thanks!\n\nOn Mon, 23 Nov 2026 at 10:00, Anna <support@example.com> wrote:\n> Hello\n> old text",
        "Thanks!",
        id="gmail-en",
    ),
    pytest.param(
        "Thanks!\n\nOn Mon, 23 Nov 2026 at 10:00, Anna Petrova <\nsupport@example.com> wrote:\n\n> Hi",
        "Thanks!",
        id="wrapped-attribution",
    ),
    pytest.param("Спасибо!\n\n23.11.2026 10:00, Анна пишет:\n> Здравствуйте", "Спасибо!", id="ru-pishet"),
    pytest.param(
        "Да, подходит\n\nПн, 23 ноя 2026 в 10:00, Anna написал(а):\n> текст", "Да, подходит", id="ru-napisal"
    ),
    pytest.param(
        "Ок\n\nпн, 23 нояб. 2026 г. в 10:00, Anna <support@example.com>:\n> текст", "Ок", id="gmail-ru"
    ),
    pytest.param(
        "Yes please\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nold text",
        "Yes please",
        id="outlook-original-message",
    ),
    pytest.param(
        "Yes\n\n________________________________\nFrom: Support <s@example.com>\n"
        "Sent: Monday, November 23, 2026 10:00\nTo: Ivan\nSubject: Re: order\n\nold",
        "Yes",
        id="outlook-header-block",
    ),
    pytest.param(
        "Да\n\nОт: Support <s@example.com>\nОтправлено: 23 ноября 2026 г. 10:00\nКому: Ivan\nТема: RE: заказ\n\nстарое",
        "Да",
        id="outlook-ru",
    ),
    pytest.param(
        "Quote follows unmarked\n\n23.11.2026, 10:00, Anna wrote:\nold text without marks",
        "Quote follows unmarked",
        id="unmarked-quote",
    ),
    pytest.param("See you\n-- \nIvan Petrov\n+7 916 000", "See you", id="signature"),
    pytest.param(
        "On 23.11.2026 Anna wrote:\n> Which size?\nXL\n> Which colour?\nRed",
        "XL\nRed",
        id="interleaved",
    ),
    pytest.param("Answer\n> old\n>> older", "Answer", id="nested-quote"),
    pytest.param(
        "My manager wrote:\nwe need 5 more", "My manager wrote:\nwe need 5 more", id="not-an-attribution"
    ),
    pytest.param("> only old text", "> only old text", id="nothing-new-keeps-all"),
]


@pytest.mark.parametrize(("text", "new"), QUOTES)
def test_quoted_history_is_stripped(text, new):
    assert strip_quotes(text) == new


def test_an_html_reply_loses_its_gmail_quote():
    html = (
        '<div dir="ltr">Thanks, that works</div><br><div class="gmail_quote"><div class="gmail_attr">'
        "On Mon, 23 Nov 2026 at 10:00, Anna &lt;support@example.com&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote">Try <b>restarting</b> it</blockquote></div>'
    )
    m = parse_mail(mail(html.encode(), ctype="text/html; charset=utf-8"), max_attachment_bytes=LIMIT)
    assert m.text == "Thanks, that works"
    assert "restarting" in m.full_text and m.shortened


# ---- automatic mail -----------------------------------------------------------------------------------

AUTOMATIC = [
    ("", False),
    ("Auto-Submitted: auto-replied\r\n", True),
    ("Auto-Submitted: auto-generated\r\n", True),
    ("Auto-Submitted: no\r\n", False),
    ("Precedence: bulk\r\n", True),
    ("Precedence: list\r\n", True),
    ("Precedence: junk\r\n", True),
    ("Precedence: first-class\r\n", False),
    ("X-Auto-Response-Suppress: All\r\n", True),
    ("List-Id: <news.example.com>\r\n", True),
    ("Return-Path: <>\r\n", True),
    ("From: MAILER-DAEMON@mx.example.com\r\n", True),
    ("From: Mail System <postmaster@example.com>\r\n", True),
    ("Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n", True),
]


@pytest.mark.parametrize(("headers", "automatic"), AUTOMATIC)
def test_automatic_mail_is_recognised(headers, automatic):
    raw = (headers + "Subject: s\r\n\r\nbody\r\n").encode()
    if "From:" not in headers:
        raw = b"From: ivan@example.com\r\n" + raw
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    sender = parse_mail(raw, max_attachment_bytes=LIMIT).from_address
    assert is_automatic(msg, sender) is automatic
    assert parse_mail(raw, max_attachment_bytes=LIMIT).automatic is automatic


# ---- threading ----------------------------------------------------------------------------------------

THREADS = [
    # (In-Reply-To, References) -> (root = chat_id by headers, ids to look up, most recent first)
    ("", "", "<m1@example.com>", []),
    ("In-Reply-To: <a@x>\r\n", "", "<a@x>", ["<a@x>"]),
    ("In-Reply-To: <c@x>\r\n", "References: <a@x> <b@x>\r\n <c@x>\r\n", "<a@x>", ["<c@x>", "<b@x>", "<a@x>"]),
    ("In-Reply-To: <c@x> (Ivan's message)\r\n", "References: <a@x>,<c@x>\r\n", "<a@x>", ["<c@x>", "<a@x>"]),
    ("In-Reply-To: c@x\r\n", "", "<c@x>", ["<c@x>"]),
]


@pytest.mark.parametrize(("irt", "refs", "root", "lookups"), THREADS)
def test_the_thread_root_is_the_first_reference(irt, refs, root, lookups):
    m = parse_mail(mail(b"hi", headers=irt + refs), max_attachment_bytes=LIMIT)
    assert root_of(m) == root
    assert referenced(m) == lookups


def test_a_bounce_belongs_with_the_mail_that_bounced():
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nSubject: Undelivered Mail\r\n"
        b"Message-ID: <dsn1@mx.example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n"
        b"--r\r\nContent-Type: message/rfc822\r\n\r\n"
        b"From: support@example.test\r\nMessage-ID: <openlines.01AB@example.test>\r\n\r\nIt ships.\r\n"
        b"--r--\r\n"
    )
    m = parse_mail(raw, max_attachment_bytes=LIMIT)
    assert m.automatic and m.reported == "<openlines.01AB@example.test>"
    assert referenced(m) == ["<openlines.01AB@example.test>"] and root_of(m) == "<dsn1@mx.example.com>"
    assert m.text == "The mail could not be delivered."


SUBJECTS = [
    ("Order 5", "Re: Order 5 [#{tag}]"),
    ("Re: RE: Fwd: Order 5", "Re: Order 5 [#{tag}]"),
    ("Ответ: Re[2]: Заказ [#ABCDEFGH]", "Re: Заказ [#{tag}]"),
    ("", "Re: [#{tag}]"),
]


@pytest.mark.parametrize(("subject", "reply"), SUBJECTS)
def test_answers_are_re_the_subject_with_the_thread_tag(subject, reply):
    tag = tag_of("<root@x>")
    assert reply_subject(subject, "<root@x>") == reply.format(tag=tag)
    assert subject_tag(reply_subject(subject, "<root@x>")) == tag


def test_an_absurdly_long_message_id_is_stored_as_its_hash():
    long_id = "<" + "x" * 300 + "@example.com>"
    m = parse_mail(mail(b"hi", headers=f"In-Reply-To: {long_id}\r\n"), max_attachment_bytes=LIMIT)
    again = parse_mail(mail(b"hi", headers=f"References: {long_id}\r\n"), max_attachment_bytes=LIMIT)
    assert root_of(m) == root_of(again) and len(root_of(m)) <= 255 and root_of(m) != long_id


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("INBOX", "INBOX"),
        ("Обработанные", "&BB4EMQRABDAEMQQ+BEIEMAQ9BD0ESwQ1-"),
        ("A&B", "A&-B"),
        ("Ü/x", "&ANw-/x"),
    ],
)
def test_folder_names_are_written_in_modified_utf7(name, wire):
    assert utf7_folder(name) == wire


def test_the_tag_is_short_stable_and_distinct():
    assert tag_of("<a@x>") == tag_of("<a@x>") != tag_of("<b@x>")
    assert len(tag_of("<a@x>")) == 8 and subject_tag("Re: hi [#nope]") is None


def test_a_thread_remembers_root_last_customer_mail_and_a_bounded_history():
    first = parse_mail(mail(b"hi"), max_attachment_bytes=LIMIT)
    t = customer_wrote(None, "<m1@example.com>", first)
    assert (t.root, t.to, t.name, t.last, t.subject) == (
        "<m1@example.com>",
        "ivan@example.com",
        "Ivan",
        "<m1@example.com>",
        "Hello",
    )
    assert customer_wrote(t, t.root, first) is t  # the same mail again changes nothing
    for n in range(30):
        raw = mail(b"more", subject="Re: Hello").replace(b"<m1@example.com>", f"<r{n}@x>".encode())
        t = customer_wrote(t, t.root, parse_mail(raw, max_attachment_bytes=LIMIT))
    assert t.refs[0] == "<m1@example.com>" and t.refs[-1] == "<r29@x>" and len(t.refs) == MAX_REFERENCES
    assert t.last == "<r29@x>" and t.subject == "Hello"


def test_our_message_ids_are_derived_from_the_stored_message_and_recognised():
    mid = our_message_id("01JD8ZK3", "support@example.test")
    assert mid == "<openlines.01JD8ZK3@example.test>" == our_message_id("01JD8ZK3", "support@example.test")
    assert is_ours(mid, "support@example.test") and not is_ours("<m1@example.com>", "support@example.test")


class MemoryCheckpoints:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str], str] = {}

    async def get(self, account: str, key: str) -> str | None:
        return self.data.get((account, key))

    async def set(self, account: str, key: str, value: str) -> None:
        assert len(key) <= 128
        self.data[(account, key)] = value


async def test_replies_find_their_conversation_by_any_known_id_or_the_subject_tag():
    book = ThreadBook(MemoryCheckpoints())
    first = parse_mail(mail(b"hi", headers="References: <old@x>\r\n"), max_attachment_bytes=LIMIT)
    chat = await book.conversation_of("s", first)
    assert chat == "<old@x>"
    await book.customer_wrote("s", chat, first)
    await book.we_sent("s", chat, "<openlines.1@example.test>")
    # Outlook keeps only In-Reply-To (our answer's id), not the root
    outlook = mail(b"ok", headers="In-Reply-To: <openlines.1@example.test>\r\n").replace(b"<m1@", b"<m2@")
    assert await book.conversation_of("s", parse_mail(outlook, max_attachment_bytes=LIMIT)) == chat
    # every header lost, the subject tag kept
    tagged = mail(b"ok", subject=f"RE: Hello [#{tag_of(chat)}]").replace(b"<m1@", b"<m3@")
    assert await book.conversation_of("s", parse_mail(tagged, max_attachment_bytes=LIMIT)) == chat
    # a new mail with nothing known is a new conversation; another mailbox knows nothing of ours
    fresh = mail(b"new").replace(b"<m1@", b"<m4@")
    assert (
        await book.conversation_of("s", parse_mail(fresh, max_attachment_bytes=LIMIT)) == "<m4@example.com>"
    )
    assert (
        await book.conversation_of("other", parse_mail(tagged, max_attachment_bytes=LIMIT))
        == "<m3@example.com>"
    )
    thread = await book.thread("s", chat)
    assert thread is not None and thread.refs == ("<old@x>", "<m1@example.com>", "<openlines.1@example.test>")


# ---- the answer -------------------------------------------------------------------------------------


def settings(**extra) -> EmailSettings:
    block = {
        "type": "email",
        "address": "Support@Example.test",
        "from_name": "Acme Support",
        "imap": {"host": "imap.example.test", "password": "x"},
        "smtp": {"host": "smtp.example.test"},
        **extra,
    }
    return EmailSettings.model_validate(block)


def outbound(author_kind: str = "operator", text: str = "Hello <Ivan> & co\nsecond line") -> OutboundMessage:
    return OutboundMessage(
        event_id="e1",
        message_id="01JD8ZK3",
        dialog_id="d1",
        channel="email",
        account="support",
        chat_id="<root@x>",
        text=text,
        ts="2026-11-23T10:00:00.000Z",
        author_kind=author_kind,
        author_name="Anna",
    )


THREAD = Thread("<root@x>", "Order 5", "ivan@example.com", "Ivan Petrov", "<m9@x>", ("<root@x>", "<m9@x>"))


def test_an_answer_threads_under_the_customers_mail_with_text_and_html():
    m = build_answer(outbound(), THREAD, settings(), [("a.txt", "text/plain", b"file body")])
    assert m["From"] == "Acme Support <support@example.test>"
    assert m["To"] == "Ivan Petrov <ivan@example.com>"
    assert m["Subject"] == f"Re: Order 5 [#{tag_of('<root@x>')}]"
    assert m["Message-ID"] == "<openlines.01JD8ZK3@example.test>"
    assert (m["In-Reply-To"], m["References"]) == ("<m9@x>", "<root@x> <m9@x>")
    assert m["Date"] == "Mon, 23 Nov 2026 10:00:00 +0000"
    assert m["Auto-Submitted"] is None
    plain = m.get_body(("plain",))
    html = m.get_body(("html",))
    assert plain is not None and plain.get_content() == "Hello <Ivan> & co\nsecond line\n"
    assert html is not None and "Hello &lt;Ivan&gt; &amp; co<br>\nsecond line" in html.get_content()
    files = list(m.iter_attachments())
    assert [(f.get_filename(), f.get_content()) for f in files] == [("a.txt", "file body")]


def test_an_auto_reply_says_it_is_one():
    m = build_answer(outbound("bot"), THREAD, settings(), [])
    assert (m["Auto-Submitted"], m["X-Auto-Response-Suppress"]) == ("auto-replied", "All")


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ({"address": "not an address"}, "is not an e-mail address"),
        ({"imap": {"host": "h", "password": "x", "ssl": True, "starttls": True}}, "choose one"),
        ({"smtp": {"host": "h", "ssl": True, "starttls": True}}, "choose one"),
        ({"imap": {"host": "h", "password": "x", "poll_interval": "soon"}}, "a duration"),
    ],
)
def test_settings_refuse_what_cannot_work(block, problem):
    with pytest.raises(ValueError, match=problem):
        settings(**block)


def test_settings_defaults_are_the_usual_ports():
    s = settings(imap={"host": "h", "password": "x", "poll_interval": "2m"})
    assert (s.imap.use_ssl, s.imap.real_port, s.imap.poll_interval) == (True, 993, 120.0)
    assert (s.smtp.use_starttls, s.smtp.real_port, s.smtp_login) == (True, 587, ("support@example.test", "x"))
    s = settings(imap={"host": "h", "password": "x", "starttls": True}, smtp={"host": "h", "ssl": True})
    assert (s.imap.use_ssl, s.imap.real_port, s.smtp.use_starttls, s.smtp.real_port) == (
        False,
        143,
        False,
        465,
    )


# ---- the UID checkpoint -------------------------------------------------------------------------------


def test_the_checkpoint_moves_only_over_committed_mail():
    p = Progress(10)
    p.published(11, "<a>", now=0)
    p.published(12, "<b>", now=0)
    p.published(13, "<a>", now=0)  # the same mail delivered twice
    assert p.checkpoint() == 10
    assert p.committed("<b>") and p.checkpoint() == 10  # 11 still waits
    assert p.committed("<a>") and p.checkpoint() == 13
    assert p.to_acknowledge == [11, 12, 13] and not p.is_new(12)
    p.acknowledged([11, 12, 13])
    assert p.to_acknowledge == [] and p.is_new(12)  # fetched again later (marked unread): published again
    assert not p.committed("<unknown>")


def test_a_refused_mail_is_not_flagged_and_an_overdue_one_is_published_again():
    p = Progress(0)
    p.published(1, "<a>", now=0)
    p.published(2, "<b>", now=100)
    assert p.committed("<a>", acknowledge=False) and p.to_acknowledge == []
    assert p.stale(now=350, older_than=300) == [] and p.stale(now=401, older_than=300) == [2]
    assert p.is_new(2) and p.checkpoint() == 1  # still not committed: the checkpoint waits
    p.needs_no_commit(3)
    assert p.to_acknowledge == [3]
