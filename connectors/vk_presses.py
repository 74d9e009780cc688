"""A VK community's pressed rating buttons: their answers (a snackbar, the question edited to show the chosen
rating) sent in the background, and the customer's comment on a line that takes one (`rating.comment`): the rated
question keeps an "add a comment" callback button; its press sends a prompt, and the customer's next text message
(within COMMENT_WAIT) becomes the same CustomerRating with the comment — never a customer message. VK has no reply
field a bot can open (Telegram's ForceReply), so the prompt asks for the next message. What waits is kept in
memory: after a restart the next message is an ordinary one."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import connectors.rating_texts as rating_texts
import connectors.vk_rating as vk_rating
from connectors.vk_client import VkCallError, VkClient
from queues.messages import RATING_COMMENT_MAX, CustomerRating, event_ts, rating_expired

COMMENT_WAIT = 30 * 60  # seconds the next message after the prompt counts as the comment
WAITING = 10_000  # prompts remembered at once (the oldest go first)


@dataclass(frozen=True)
class Waiting:
    """A prompt waiting for a comment: what it rates, the question's message (None: not known), until when."""

    pressed: vk_rating.Pressed
    question_cmid: int | None
    until: float  # monotonic
    lang_id: Any  # the customer's VK language (vk_rating.language)


class Presses:
    """The pressed buttons and comments of one community's customers."""

    def __init__(self, client: VkClient, account: str, run: Callable[..., Awaitable[Any]], log: Any) -> None:
        self.client = client
        self.account = account
        self._run = run
        self._log = log
        self._waiting: OrderedDict[int, Waiting] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    async def ask(
        self, peer: int, pressed: vk_rating.Pressed, question_cmid: int | None, lang_id: Any
    ) -> None:
        """ "Add a comment" was pressed: send the prompt and wait for the next message."""
        text = rating_texts.text("comment_prompt_next", vk_rating.language(lang_id))
        # waiting before the prompt goes out: a quick answer may come before messages.send returns
        self._waiting.pop(peer, None)
        self._waiting[peer] = waiting = Waiting(
            pressed, question_cmid, time.monotonic() + COMMENT_WAIT, lang_id
        )
        while len(self._waiting) > WAITING:
            self._waiting.popitem(last=False)
        try:
            await self._run(self.client.send, peer, text, secrets.randbits(31), None)
        except VkCallError as exc:
            self._log.info("vk.comment.prompt_failed", code=exc.code, error=exc.message[:200])
            if self._waiting.get(peer) is waiting:
                del self._waiting[peer]

    def take_comment(self, message: Mapping[str, Any], now: datetime) -> CustomerRating | None:
        """A customer's new message as the comment a prompt waits for (None: not one; it is then theirs)."""
        peer, cmid, text = message.get("peer_id"), message.get("conversation_message_id"), message.get("text")
        if not isinstance(peer, int) or not isinstance(cmid, int) or message.get("out"):
            return None
        waiting = self._waiting.get(peer)
        if waiting is None or not isinstance(text, str) or not text.strip() or message.get("payload"):
            return None
        if message.get("attachments") or message.get("fwd_messages"):
            return None  # files or forwards are the customer's message: a comment would lose them
        del self._waiting[peer]
        if time.monotonic() > waiting.until or rating_expired(waiting.pressed.asked, now):
            return None
        self._soon(self._thank(peer, cmid, waiting))
        return CustomerRating(
            event_id=f"vk:{self.account}:{peer}:{cmid}:comment",
            channel=vk_rating.CHANNEL,
            account=self.account,
            chat_id=str(peer),
            dialog_id=waiting.pressed.dialog_id,
            score=waiting.pressed.score,
            ts=event_ts(now),
            comment=text[:RATING_COMMENT_MAX],
        )

    def answer_soon(self, obj: dict[str, Any], result: object, lang_id: Any) -> None:
        """Answer a press in the background (`answer`)."""
        self._soon(self.answer(obj, result, lang_id))

    async def answer(self, obj: dict[str, Any], result: object, lang_id: Any) -> None:
        """Answer a pressed callback button (a "thank you" snackbar for a rating, one saying so for a question
        past RATE_WITHIN, else just stop its spinner), then show the chosen rating in the message in place of its
        buttons ("add a comment" on a line that takes one; an expired question's buttons just go); "add a
        comment" sends the prompt. A redelivered press finds the event expired (VK keeps it a minute) and the
        message edited already: nothing new, and not an error. `obj` is a message_event's object, or the message
        of a text button's press (no event to answer, no question known)."""
        peer, user, event = obj.get("peer_id"), obj.get("user_id") or obj.get("from_id"), obj.get("event_id")
        if not isinstance(peer, int) or not isinstance(user, int):
            return
        rating = result if isinstance(result, CustomerRating) else None
        reason = getattr(result, "reason", None)
        data = (
            vk_rating.snackbar(lang_id, expired=reason == "expired")
            if rating or reason == "expired"
            else None
        )
        try:
            if isinstance(event, str):  # a callback button's press waits for its answer
                await self._run(self.client.answer_event, event, user, peer, data)
        except VkCallError as exc:
            self._log.info("vk.event.answer_failed", code=exc.code, error=exc.message[:200])
        cmid = obj.get("conversation_message_id")
        decoded = vk_rating.decode(obj.get("payload"))
        if reason == "add_comment" and decoded is not None:
            await self.ask(peer, decoded, cmid if isinstance(cmid, int) else None, lang_id)
            return
        if (rating is None and reason != "expired") or decoded is None or not isinstance(cmid, int):
            return
        try:
            message = await self._run(self.client.message, peer, cmid)
            text = str(
                (message or {}).get("text") or ""
            )  # the question; an expired one just loses its buttons
            board = vk_rating.EMPTY_INLINE
            if rating is not None:
                text = vk_rating.rated_text(text, decoded.scale, rating.score, lang_id)
                board = vk_rating.comment_keyboard(decoded, lang_id) if decoded.comment else board
            await self._run(self.client.edit, peer, cmid, text, board)
        except VkCallError as exc:
            self._log.info("vk.rating.edit_failed", code=exc.code, error=exc.message[:200])

    def stop(self) -> None:
        """Give up the answers and thanks still under way (the connector stops)."""
        for task in list(self._tasks):
            task.cancel()

    def _soon(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _thank(self, peer: int, cmid: int, waiting: Waiting) -> None:
        """Thank for the comment and take the question's "add a comment" button away."""
        try:
            text = rating_texts.text("comment_thanks", vk_rating.language(waiting.lang_id))
            await self._run(self.client.send, peer, text, secrets.randbits(31), None)
            if waiting.question_cmid is not None:
                question = await self._run(self.client.message, peer, waiting.question_cmid)
                body = str((question or {}).get("text") or "")
                await self._run(self.client.edit, peer, waiting.question_cmid, body, vk_rating.EMPTY_INLINE)
        except VkCallError as exc:
            self._log.info("vk.comment.thanks_failed", code=exc.code, error=exc.message[:200])
