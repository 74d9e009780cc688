"""A Telegram bot's pressed inline buttons (the rating question's): which rating a press carries, and its answer
(the spinner stopped with a thank-you, the buttons replaced by the chosen rating, or by "add a comment" on a line
that takes one) sent in the background; an "add a comment" press is handed to `Comments`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.exceptions import AiogramError, TelegramAPIError
from aiogram.types import CallbackQuery, Message

import connectors.telegram_rating as telegram_rating
from connectors.base import CheckpointStore
from connectors.telegram_comments import Comments
from connectors.telegram_rating import Press
from connectors.telegram_send import inline_markup
from queues.messages import CustomerRating

ANSWER_TIMEOUT = 5  # seconds answering a pressed rating button (and editing its message) may take


def reason(exc: BaseException) -> str:
    """An API failure as a log line's `error`."""
    message = getattr(exc, "message", None)
    return f"{type(exc).__name__}: {message or exc}"[:300]


class Presses:
    """The pressed buttons of one bot."""

    def __init__(
        self,
        bot: Bot,
        account: str,
        checkpoints: CheckpointStore,
        *,
        allow_groups: bool,
        log: Callable[[], Any],
    ) -> None:
        self.bot = bot
        self.account = account
        self.allow_groups = allow_groups
        self._log = log  # the bot's logger as it is now (it learns the bot's name at start)
        self._answering: set[asyncio.Task[None]] = set()  # answers under way
        self.comments = Comments(bot, account, checkpoints, log)

    def rating(self, query: CallbackQuery) -> tuple[CustomerRating, Press] | None:
        """The rating a pressed button carries (and its scale), or None for a button that is not ours."""
        result = telegram_rating.translate(
            query, self.account, allow_groups=self.allow_groups, now=datetime.now(UTC)
        )
        if isinstance(result, telegram_rating.Skipped):
            self._log().info("telegram.callback.ignored", reason=result.reason, data=(query.data or "")[:8])
            return None
        return None if isinstance(result, Press) else result

    def answer_soon(self, query: CallbackQuery, rated: tuple[CustomerRating, Press] | None) -> None:
        """Answer a press in the background: a slow Bot API must not hold up the next poll."""
        task = asyncio.create_task(self._answer(query, rated))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    def stop(self) -> None:
        """Give up the answers still under way (the connector stops)."""
        for task in list(self._answering):
            task.cancel()
        self.comments.stop()

    async def _answer(self, query: CallbackQuery, rated: tuple[CustomerRating, Press] | None) -> None:
        """Stop the button's spinner ("Thank you!" for a rating; for a question past RATE_WITHIN, an alert that
        it expired), and show the chosen rating in place of the buttons (an expired question's are just taken
        away) so a second press has nothing to press. A redelivered press finds the query answered and the
        message edited already: Telegram's refusals then change nothing, and are not errors."""
        lang = query.from_user.language_code if query.from_user else None
        found = rated or telegram_rating.translate(
            query, self.account, allow_groups=self.allow_groups, now=datetime.now(UTC)
        )
        expired = isinstance(found, telegram_rating.Skipped) and found.reason == "expired"
        answer = telegram_rating.thanks(lang) if rated is not None else None
        try:
            await self.bot.answer_callback_query(
                query.id,
                text=telegram_rating.expired(lang) if expired else answer,
                show_alert=True if expired else None,
                request_timeout=ANSWER_TIMEOUT,
            )
        except (TelegramAPIError, AiogramError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._log().info("telegram.callback.answer_failed", error=reason(exc))
        if isinstance(found, Press):  # "add a comment"
            await self.comments.ask(query, found)
        message = query.message
        if (rated is None and not expired) or message is None:
            return
        try:
            if rated is not None and isinstance(message, Message) and message.text:
                rating, press = rated
                text = telegram_rating.rated_text(message.text, press.scale, rating.score, lang)
                rows = telegram_rating.comment_keyboard(press, lang) if press.comment else None
                await self.bot.edit_message_text(
                    text,
                    chat_id=message.chat.id,
                    message_id=message.message_id,
                    reply_markup=inline_markup(rows),
                    request_timeout=ANSWER_TIMEOUT,
                )
            else:  # expired, a caption, or a message too old to be shown to us: just take the buttons away
                await self.bot.edit_message_reply_markup(
                    chat_id=message.chat.id,
                    message_id=message.message_id,
                    reply_markup=None,
                    request_timeout=ANSWER_TIMEOUT,
                )
        except (TelegramAPIError, AiogramError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._log().info("telegram.callback.edit_failed", error=reason(exc))
