"""Answers by SMTP: the MIME message (text and HTML parts, files, threading headers) and its delivery outcome."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from connectors.base import SendResult
from connectors.email.settings import EmailSettings
from connectors.email.threads import Thread, our_message_id, references, reply_subject
from queues.messages import OutboundMessage


def build_answer(
    msg: OutboundMessage,
    thread: Thread,
    settings: EmailSettings,
    files: Sequence[tuple[str, str, bytes]],
    rating: tuple[str, list[tuple[str, str]]] | None = None,
) -> EmailMessage:
    """The mail of an operator's answer or an auto-reply, in the customer's thread; `files` are (name, mime,
    body); `rating`: the lead-in and (label, URL) links of a question asking for a rating, in both parts.
    Raises ValueError for an address that cannot be written in a header."""
    mail = EmailMessage()
    mail["From"] = Address(display_name=settings.from_name or "", addr_spec=settings.address)
    mail["To"] = Address(display_name=thread.name, addr_spec=thread.to)
    mail["Subject"] = reply_subject(thread.subject, thread.root)
    mail["Date"] = format_datetime(_when(msg.ts))
    message_id = our_message_id(msg.message_id, settings.address)
    mail["Message-ID"] = message_id
    if thread.last:
        mail["In-Reply-To"] = thread.last
    mail["References"] = " ".join(references(thread, message_id))
    if msg.author_kind == "bot":
        # RFC 3834: other auto-responders must not answer this one (Exchange reads the second header)
        mail["Auto-Submitted"] = "auto-replied"
        mail["X-Auto-Response-Suppress"] = "All"
    mail.set_content((msg.text or "") + _rating_text(rating))
    mail.add_alternative(_html(msg.text or "", _rating_html(rating)), subtype="html")
    for name, mime, data in files:
        maintype, _, subtype = mime.partition("/")
        if maintype in ("multipart", "message") or not subtype:
            maintype, subtype = "application", "octet-stream"
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return mail


def _html(text: str, extra: str = "") -> str:
    body = html.escape(text).replace("\r\n", "\n").replace("\n", "<br>\n")
    return f'<!DOCTYPE html>\n<html><body><div style="font-family: sans-serif">{body}{extra}</div></body></html>\n'


def _rating_text(rating: tuple[str, list[tuple[str, str]]] | None) -> str:
    """The rating links in the plain-text part: one line each, the URL on its own."""
    if not rating:
        return ""
    intro, choices = rating
    return "\n\n" + intro + "\n" + "".join(f"\n{label}: {url}" for label, url in choices) + "\n"


def _rating_html(rating: tuple[str, list[tuple[str, str]]] | None) -> str:
    """The rating links in the HTML part: a row of button-like links."""
    if not rating:
        return ""
    intro, choices = rating
    style = (
        "display:inline-block;margin:0 8px 8px 0;padding:8px 14px;border:1px solid #1a73e8;border-radius:6px;"
        "color:#1a73e8;text-decoration:none"
    )
    buttons = "".join(
        f'<a href="{html.escape(url, quote=True)}" style="{style}">{html.escape(label)}</a>'
        for label, url in choices
    )
    return f"<br>\n<br>\n<p>{html.escape(intro)}</p>\n<p>{buttons}</p>"


def _when(ts: str) -> datetime:
    try:
        when = datetime.fromisoformat(ts)
    except ValueError:
        when = datetime(1970, 1, 1, tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def submit(mail: EmailMessage, recipient: str, settings: EmailSettings) -> SendResult:
    """Hand the mail to the SMTP server: sent, a transient failure (4xx, connection) or a final one (5xx)."""
    smtp = settings.smtp
    login = settings.smtp_login
    try:
        await aiosmtplib.send(
            mail,
            sender=settings.address,
            recipients=[recipient],
            hostname=smtp.host,
            port=smtp.real_port,
            username=login[0] if login else None,
            password=login[1] if login else None,
            use_tls=smtp.ssl,
            start_tls=smtp.use_starttls,
            timeout=smtp.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        reason = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return SendResult(ok=False, error=reason, retryable=all(400 <= c < 500 for c in codes))
    except aiosmtplib.SMTPResponseException as exc:
        return SendResult(ok=False, error=f"{exc.code} {exc.message}", retryable=not 500 <= exc.code < 600)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        # connection refused or lost, a timeout, a TLS failure: the server may take it on the next attempt
        return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}", retryable=True)
    return SendResult(ok=True, external_id=str(mail["Message-ID"]))
