"""One support mailbox's intake loop: fetch new mail, publish it, and flag it only after the commit receipt."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from datetime import UTC, datetime

import structlog

from connectors.backoff import Backoff
from connectors.base import Binding, ConnectorContext
from connectors.email.book import ThreadBook
from connectors.email.fetch import FETCH_BATCH, ImapError, ImapSession
from connectors.email.parse import Mail, parse_mail, unreadable_mail
from connectors.email.progress import Progress
from connectors.email.settings import EmailSettings
from connectors.email.threads import Thread, is_ours
from queues.messages import Attachment, InboundMessage, Receipt, SenderProfile, event_ts
from queues.redis_client import raise_if_cancelled

log = structlog.get_logger("connectors.email")
RECEIPT_OVERDUE = 300.0  # seconds without a commit receipt before a mail is published again
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
CHECKPOINT = "uid"  # "UIDVALIDITY:LAST_UID" of the folder


class Mailbox:
    """Reads one line's mailbox; `on_receipt` lets committed mail be flagged and the checkpoint move on."""

    def __init__(self, binding: Binding, ctx: ConnectorContext, book: ThreadBook) -> None:
        self.account = binding.account
        self.line_id = binding.line_id
        self.settings: EmailSettings = binding.settings
        self.ctx = ctx
        self.book = book
        self.progress = Progress(0)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._validity: int | None = None
        self._saved: str | None = None

    def start(self) -> None:
        """Start the intake loop."""
        self.ctx.health.set(self.account, "starting")
        self._task = asyncio.create_task(self._run(), name=f"email.{self.account}")

    async def stop(self) -> None:
        """Finish the current step, log out, and end the loop."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.settings.imap.timeout)
        except Exception:  # a stuck command or a timeout: end it the hard way
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def on_receipt(self, receipt: Receipt) -> None:
        """The router stored a mail (or refused it): it may be flagged now."""
        ok = receipt.error is None and receipt.message_id is not None
        if self.progress.committed(receipt.external_id, acknowledge=ok):
            if not ok:
                log.warning("email.mail.refused", account=self.account, error=receipt.error)
            self._wake.set()

    # ---- the loop -------------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = Backoff(first=BACKOFF_FIRST, cap=BACKOFF_MAX)
        while not self._stopping:
            session = ImapSession(self.settings)
            try:
                await session.open()
                await self._resume(session)
                self.ctx.health.set(self.account, "up")
                log.info("email.imap.connected", account=self.account, idle=session.can_idle)
                backoff.reset()
                await self._serve(session)
            except ImapError as exc:
                self.ctx.health.set(self.account, "down", str(exc))
                log.warning("email.imap.failed", account=self.account, error=str(exc))
            except Exception as exc:  # a bug must not end intake for good: report it and start over
                raise_if_cancelled()  # ... but not its own cancellation, which redis-py may surface as an error
                self.ctx.health.set(self.account, "down", f"{type(exc).__name__}: {exc}")
                log.exception("email.loop.crashed", account=self.account)
            finally:
                await session.close()
            if self._stopping:
                break
            await self._pause(backoff.next())

    async def _pause(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _resume(self, session: ImapSession) -> None:
        """Load the checkpoint; a new folder (or a changed UIDVALIDITY) starts at the mail arriving now."""
        saved = await self.ctx.checkpoints.get(self.account, CHECKPOINT)
        validity, _, last = (saved or "").partition(":")
        if self._validity == session.uidvalidity:
            return  # a reconnect: what is in memory is newer than the checkpoint
        if validity == str(session.uidvalidity) and last.isdigit():
            self.progress.restart(int(last))
        else:
            # earlier mail that is still unseen is fetched anyway; mail already read is history
            self.progress.restart(session.uidnext - 1)
            log.info("email.imap.new_folder", account=self.account, uidvalidity=session.uidvalidity)
        self._validity = session.uidvalidity
        await self._save_checkpoint()

    async def _serve(self, session: ImapSession) -> None:
        while not self._stopping:
            self._wake.clear()
            await self._acknowledge(session)
            self.progress.stale(time.monotonic(), RECEIPT_OVERDUE)
            self.progress.checkpoint()  # mail committed since the last round is not looked at again
            uids = [u for u in await session.search(self.progress.last_uid) if self.progress.is_new(u)]
            for uid in uids[:FETCH_BATCH]:
                if self._stopping:
                    return
                raw = await session.fetch(uid)
                if raw is None:
                    self.progress.gone(uid)
                else:
                    await self._take(uid, raw)
            await self._acknowledge(session)
            await self._save_checkpoint()
            if len(uids) > FETCH_BATCH:
                continue
            await session.wait(self.settings.imap.poll_interval, self._wake)

    async def _acknowledge(self, session: ImapSession) -> None:
        uids = self.progress.to_acknowledge
        if uids:
            await session.acknowledge(uids)
            self.progress.acknowledged(uids)
            log.debug("email.mail.acknowledged", account=self.account, count=len(uids))

    async def _save_checkpoint(self) -> None:
        value = f"{self._validity}:{self.progress.checkpoint()}"
        if value != self._saved:
            await self.ctx.checkpoints.set(self.account, CHECKPOINT, value)
            self._saved = value

    # ---- one mail ---------------------------------------------------------------------------------------

    async def _take(self, uid: int, raw: bytes) -> None:
        """Publish one fetched mail (our own answers coming back are only flagged)."""
        limit = self.settings.max_attachment_bytes
        try:
            mail = await asyncio.to_thread(parse_mail, raw, max_attachment_bytes=limit)
        except Exception:  # a mail that breaks the parser must not stop the mailbox (it is fetched again)
            log.exception("email.mail.unreadable", account=self.account, uid=uid)
            mail = unreadable_mail(raw)
        if is_ours(mail.message_id, self.settings.address) or mail.from_address == self.settings.address:
            log.info("email.mail.own", account=self.account, uid=uid)
            self.progress.needs_no_commit(uid)
            return
        chat_id = await self.book.conversation_of(self.account, mail)
        # a bounce in a known thread speaks about that thread's customer: it is no new customer (no stray
        # lead for mailer-daemon), and it must not change where our answers go
        bounced_for = await self.book.thread(self.account, chat_id) if mail.reported else None
        if bounced_for is None:
            await self.book.customer_wrote(self.account, chat_id, mail)
        event = await self._event(mail, raw, chat_id, bounced_for)
        self.progress.published(uid, event.external_id, time.monotonic())
        try:
            await self.ctx.sink.publish([event])
        except Exception:
            self.progress.unpublished(uid)
            raise
        log.debug("email.mail.published", account=self.account, uid=uid, automatic=mail.automatic)

    async def _event(
        self, mail: Mail, raw: bytes, chat_id: str, bounced_for: Thread | None = None
    ) -> InboundMessage:
        text = mail.text
        if chat_id == mail.message_id and mail.subject:
            # the first mail of a thread: its subject says what it is about
            text = f"{mail.subject}\n\n{text}".strip()
        limit = self.ctx.max_message_length
        truncated = len(text) > limit
        if truncated:
            note = "\n[…] the whole mail is attached as original.eml"
            text = text[: max(0, limit - len(note))] + note
        files = await self._files(mail, raw, keep_original=truncated or mail.shortened)
        if not text and not files:
            text = "(empty mail)"
        return InboundMessage(
            event_id=secrets.token_hex(12),
            channel="email",
            account=self.account,
            chat_id=chat_id,
            external_id=mail.message_id,
            text=text,
            ts=event_ts(datetime.now(UTC)),
            sender=(
                SenderProfile(display_name=bounced_for.name or bounced_for.to)
                if bounced_for
                else SenderProfile(
                    display_name=mail.from_name or mail.from_address or "Unknown sender",
                    email=mail.from_address or None,
                )
            ),
            attachments=files,
            automatic=mail.automatic,
            sender_id=(bounced_for.to if bounced_for else mail.from_address) or None,
        )

    async def _files(self, mail: Mail, raw: bytes, *, keep_original: bool) -> tuple[Attachment, ...]:
        """The mail's files in the attachment store (once: a mail fetched again reuses them)."""
        known = await self.book.stored_files(self.account, mail.message_id)
        if known is not None:
            return known
        store = self.ctx.attachments
        files = [
            Attachment(p.name, p.mime, len(p.data), await store.put(p.data, name=p.name, mime=p.mime))
            for p in mail.parts
        ]
        if keep_original:
            ref = await store.put(raw, name="original.eml", mime="message/rfc822")
            files.append(Attachment("original.eml", "message/rfc822", len(raw), ref))
        if files:
            await self.book.remember_files(self.account, mail.message_id, tuple(files))
        return tuple(files)
