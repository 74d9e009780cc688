"""One Telegram bot through aiogram (imported only when a Telegram channel starts): getMe, the polling loop or
the webhook route, receipts moving the offset, and sending with typed errors."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from typing import Any

import aiohttp
import structlog
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatAction
from aiogram.exceptions import (
    AiogramError,
    TelegramAPIError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import CallbackQuery, Message, Update
from aiohttp import web

from connectors.backoff import Backoff
from connectors.base import AttachmentBody, Binding, ConnectorContext
from connectors.telegram_comments import Waiting
from connectors.telegram_files import fetch_file
from connectors.telegram_offsets import OffsetTracker
from connectors.telegram_presses import Presses, reason
from connectors.telegram_rating import Press
from connectors.telegram_send import Sender
from connectors.telegram_updates import ALLOWED_UPDATES, Skipped, translate
from queues.messages import CustomerRating, InboundMessage, OutboundMessage, Receipt, SendResult
from queues.redis_client import raise_if_cancelled

log = structlog.get_logger("connectors.telegram")
OFFSET_KEY = "offset"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CHECK_TIMEOUT = 5  # seconds getMe may take at start before the bot counts as down (and keeps retrying)
RECEIPT_TIMEOUT = 10.0  # how long a webhook answer / the next poll waits for the router's commit
MAX_PUBLISHES = 5  # an update whose receipt never comes is published this often, then given up


class TelegramBot:
    """One bot bound to one line."""

    def __init__(self, binding: Binding, ctx: ConnectorContext) -> None:
        self.binding = binding
        self.settings = binding.settings
        self.account = binding.account
        self.ctx = ctx
        self._http = AiohttpSession(api=TelegramAPIServer.from_base(self.settings.api_base))
        self.bot = Bot(self.settings.token.get_secret_value(), session=self._http)
        self.sender = Sender(self.bot, ctx.attachments)
        self.presses = Presses(
            self.bot,
            self.account,
            ctx.checkpoints,
            allow_groups=self.settings.allow_groups,
            log=lambda: self._log,
        )
        self.username: str | None = None
        self.refused = False
        self.tracker: OffsetTracker | None = None
        self._receipt = asyncio.Event()
        self._waiters: dict[str, list[asyncio.Future[Receipt]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._log = log.bind(line=binding.line_id, account=binding.account)

    # ---- lifecycle --------------------------------------------------------------------------------

    async def check(self) -> bool | None:
        """One getMe: True when the token works, False when Telegram refused it, None when unreachable."""
        try:
            me = await self.bot.get_me(request_timeout=CHECK_TIMEOUT)
        except TelegramUnauthorizedError as exc:
            self._refuse(f"Telegram refused the bot token ({exc.message})")
            return False
        except (TelegramAPIError, AiogramError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._down("getMe", exc)
            return None
        self.username = me.username
        self._log = self._log.bind(bot=f"@{me.username}")
        self.ctx.health.set(self.account, "up")  # the token works and Telegram answers
        return True

    def _refuse(self, why: str) -> None:
        self.refused = True
        detail = f"telegram channel of line {self.binding.line_id!r}: {why}; check the token from @BotFather"
        self._log.error("telegram.token.refused", reason=why)
        self.ctx.health.set(self.account, "refused", detail)

    def _down(self, call: str, exc: BaseException, delay: float | None = None) -> None:
        detail = f"{call} failed: {reason(exc)}"
        if delay is not None:
            detail += f"; retrying in {delay:.1f}s"
        self._log.warning("telegram.api.down", call=call, error=reason(exc), retry_in=delay)
        self.ctx.health.set(self.account, "down", detail)

    def mount(self) -> None:
        """Mount the webhook route (before the web app is built)."""
        if self.settings.mode == "webhook":
            self.ctx.routes.add("POST", self.settings.route, self.webhook)

    def run(self, checked: bool | None) -> None:
        """Start the background loop: polling, or registering the webhook."""
        self._task = asyncio.create_task(self._supervised(checked), name=f"telegram.{self.account}")

    async def _supervised(self, checked: bool | None) -> None:
        # a bug or a database error must not stop the bot silently: log it, say so in /healthz, start over
        backoff = Backoff(first=1.0)
        while True:
            try:
                await self._main(checked)
                return
            except Exception as exc:
                raise_if_cancelled()
                delay = backoff.next()
                self._log.exception("telegram.loop.crashed", retry_in=delay)
                self.ctx.health.set(self.account, "down", f"the bot's loop failed: {reason(exc)}")
                await asyncio.sleep(delay)
                checked = None

    async def _main(self, checked: bool | None) -> None:
        backoff = Backoff()
        while checked is None:  # Telegram unreachable at start: keep trying, the daemon keeps serving
            await asyncio.sleep(backoff.next())
            checked = await self.check()
        if not checked:
            return
        backoff.reset()
        if self.settings.mode == "webhook":
            await self._register_webhook(backoff)
        else:
            await self._poll(backoff)

    async def stop(self) -> None:
        """Stop the loop, fail the waiting webhook answers (Telegram sends those again), close the session."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.presses.stop()
        for futures in self._waiters.values():
            for f in futures:
                if not f.done():
                    f.set_exception(_Stopping())
        with contextlib.suppress(Exception):
            await self.bot.session.close()

    # ---- webhook ----------------------------------------------------------------------------------

    async def _register_webhook(self, backoff: Backoff) -> None:
        secret = self.settings.secret_token.get_secret_value()
        while True:
            try:
                await self.bot.set_webhook(
                    self.settings.webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
                )
            except TelegramUnauthorizedError as exc:
                self._refuse(f"Telegram refused the bot token ({exc.message})")
                return
            except (TelegramAPIError, AiogramError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                delay = backoff.next()
                self._down("setWebhook", exc, delay)
                await asyncio.sleep(delay)
                continue
            self._log.info("telegram.webhook.set", path=self.settings.route)
            self.ctx.health.set(self.account, "up")
            return

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        """One update posted by Telegram: answered 200 once stored, so Telegram redelivers what was not."""
        expected = self.settings.secret_token.get_secret_value().encode()
        given = request.headers.get(SECRET_HEADER)
        if self.refused or given is None or not hmac.compare_digest(given.encode(), expected):
            reason = (
                "refused_bot" if self.refused else ("missing_secret" if given is None else "wrong_secret")
            )
            self._log.warning("telegram.webhook.refused", reason=reason, remote=request.remote)
            return web.Response(status=401, text="unauthorized")
        try:
            update = Update.model_validate(await request.json(), context={"bot": self.bot})
        except Exception:
            self._log.warning("telegram.webhook.bad_update")
            return web.Response(status=400, text="not an update")
        if update.callback_query is not None:
            rated = self.presses.rating(update.callback_query)
            if rated is not None:
                try:
                    await self.ctx.sink.publish([rated[0]])
                except Exception:
                    self._log.exception("telegram.publish.failed", count=1)
                    return web.Response(status=500, text="not stored yet")  # Telegram sends it again
            self.presses.answer_soon(update.callback_query, rated)
            return web.Response(text="ok")
        if (comment := await self.presses.comments.take(update)) is not None:
            try:
                await self.ctx.sink.publish([comment[0]])
            except Exception:
                self._log.exception("telegram.publish.failed", count=1)
                return web.Response(status=500, text="not stored yet")
            self.presses.comments.thank_soon(comment[1], comment[2])
            return web.Response(text="ok")
        event = self._translate(update)
        if event is None:
            return web.Response(text="ok")
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(event.external_id, []).append(future)
        try:
            await self.ctx.sink.publish([event])
            receipt = await asyncio.wait_for(future, RECEIPT_TIMEOUT)
        except (TimeoutError, _Stopping):
            self._log.warning("telegram.webhook.timeout", update_id=update.update_id)
            return web.Response(status=500, text="not stored yet")
        finally:
            waiting = self._waiters.get(event.external_id, [])
            if future in waiting:
                waiting.remove(future)
            if not waiting:
                self._waiters.pop(event.external_id, None)
        if receipt.error:
            self._log.warning("telegram.update.not_stored", update_id=update.update_id, error=receipt.error)
        return web.Response(text="ok")

    # ---- polling ----------------------------------------------------------------------------------

    async def _poll(self, backoff: Backoff) -> None:
        stored = await self.ctx.checkpoints.get(self.account, OFFSET_KEY)
        self.tracker = tracker = OffsetTracker(int(stored) if stored else None)
        try:
            await self.bot.delete_webhook()  # getUpdates answers 409 while a webhook is set
        except (TelegramAPIError, AiogramError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._log.warning("telegram.webhook.delete_failed", error=reason(exc))
        self._log.info("telegram.polling.started", offset=tracker.offset)
        self.ctx.health.set(self.account, "up")
        saved = tracker.offset
        while True:
            if tracker.offset is not None and tracker.offset != saved:
                await self.ctx.checkpoints.set(self.account, OFFSET_KEY, str(tracker.offset))
                saved = tracker.offset
            # after a failure, a short poll tells at once whether Telegram is back
            timeout = 0 if backoff.failures else self.settings.polling_timeout
            try:
                updates = await self.bot.get_updates(
                    offset=tracker.offset,
                    timeout=timeout,
                    allowed_updates=ALLOWED_UPDATES,
                    request_timeout=int(self.bot.session.timeout + timeout),
                )
            except TelegramUnauthorizedError as exc:
                self._refuse(f"Telegram refused the bot token ({exc.message})")
                return
            except (TelegramAPIError, AiogramError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                delay = backoff.next()
                if isinstance(exc, TelegramRetryAfter):
                    delay = max(delay, float(exc.retry_after))
                self._down("getUpdates", exc, delay)
                await asyncio.sleep(delay)
                continue
            if backoff.failures:
                self._log.info("telegram.polling.recovered", failures=backoff.failures)
                self.ctx.health.set(self.account, "up")
                backoff.reset()
            await self._take(updates, tracker)

    async def _take(self, updates: list[Update], tracker: OffsetTracker) -> None:
        """Publish the new updates, then wait (bounded) for their receipts before the offset moves on."""
        events: list[tuple[int, InboundMessage]] = []
        presses: list[tuple[int, CallbackQuery, tuple[CustomerRating, Press] | None]] = []
        comments: list[tuple[int, tuple[CustomerRating, Waiting, Message]]] = []
        for update in updates:
            if not tracker.is_new(update.update_id):
                continue  # published, its receipt not back yet: Telegram returns it until the offset passes it
            if update.callback_query is not None:
                presses.append(
                    (update.update_id, update.callback_query, self.presses.rating(update.callback_query))
                )
                continue
            if (comment := await self.presses.comments.take(update)) is not None:
                comments.append((update.update_id, comment))  # a rating's comment, never a customer message
                continue
            event = self._translate(update)
            if event is None:
                tracker.skipped(update.update_id)
            else:
                tracker.published(update.update_id, event)
                events.append((update.update_id, event))
        ratings = [rated[0] for _, _, rated in presses if rated is not None] + [c[0] for _, c in comments]
        if events or ratings:
            try:
                await self.ctx.sink.publish([*ratings, *(e for _, e in events)])
            except Exception:
                raise_if_cancelled()  # redis-py may surface our cancellation as an error: end, don't retry
                self._log.exception("telegram.publish.failed", count=len(events) + len(ratings))
                tracker.forget([u for u, _ in events])
                await asyncio.sleep(1.0)
                return
        if presses:
            # a rating is done once on the bus (the engine stores it, and a later one of the dialog replaces it):
            # the offset need not wait for it, and the customer's button stops spinning at once
            for update_id, query, rated in presses:
                tracker.skipped(update_id)
                self.presses.answer_soon(query, rated)
        for update_id, (_, waiting, message) in comments:
            tracker.skipped(update_id)
            self.presses.comments.thank_soon(waiting, message)
        await self._await_receipts(tracker)

    async def _await_receipts(self, tracker: OffsetTracker) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECEIPT_TIMEOUT
        while tracker.in_flight:
            self._receipt.clear()
            if not tracker.in_flight:
                return
            try:
                await asyncio.wait_for(self._receipt.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                break
        overdue = tracker.in_flight
        if not overdue:
            return
        again = []
        for flight in overdue:
            if flight.publishes >= MAX_PUBLISHES:
                self._log.error("telegram.update.abandoned", update_id=flight.update_id)
                tracker.abandon(flight.update_id)
            else:
                flight.publishes += 1
                again.append(flight.message)
        if again:  # the router dedupes by external id: a receipt lost on the way costs nothing
            self._log.warning("telegram.receipt.overdue", count=len(again))
            await self.ctx.sink.publish(again)

    async def on_receipt(self, receipt: Receipt) -> None:
        """The router committed a message of this bot."""
        if receipt.error:
            self._log.warning("telegram.update.not_stored", error=receipt.error)
        for future in self._waiters.get(receipt.external_id, []):
            if not future.done():
                future.set_result(receipt)
        if self.tracker is not None and self.tracker.committed(receipt.external_id):
            self._receipt.set()

    def _translate(self, update: Update) -> InboundMessage | None:
        result = translate(update, self.account, allow_groups=self.settings.allow_groups)
        if isinstance(result, Skipped):
            event = (
                "telegram.group.ignored" if result.reason == "group" else f"telegram.update.{result.reason}"
            )
            self._log.info(event, update_id=update.update_id, **result.fields)
            return None
        return result

    # ---- outbound ---------------------------------------------------------------------------------

    async def send(self, msg: OutboundMessage) -> SendResult:
        """Deliver one outbound message (see `Sender`)."""
        return await self.sender.send(msg)

    async def typing(self, chat_id: str) -> None:
        """sendChatAction "typing" to a private chat."""
        with contextlib.suppress(ValueError):
            await self.bot.send_chat_action(int(chat_id), ChatAction.TYPING)

    async def fetch(self, ref: str) -> AttachmentBody | None:
        """A customer's file by its file_id (`fetch_file`)."""
        return await fetch_file(self.bot, self._http, self.settings.local_files_root, ref, self._log)


class _Stopping(Exception):
    """The connector stops: a webhook answer still waiting gets 500 (Telegram sends the update again)."""


async def start_all(bots: list[TelegramBot]) -> None:
    """getMe for every bot at once, then mount webhooks and start the loops of those not refused."""
    results: list[Any] = await asyncio.gather(*(b.check() for b in bots))
    for bot, checked in zip(bots, results, strict=True):
        if checked is False:
            continue
        bot.mount()
        bot.run(checked)


async def stop_all(bots: list[TelegramBot]) -> None:
    """Stop every bot (their sessions close concurrently)."""
    await asyncio.gather(*(b.stop() for b in bots), return_exceptions=True)
