"""The e-mail channel: each line's support mailbox read over IMAP (IDLE or polling) and answered over SMTP.

`settings` (the YAML block), `parse` and `text` (pure MIME decoding and quote stripping), `threads` (pure
threading rules), `book` (what is remembered per mailbox), `progress` (pure UID bookkeeping), `fetch` (IMAP),
`mailbox` (the intake loop) and `send` (SMTP).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import ClassVar

import structlog
from pydantic import BaseModel

from connectors.base import AttachmentBody, Binding, ConnectorContext, SendResult
from connectors.email.book import ThreadBook
from connectors.email.mailbox import Mailbox
from connectors.email.rating import RatingPages, links
from connectors.email.send import build_answer, submit
from connectors.email.settings import EmailSettings
from connectors.email.threads import our_message_id
from queues.messages import OutboundMessage, Receipt

log = structlog.get_logger("connectors.email")

__all__ = ["EmailConnector", "EmailSettings"]


class EmailConnector:
    """Every support mailbox of the config, each bound to its line."""

    type: ClassVar[str] = "email"
    Settings: ClassVar[builtins.type[BaseModel]] = EmailSettings

    def __init__(self, bindings: list[Binding], ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.bindings = bindings
        self.book = ThreadBook(ctx.checkpoints)
        self.mailboxes: dict[str, Mailbox] = {}
        self.ratings = RatingPages(ctx, [b.account for b in bindings])
        self._mounted = False

    @property
    def retry_policy(self) -> dict[str, float]:
        """Mail servers ask to come back in minutes (greylisting): a slower, longer backoff than messengers'."""
        smtp = [b.settings.smtp for b in self.bindings]
        return {
            "max_attempts": max(x.max_tries for x in smtp),
            "base_delay": min(x.retry_after for x in smtp),
            "max_delay": 3600.0,
        }

    async def start(self) -> None:
        """Start reading every mailbox (one that clashes with another is refused; none raises)."""
        self._mount()
        seen: dict[tuple[str, str], str] = {}
        for b in self.bindings:
            s: EmailSettings = b.settings
            key = (s.imap.host.lower(), s.imap_user.lower())
            if key in seen or b.account in self.mailboxes:
                why = f"line {b.line_id!r} reads the same mailbox as line {seen.get(key, b.account)!r}"
                log.error("email.mailbox.refused", line=b.line_id, account=b.account, reason=why)
                self.ctx.health.set(b.account, "refused", why)
                continue
            seen[key] = b.line_id
            self.mailboxes[b.account] = mailbox = Mailbox(b, self.ctx, self.book)
            mailbox.start()

    async def stop(self) -> None:
        """Stop intake and log out of every mailbox."""
        for mailbox in self.mailboxes.values():
            await mailbox.stop()

    async def on_receipt(self, receipt: Receipt) -> None:
        """The router stored a mail: it may be marked \\Seen (or moved) now."""
        mailbox = self.mailboxes.get(receipt.account)
        if mailbox is not None:
            await mailbox.on_receipt(receipt)

    async def send(self, msg: OutboundMessage) -> SendResult:
        """Mail an operator's answer or an auto-reply into the customer's thread."""
        mailbox = self.mailboxes.get(msg.account)
        if mailbox is None:
            return SendResult(ok=False, error=f"no mailbox for account {msg.account!r}")
        thread = await self.book.thread(msg.account, msg.chat_id)
        if thread is None or not thread.to:
            return SendResult(ok=False, error="no customer address known for this conversation")
        files: list[tuple[str, str, bytes]] = []
        for a in msg.attachments:
            data = await self.ctx.attachments.get(a.ref) if a.ref else None
            if data is None:
                return SendResult(ok=False, error=f"the file {a.name!r} is no longer stored")
            files.append((a.name, a.mime, data))
        rating = None
        if msg.ask_rating:
            if self.ctx.public_url:
                rating = links(self.ctx.signer, self.ctx.public_url, msg)
            if rating is None:  # the question still goes, without links
                log.warning("email.rating.no_links", account=msg.account, scale=msg.ask_rating)
        try:
            mail = build_answer(msg, thread, mailbox.settings, files, rating)
        except (ValueError, TypeError) as exc:  # an address a header cannot carry
            return SendResult(ok=False, error=f"cannot write the mail: {exc}")
        result = await submit(mail, thread.to, mailbox.settings)
        if result.ok:
            message_id = our_message_id(msg.message_id, mailbox.settings.address)
            await self.book.we_sent(msg.account, msg.chat_id, message_id)
        return result

    async def open_files(self) -> None:
        """Files of fetched mail are in the attachment store already: nothing to open. A web process serves the
        rating page of the mailboxes another process reads."""
        self._mount()

    def _mount(self) -> None:
        if not self._mounted:
            self.ratings.mount(self.ctx.routes)
            self._mounted = True

    async def fetch_attachment(self, account: str, ref: str) -> AttachmentBody | None:
        """A file of a customer's mail, from the attachment store (mail is stored whole when fetched)."""
        if all(b.account != account for b in self.bindings):
            return None
        data = await self.ctx.attachments.get(ref)
        if data is None:
            return None
        return AttachmentBody(mime="", size=len(data), chunks=_once(data))


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
