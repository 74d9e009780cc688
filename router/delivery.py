"""Outbound delivery: one bounded-retry policy with backoff for every channel, and the dispatcher that applies it."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from crm_core.ids import new_id
from queues.bus import INBOUND, Bus, conversation_key, outbound_stream
from queues.messages import DeliveryStatus, OutboundMessage, Receipt, SendResult
from router import log_events as ev
from router.clock import Clock, iso
from router.logs import get

log = get(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter, shared by every channel."""

    max_attempts: int = 5
    base_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.2  # +-20%: many failed sends must not retry in lockstep

    def delay(self, attempt: int, rand: float = 0.5) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based); `rand` in [0, 1) spreads retries."""
        raw = min(self.max_delay, self.base_delay * self.factor ** (attempt - 1))
        return raw * (1 - self.jitter + 2 * self.jitter * rand)

    def should_retry(self, result: SendResult, attempt: int) -> bool:
        """A retryable failure with attempts left."""
        return not result.ok and result.retryable and attempt < self.max_attempts


Sleep = Callable[[float], Awaitable[None]]


class Channel(Protocol):
    """What the dispatcher needs of a connector."""

    async def send(self, msg: OutboundMessage) -> SendResult:
        """Deliver a message to the customer."""
        ...

    async def on_receipt(self, receipt: Receipt) -> None:
        """Acknowledge a committed inbound event to the channel."""
        ...


async def deliver(
    connector: Channel, msg: OutboundMessage, policy: RetryPolicy, sleep: Sleep = asyncio.sleep
) -> tuple[SendResult, int]:
    """Send with retries; returns the final result and the number of attempts."""
    attempt = 0
    while True:
        attempt += 1
        try:
            result = await connector.send(msg)
        except Exception as exc:  # a connector bug or a network error is a retryable failure, not a crash
            result = SendResult(ok=False, error=f"{type(exc).__name__}: {exc}", retryable=True)
        if not policy.should_retry(result, attempt):
            return result, attempt
        await sleep(policy.delay(attempt, random.random()))


class Dispatcher:
    """Consumes a channel's outbound stream: receipts to the connector, messages delivered with the policy."""

    def __init__(self, channel: str, connector: Channel, bus: Bus, clock: Clock, policy: RetryPolicy) -> None:
        self.channel = channel
        self.connector = connector
        self.bus = bus
        self.clock = clock
        self.policy = policy

    async def run(self) -> None:
        """The consume loop."""
        async for batch in self.bus.consume(outbound_stream(self.channel), "connectors", self.channel):
            by_chat: dict[str, list[OutboundMessage]] = defaultdict(list)
            for entry in batch.entries:
                event = entry.event
                if isinstance(event, Receipt):
                    await self.connector.on_receipt(event)
                elif isinstance(event, OutboundMessage):
                    by_chat[event.chat_id].append(event)
            # chats in parallel, each chat's messages in order
            await asyncio.gather(*(self._chat(msgs) for msgs in by_chat.values()))
            await batch.ack()

    async def _chat(self, msgs: list[OutboundMessage]) -> None:
        for msg in msgs:
            result, attempts = await deliver(self.connector, msg, self.policy)
            state = "sent" if result.ok else "failed"
            if result.ok:
                log.debug(ev.OUTBOUND_SENT, channel=self.channel, dialog=msg.dialog_id, attempts=attempts)
            else:
                log.warning(
                    ev.OUTBOUND_FAILED,
                    channel=self.channel,
                    dialog=msg.dialog_id,
                    attempts=attempts,
                    error=result.error,
                )
            status = DeliveryStatus(
                new_id(),
                msg.message_id,
                msg.dialog_id,
                self.channel,
                state,
                attempts,
                iso(self.clock.now()) or "",
                None if result.ok else (result.error or "unknown error"),
                result.external_id,
            )
            await self.bus.publish(
                INBOUND, [status], key=conversation_key(msg.channel, msg.account, msg.chat_id)
            )
