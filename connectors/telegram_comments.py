"""A Telegram customer's comment on their rating, on a line that takes one (`rating.comment`): the rated question
keeps an "add a comment" button; its press sends a prompt that opens the reply field (ForceReply), and the reply to
that prompt becomes the same CustomerRating with the comment — never a customer message. Which prompt waits for
which dialog's comment is kept per chat in the channel's checkpoints (`comment:<chat id>`, so it survives a
restart); a newer prompt replaces an older one, a second reply replaces the comment (as a later rating replaces
the earlier), and a reply after the rating window is an ordinary message."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.exceptions import AiogramError, TelegramAPIError
from aiogram.types import CallbackQuery, ForceReply, Message, Update

import connectors.rating_texts as rating_texts
from connectors.base import CheckpointStore
from connectors.telegram_rating import CHANNEL, Press, language
from queues.messages import RATING_COMMENT_MAX, CustomerRating, event_ts, rating_expired

KEY = "comment:{chat}"
TIMEOUT = 5  # seconds each Bot API call here may take
RECENT = 1000  # prompts remembered in memory too
SENDING = -1  # the prompt id of a prompt being sent
PROMPTS = {rating_texts.text("comment_prompt", lang) for lang in ("en", "ru")}
_ERRORS = (TelegramAPIError, AiogramError, aiohttp.ClientError, OSError, TimeoutError)


@dataclass(frozen=True)
class Waiting:
    """A prompt waiting for a comment: its message, the rated question's, the dialog, the score, when asked."""

    prompt_id: int
    question_id: int
    dialog_id: str
    score: int
    asked: datetime | None

    def dump(self) -> str:
        asked = "-" if self.asked is None else str(int(self.asked.timestamp()))
        return f"{self.prompt_id} {self.question_id} {self.dialog_id} {self.score} {asked}"

    @staticmethod
    def load(value: str | None) -> Waiting | None:
        parts = (value or "").split(" ")
        if len(parts) != 5 or not all(p.lstrip("-").isdigit() for p in (parts[0], parts[1], parts[3])):
            return None
        asked = (
            None if parts[4] == "-" or not parts[4].isdigit() else datetime.fromtimestamp(int(parts[4]), UTC)
        )
        return Waiting(int(parts[0]), int(parts[1]), parts[2], int(parts[3]), asked)


class Comments:
    """The comments of one bot's customers."""

    def __init__(self, bot: Bot, account: str, checkpoints: CheckpointStore, log: Callable[[], Any]) -> None:
        self.bot = bot
        self.account = account
        self.checkpoints = checkpoints
        self._log = log
        self._thanking: set[asyncio.Task[None]] = set()
        # the latest prompts, also before their checkpoint is written (a quick reply may come first)
        self._recent: OrderedDict[int, Waiting] = OrderedDict()

    async def ask(self, query: CallbackQuery, press: Press) -> None:
        """The "add a comment" button was pressed: send the prompt, and remember what it waits for."""
        message = query.message
        if message is None:
            return
        lang = language(query.from_user.language_code if query.from_user else None)
        field = ForceReply(
            force_reply=True, input_field_placeholder=rating_texts.text("comment_placeholder", lang)
        )
        chat = message.chat.id
        # waiting before the prompt goes out (its id not known yet: a reply to the prompt's text counts), as a
        # quick reply may come before sendMessage returns
        sending = Waiting(SENDING, message.message_id, press.dialog_id, press.score, press.asked)
        self._remember(chat, sending)
        try:
            prompt = await self.bot.send_message(
                chat, rating_texts.text("comment_prompt", lang), reply_markup=field, request_timeout=TIMEOUT
            )
        except _ERRORS as exc:
            self._log().info("telegram.comment.prompt_failed", error=f"{type(exc).__name__}: {exc}"[:300])
            if self._recent.get(chat) is sending:
                del self._recent[chat]
            return
        waiting = Waiting(prompt.message_id, message.message_id, press.dialog_id, press.score, press.asked)
        self._remember(chat, waiting)
        await self.checkpoints.set(self.account, KEY.format(chat=chat), waiting.dump())

    def _remember(self, chat: int, waiting: Waiting) -> None:
        self._recent.pop(chat, None)
        self._recent[chat] = waiting
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)

    async def take(self, update: Update) -> tuple[CustomerRating, Waiting, Message] | None:
        """A reply to a waiting prompt as the rating with its comment (None: not one)."""
        message = update.message or update.edited_message
        if message is None or message.chat.type != "private":
            return None
        reply = message.reply_to_message
        body = message.text  # a photo or file with a caption is the customer's message: nothing of it is lost
        # only a reply to one of our prompts (its text is ours) is looked up: a customer quoting an operator's
        # message costs no store read
        if (
            reply is None
            or reply.from_user is None
            or not reply.from_user.is_bot
            or reply.text not in PROMPTS
        ):
            return None
        if not body:
            return None
        waiting = self._recent.get(message.chat.id)
        if waiting is not None and waiting.prompt_id == SENDING:
            waiting = replace(waiting, prompt_id=reply.message_id)
        if waiting is None or waiting.prompt_id != reply.message_id:
            waiting = Waiting.load(await self.checkpoints.get(self.account, KEY.format(chat=message.chat.id)))
        now = datetime.now(UTC)
        if waiting is None or waiting.prompt_id != reply.message_id or rating_expired(waiting.asked, now):
            return None
        edited = f":{message.edit_date}" if update.edited_message is not None else ""
        rating = CustomerRating(
            event_id=f"tg:{self.account}:{message.chat.id}:{message.message_id}:comment{edited}",
            channel=CHANNEL,
            account=self.account,
            chat_id=str(message.chat.id),
            dialog_id=waiting.dialog_id,
            score=waiting.score,
            ts=event_ts(now),
            comment=body[:RATING_COMMENT_MAX],
        )
        return rating, waiting, message

    def thank_soon(self, waiting: Waiting, message: Message) -> None:
        """Thank for the comment (a reply to it) and take the question's "add a comment" button away."""
        task = asyncio.create_task(self._thank(waiting, message))
        self._thanking.add(task)
        task.add_done_callback(self._thanking.discard)

    def stop(self) -> None:
        """Give up the thanks still under way (the connector stops)."""
        for task in list(self._thanking):
            task.cancel()

    async def _thank(self, waiting: Waiting, message: Message) -> None:
        lang = language(message.from_user.language_code if message.from_user else None)
        try:
            await self.bot.send_message(
                message.chat.id,
                rating_texts.text("comment_thanks", lang),
                reply_to_message_id=message.message_id,
                request_timeout=TIMEOUT,
            )
            await self.bot.edit_message_reply_markup(
                chat_id=message.chat.id,
                message_id=waiting.question_id,
                reply_markup=None,
                request_timeout=TIMEOUT,
            )
        except _ERRORS as exc:  # sent or edited already (a redelivered update): nothing new
            self._log().info("telegram.comment.thanks_failed", error=f"{type(exc).__name__}: {exc}"[:300])
