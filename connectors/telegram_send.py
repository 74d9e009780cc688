"""Sending to a Telegram chat through aiogram: text in parts, files as photos or documents, errors typed as
retryable or final (the dispatcher owns the retries; this sends each step at most once per attempt)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, replace

import aiohttp
from aiogram import Bot
from aiogram.exceptions import (
    AiogramError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Message

import connectors.telegram_rating as telegram_rating
from connectors.base import AttachmentStore
from connectors.rating_texts import asked_at
from connectors.telegram_updates import CAPTION_LIMIT, split_text, utf16_len
from queues.messages import Attachment, OutboundMessage, SendResult

MAX_FLOOD_WAIT = 30.0  # longest we hold a send back for Telegram's retry_after before trying anyway
MAX_PHOTO = 10 * 1024 * 1024  # sendPhoto's limit; bigger images go as documents
_REMEMBERED = 1000  # messages whose finished steps are kept for a retry


@dataclass(frozen=True)
class _Step:
    text: str | None = None
    file: Attachment | None = None
    caption: str | None = None
    markup: InlineKeyboardMarkup | None = None  # the rating keyboard, on the question's last part


class Sender:
    """Sends outbound messages of one bot; a retried message resumes after the parts already sent."""

    def __init__(self, bot: Bot, attachments: AttachmentStore) -> None:
        self.bot = bot
        self.attachments = attachments
        self._done: OrderedDict[str, list[str]] = OrderedDict()  # message id -> Telegram ids sent so far
        self._not_before: dict[int, float] = {}  # chat id -> loop time Telegram's flood control allows

    async def send(self, msg: OutboundMessage) -> SendResult:
        """One delivery attempt; SendResult(ok, "id,id", error, retryable)."""
        try:
            chat = int(msg.chat_id)
        except ValueError:
            return SendResult(ok=False, error=f"not a Telegram chat id: {msg.chat_id!r}", retryable=False)
        steps = _plan(msg)
        if not steps:
            return SendResult(ok=False, error="nothing to send: the message is empty", retryable=False)
        sent = self._done.setdefault(msg.message_id, [])
        self._done.move_to_end(msg.message_id)
        while len(self._done) > _REMEMBERED:
            self._done.popitem(last=False)
        await self._flood_wait(chat)
        try:
            for step in steps[len(sent) :]:
                sent.append(str(await self._step(chat, step)))
        except _Missing as exc:
            self._done.pop(msg.message_id, None)
            return SendResult(ok=False, error=str(exc), retryable=False)
        except (TelegramAPIError, AiogramError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            result = self._classify(chat, exc)
            if not result.retryable:
                self._done.pop(msg.message_id, None)
            return result
        self._done.pop(msg.message_id, None)
        return SendResult(ok=True, external_id=",".join(sent))

    async def _step(self, chat: int, step: _Step) -> int:
        message: Message
        if step.file is None:
            message = await self.bot.send_message(chat, step.text or "", reply_markup=step.markup)
            return message.message_id
        a = step.file
        data = await self.attachments.get(a.ref) if a.ref else None
        if data is None:
            raise _Missing(f"the file {a.name!r} is not in the attachment store")
        upload = BufferedInputFile(data, filename=a.name or "file")
        if _is_photo(a.mime) and len(data) <= MAX_PHOTO:
            message = await self.bot.send_photo(chat, upload, caption=step.caption, reply_markup=step.markup)
        else:
            message = await self.bot.send_document(
                chat, upload, caption=step.caption, reply_markup=step.markup
            )
        return message.message_id

    async def _flood_wait(self, chat: int) -> None:
        """Honour the retry_after Telegram gave for this chat before trying again."""
        until = self._not_before.get(chat)
        if until is None:
            return
        wait = until - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(min(wait, MAX_FLOOD_WAIT))
        self._not_before.pop(chat, None)

    def _classify(self, chat: int, exc: BaseException) -> SendResult:
        """Flood control, 5xx and the network are worth a retry; what Telegram refused for good is final."""
        if isinstance(exc, TelegramRetryAfter):
            self._not_before[chat] = asyncio.get_running_loop().time() + exc.retry_after
            if len(self._not_before) > _REMEMBERED:
                self._not_before.pop(next(iter(self._not_before)))
            return SendResult(
                ok=False, error=f"Telegram flood control: retry after {exc.retry_after}s", retryable=True
            )
        if isinstance(exc, TelegramMigrateToChat):
            return SendResult(
                ok=False,
                error=f"the group became the supergroup {exc.migrate_to_chat_id}: {exc.message}",
                retryable=False,
            )
        final = (
            TelegramBadRequest,  # 400: chat not found, message too long, wrong file...
            TelegramForbiddenError,  # 403: bot was blocked by the user, user is deactivated, kicked
            TelegramNotFound,
            TelegramUnauthorizedError,  # the token was revoked
            TelegramEntityTooLarge,
        )
        if isinstance(exc, final):
            return SendResult(ok=False, error=exc.message, retryable=False)
        # 5xx, RestartingTelegram, 409, network errors and timeouts, undecodable answers (a proxy's HTML page)
        reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return SendResult(ok=False, error=f"{type(exc).__name__}: {reason}"[:500], retryable=True)


class _Missing(Exception):
    """An outbound file whose body is gone: nothing a retry could fix."""


def _plan(msg: OutboundMessage) -> list[_Step]:
    """The API calls for a message: the text as a caption of its only file when short, else parts then files."""
    text = msg.text.strip()
    files = list(msg.attachments)
    if len(files) == 1 and text and utf16_len(text) <= CAPTION_LIMIT:
        steps = [_Step(file=files[0], caption=text)]
    else:
        steps = [_Step(text=part) for part in split_text(text)] if text else []
        steps += [_Step(file=f) for f in files]
    markup = rating_markup(msg)
    if markup is not None and steps:
        steps[-1] = replace(steps[-1], markup=markup)
    return steps


def rating_markup(msg: OutboundMessage) -> InlineKeyboardMarkup | None:
    """The inline keyboard of a message asking for a rating (None: it asks none, or on a scale we cannot show)."""
    if not msg.ask_rating:
        return None
    asked = asked_at(msg.ts)
    return inline_markup(
        telegram_rating.keyboard(msg.ask_rating, msg.dialog_id, asked, comment=msg.ask_comment)
    )


def inline_markup(rows: list[list[tuple[str, str]]] | None) -> InlineKeyboardMarkup | None:
    """An inline keyboard of (label, callback_data) rows (None: none)."""
    if rows is None:
        return None
    buttons = [[InlineKeyboardButton(text=text, callback_data=data) for text, data in row] for row in rows]
    return InlineKeyboardMarkup(inline_keyboard=buttons)


def _is_photo(mime: str) -> bool:
    # sendPhoto takes JPEG, PNG, WebP and GIF (as a still); SVG, TIFF, HEIC... go as documents
    return mime.lower() in ("image/jpeg", "image/jpg", "image/png", "image/webp", "image/gif")
