"""The Bus protocol: batch-shaped publish/consume with explicit ack and redelivery of what was not acked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from queues.messages import Event

INBOUND = "inbound"
CONSOLE = "console"


def conversation_key(channel: str, account: str, chat_id: str) -> str:
    """The bus key that keeps one conversation's events in order (and on one partition)."""
    return f"{channel}:{account}:{chat_id}"


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

    async def publish(self, stream: str, events: Sequence[Event], *, key: str | None = None) -> None:
        """Append events to a stream; `key` keeps one conversation's events in order."""
        ...

    def consume(
        self, stream: str, group: str, consumer: str, *, max_batch: int = 100, max_wait: float = 0.002
    ) -> AsyncIterator[Batch]:
        """Yield batches for a consumer group; an unacked batch is redelivered."""
        ...

    async def close(self) -> None:
        """Stop every consumer."""
        ...
