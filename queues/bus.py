"""The Bus protocol: batch-shaped publish/consume with explicit ack and redelivery of what was not acked."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from queues.messages import Event

INBOUND = "inbound"
CONSOLE = "console"
# A group named "web-…" belongs to one process (a web process's console relay, its widget sockets): it starts at
# the stream's end rather than its beginning, and it is removed when its consumer stops (or, after a crash, by the
# periodic trim once its consumers have been idle for a while), so it never holds the stream's history.
PROCESS_GROUP_PREFIX = "web-"
DEAD_LETTERS_KEPT = 10_000  # the newest dead letters kept; older ones are dropped


def process_group(name: str) -> str:
    """A consumer group of this process only (every such group gets every event of the stream)."""
    return f"{PROCESS_GROUP_PREFIX}{name}-{os.getpid()}-{secrets.token_hex(3)}"


def conversation_key(channel: str, account: str, chat_id: str) -> str:
    """The bus key that keeps one conversation's events in order (and on one partition)."""
    return f"{channel}:{account}:{chat_id}"


Listen = Callable[[str, str, Callable[[list[Event]], Awaitable[None]]], Callable[[], None]]


def in_process_listen(bus: object) -> Listen | None:
    """The bus's `listen` when it hands events to consumers in this process without a task each (the memory
    bus, queues/memory.py), else None: consume as usual."""
    listen: Listen | None = getattr(bus, "listen", None)
    return listen


def outbound_stream(channel: str) -> str:
    """The logical stream a channel's connector consumes its outbound messages and receipts from."""
    return f"outbound.{channel}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One delivered event with its bus id and how many times it was delivered."""

    id: str
    event: Event
    key: str | None
    deliveries: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event given up on after repeated failures, kept with the error for an admin to look at."""

    id: str
    stream: str
    key: str | None
    event: Event
    error: str
    deliveries: int
    at: str  # ISO 8601, UTC


class Batch:
    """Events delivered together; `ack()` after their effects are committed, or they are delivered again."""

    def __init__(self, entries: list[Entry], ack: Callable[[list[Entry]], Awaitable[None]]) -> None:
        self.entries = entries
        self._ack = ack
        self.acked = False

    def __len__(self) -> int:
        return len(self.entries)

    async def ack(self) -> None:
        """Acknowledge every entry of the batch."""
        if not self.acked:
            self.acked = True
            await self._ack(self.entries)


class Bus(Protocol):
    """Logical streams: "inbound", "outbound.<channel>", "console"."""

    name: str
    # whether what was published outlives this process (a crash keeps it): only then does a publisher need a
    # transactional outbox to republish what it committed but had not yet published when it crashed
    durable: bool

    async def publish(self, stream: str, events: Sequence[Event], *, key: str | None = None) -> None:
        """Append events to a stream; `key` keeps one conversation's events in order."""
        ...

    async def publish_many(
        self, items: Sequence[tuple[str, str | None, Event]], encoded: Sequence[bytes] | None = None
    ) -> None:
        """Append each (stream, key, event) in order, as consecutive `publish` calls would, in one write;
        `encoded`, parallel to `items`: each event's `queues.messages.dumps`, when the caller has it."""
        ...

    def enqueue(
        self, items: Sequence[tuple[str, str | None, Event]], encoded: Sequence[bytes] | None = None
    ) -> asyncio.Future[None]:
        """Queue items as `publish_many` would and return at once (calls keep their order); the future is done
        once they are published. For a caller that must not wait a round trip per item, like a socket
        handler reading its next frame."""
        ...

    def consume(
        self, stream: str, group: str, consumer: str, *, max_batch: int = 100, max_wait: float = 0.002
    ) -> AsyncIterator[Batch]:
        """Yield batches for a consumer group; an unacked batch is redelivered."""
        ...

    async def dead_letter(self, stream: str, entry: Entry, error: str) -> None:
        """Keep an event that kept failing (then ack it as usual, so its partition moves on)."""
        ...

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead letters, newest first."""
        ...

    def owned(self, stream: str, group: str) -> frozenset[int] | None:
        """The partitions of `stream` this process's consumer of `group` holds now; None means all of them."""
        ...

    def partition(self, stream: str, key: str) -> int:
        """The partition a key's events go to."""
        ...

    async def close(self) -> None:
        """Stop every consumer."""
        ...
