"""Outbound delivery: one bounded-retry policy with backoff for every channel, and the dispatcher that applies it."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from crm_core.ids import new_id
from queues.bus import INBOUND, Bus, conversation_key, in_process_listen, outbound_stream
from queues.messages import DeliveryStatus, Event, OutboundMessage, Receipt, SendResult, Typing
from router.app import log_events as ev
from router.app.clock import Clock
from router.app.logs import get
from router.protocol.times import iso

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
    """Consumes a channel's outbound stream: receipts go to the connector; messages are delivered with the
    policy, each chat's in order on a chain of its own, so one chat's retries (an SMTP server greylisting for
    minutes) never hold up another's.

    `group` is the consumer group: the shared "connectors" group delivers each message once; a web process
    uses a group of its own so that it sees every receipt (a webhook answer waits in that process) and, for
    the widget, every message (the visitor's socket may be open in that process). `deliver=False` handles
    receipts only, leaving the sending to the connectors process; `report=False` sends without publishing the
    delivery status (another consumer, in the shared group, reports it once); `deliver=False, report=True`
    reports a message sent without sending it (the widget: every web process pushes it to its own sockets);
    `receipts=False` leaves receipts to another consumer of the same process. A connector whose `immediate`
    is true (its send only pushes to this process's sockets) is sent to in the consume loop, without a task per
    message, unless a chain of that chat is still busy. A connector whose `delivered_on_commit` is true (the
    widget: a stored message is the visitor's, live or in their history) has its messages stored `sent` by the
    engine: only a failure is reported, so a reply crosses the engine once, not twice."""

    def __init__(
        self,
        channel: str,
        connector: Channel,
        bus: Bus,
        clock: Clock,
        policy: RetryPolicy,
        *,
        group: str = "connectors",
        deliver: bool = True,
        report: bool = True,
        receipts: bool = True,
        consumer: str | None = None,
    ) -> None:
        self.channel = channel
        self.connector = connector
        self.bus = bus
        self.clock = clock
        self.policy = policy
        self.group = group
        self.deliver = deliver
        self.report = report
        self.receipts = receipts
        self.consumer = consumer or channel  # unique per process when several processes share the group
        self.failures_only = bool(getattr(connector, "delivered_on_commit", False))
        self._chains: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._typing_tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """The consume loop (with the embedded bus, an immediate connector's events are handed over as they are
        published instead, without this task waking for each)."""
        listen = in_process_listen(self.bus) if getattr(self.connector, "immediate", False) else None
        try:
            if listen is not None:
                stop = listen(outbound_stream(self.channel), self.group, self._handle)
                try:
                    await asyncio.get_running_loop().create_future()  # until cancelled
                finally:
                    stop()
            else:
                async for batch in self.bus.consume(
                    outbound_stream(self.channel), self.group, self.consumer, max_wait=0
                ):
                    await self._handle([entry.event for entry in batch.entries])
                    # acked once queued on its chain: the stored `queued` state is the durable record until the
                    # DeliveryStatus is stored, and the engine sends what is still `queued` again at start
                    await batch.ack()
        finally:
            for task in list(self._chains.values()):
                task.cancel()

    async def _handle(self, events: list[Event]) -> None:
        """Receipts to the connector, typing to the customer, messages delivered (or queued on their chain)."""
        immediate = getattr(self.connector, "immediate", False)
        statuses: list[tuple[str, str | None, Event]] = []
        for event in events:
            if isinstance(event, Receipt) and self.receipts:
                await self.connector.on_receipt(event)
            elif isinstance(event, Typing):
                if self.deliver:
                    self._typing(event)
            elif not isinstance(event, OutboundMessage):
                continue
            elif not self.deliver:
                if self.report and not self._settled(event):  # another consumer sends it
                    statuses.append(self._status(event, SendResult(ok=True, external_id=event.message_id), 1))
            elif immediate and (event.account, event.chat_id) not in self._chains:
                # a send that only pushes to sockets of this process: in the loop, no task of its own
                result, attempts = await deliver(self.connector, event, self.policy)
                if self.report and not (result.ok and self._settled(event)):
                    statuses.append(self._status(event, result, attempts))
            else:
                self._enqueue(event)
        if statuses:
            await self.bus.publish_many(statuses)

    async def idle(self) -> None:
        """Wait until every queued delivery is done (tests, graceful stop)."""
        while self._chains:
            await asyncio.gather(*list(self._chains.values()), return_exceptions=True)

    def _typing(self, event: Typing) -> None:
        """Show the customer that an operator is typing, if their channel can; at most once, never retried (a
        late indicator is worse than none), and never ahead of a message of the same chat still being sent."""
        show = getattr(self.connector, "typing", None)
        if show is None or (event.account, event.chat_id) in self._chains:
            return

        async def once() -> None:
            try:
                await show(event)
            except Exception as exc:
                log.debug(ev.OUTBOUND_TYPING_FAILED, channel=self.channel, error=str(exc))

        # a channel's API call in a task of its own: the loop goes on with the messages meanwhile
        task = asyncio.create_task(once(), name=f"typing.{self.channel}")
        self._typing_tasks.add(task)
        task.add_done_callback(self._typing_tasks.discard)

    def _enqueue(self, msg: OutboundMessage) -> None:
        key = (msg.account, msg.chat_id)
        task = asyncio.create_task(self._after(self._chains.get(key), msg), name=f"deliver.{self.channel}")
        self._chains[key] = task

        def forget(done: asyncio.Task[None], key: tuple[str, str] = key) -> None:
            if self._chains.get(key) is done:
                del self._chains[key]

        task.add_done_callback(forget)

    async def _after(self, before: asyncio.Task[None] | None, msg: OutboundMessage) -> None:
        if before is not None:
            with contextlib.suppress(Exception):
                await before
        result, attempts = await deliver(self.connector, msg, self.policy)
        if self.report and not (result.ok and self._settled(msg)):
            await self.bus.publish_many([self._status(msg, result, attempts)])

    def _settled(self, msg: OutboundMessage) -> bool:
        """Whether the engine stored the message `sent` already (router/engine/staging.py, `_delivery_columns`)."""
        return self.failures_only and not msg.attachments

    def _status(
        self, msg: OutboundMessage, result: SendResult, attempts: int
    ) -> tuple[str, str | None, Event]:
        """The delivery status to publish for a message (on its conversation's partition)."""
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
            "sent" if result.ok else "failed",
            attempts,
            iso(self.clock.now()) or "",
            None if result.ok else (result.error or "unknown error"),
            result.external_id,
        )
        return INBOUND, conversation_key(msg.channel, msg.account, msg.chat_id), status


def policy_for(connector: object) -> RetryPolicy:
    """The connector's own retry policy (`retry_policy`, e.g. longer for mail), or the shared default."""
    custom = getattr(connector, "retry_policy", None)
    return custom if isinstance(custom, RetryPolicy) else RetryPolicy(**(custom or {}))
