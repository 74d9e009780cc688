"""What the connector remembers per mailbox in its durable checkpoints: threads, Message-ID → conversation,
subject tags, and the stored files of a mail (so fetching it again stores nothing twice)."""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict

import orjson

from connectors.base import CheckpointStore
from connectors.email.parse import Mail
from connectors.email.threads import Thread, customer_wrote, referenced, root_of, subject_tag, tag_of, we_sent
from queues.messages import Attachment


def _key(kind: str, value: str) -> str:
    """A checkpoint key (at most 128 characters, so long Message-IDs are hashed)."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:40]}"


class ThreadBook:
    """Conversations of the mailboxes, kept in the checkpoint store (durable, shared by every process)."""

    def __init__(self, checkpoints: CheckpointStore) -> None:
        self._cp = checkpoints
        self._locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)

    async def conversation_of(self, account: str, mail: Mail) -> str:
        """The chat_id a mail belongs to: the conversation of a Message-ID it names (its own first: a mail
        fetched again stays where it was), else of its subject tag, else the root its headers give."""
        for message_id in (mail.message_id, *referenced(mail)):
            chat_id = await self._cp.get(account, _key("msg", message_id))
            if chat_id:
                return chat_id
        tag = subject_tag(mail.subject)
        if tag:
            chat_id = await self._cp.get(account, f"tag:{tag}")
            if chat_id:
                return chat_id
        return root_of(mail)

    async def customer_wrote(self, account: str, chat_id: str, mail: Mail) -> None:
        """Remember a customer's mail: where answers go, what they reply to, how replies find the thread."""
        async with self._locks[(account, chat_id)]:
            before = await self.thread(account, chat_id)
            after = customer_wrote(before, chat_id, mail)
            if after != before:
                await self._save(account, after)
            if before is None:
                await self._cp.set(account, f"tag:{tag_of(chat_id)}", chat_id)
                await self._cp.set(account, _key("msg", chat_id), chat_id)
            await self._cp.set(account, _key("msg", mail.message_id), chat_id)

    async def we_sent(self, account: str, chat_id: str, message_id: str) -> None:
        """Remember our answer, so a reply naming only it (In-Reply-To) finds the conversation."""
        await self._cp.set(account, _key("msg", message_id), chat_id)
        async with self._locks[(account, chat_id)]:
            thread = await self.thread(account, chat_id)
            if thread is not None:
                await self._save(account, we_sent(thread, message_id))

    async def thread(self, account: str, chat_id: str) -> Thread | None:
        """A conversation's thread, or None when no customer mail of it was seen."""
        raw = await self._cp.get(account, _key("thread", chat_id))
        return Thread.from_json(orjson.loads(raw)) if raw else None

    async def _save(self, account: str, thread: Thread) -> None:
        await self._cp.set(account, _key("thread", thread.root), orjson.dumps(thread.to_json()).decode())

    async def stored_files(self, account: str, external_id: str) -> tuple[Attachment, ...] | None:
        """The files of a mail stored when it was first fetched, or None."""
        raw = await self._cp.get(account, _key("files", external_id))
        if raw is None:
            return None
        return tuple(Attachment(**item) for item in orjson.loads(raw))

    async def remember_files(self, account: str, external_id: str, files: tuple[Attachment, ...]) -> None:
        """Keep the stored files of a mail for the next time it is fetched."""
        value = [{"name": a.name, "mime": a.mime, "size": a.size, "ref": a.ref} for a in files]
        await self._cp.set(account, _key("files", external_id), orjson.dumps(value).decode())
