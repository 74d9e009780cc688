"""The dispatcher: one chat's retries never hold up another chat; each chat's messages stay in order."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from queues.bus import INBOUND, outbound_stream
from queues.memory import MemoryBus
from queues.messages import DeliveryStatus, OutboundMessage, Receipt, SendResult
from router.app.clock import SystemClock
from router.engine.delivery import Dispatcher, RetryPolicy, policy_for


def out(message_id: str, chat: str) -> OutboundMessage:
    return OutboundMessage(f"e-{message_id}", message_id, "d", "email", "support", chat, "hi", "t")


class GreylistingServer:
    """Answers 4xx for chat `slow` twice, then accepts; everyone else at once."""

    retry_policy: ClassVar[dict[str, float]] = {"max_attempts": 5, "base_delay": 0.3, "max_delay": 1.0}

    def __init__(self) -> None:
        self.tries: dict[str, int] = {}
        self.order: list[str] = []

    async def send(self, msg: OutboundMessage) -> SendResult:
        n = self.tries[msg.message_id] = self.tries.get(msg.message_id, 0) + 1
        if msg.chat_id == "slow" and msg.message_id == "s1" and n < 3:
            return SendResult(ok=False, error="451 4.7.1 greylisted", retryable=True)
        self.order.append(msg.message_id)
        return SendResult(ok=True, external_id=msg.message_id)

    async def on_receipt(self, receipt: Receipt) -> None:
        pass


async def test_a_retrying_chat_does_not_hold_up_the_others_and_each_chat_keeps_its_order():
    bus, server = MemoryBus(), GreylistingServer()
    policy = policy_for(server)
    assert (policy.max_attempts, policy.base_delay) == (5, 0.3)
    dispatcher = Dispatcher(
        "email", server, bus, SystemClock(), RetryPolicy(**server.retry_policy, jitter=0.0)
    )
    task = asyncio.create_task(dispatcher.run())
    await bus.publish(outbound_stream("email"), [out("s1", "slow"), out("s2", "slow"), out("f1", "fast")])
    statuses: list[DeliveryStatus] = []
    async with asyncio.timeout(5):
        async for batch in bus.consume(INBOUND, "test", "t"):
            statuses += [e.event for e in batch.entries if isinstance(e.event, DeliveryStatus)]
            await batch.ack()
            if len(statuses) == 3:
                break
    assert [s.message_id for s in statuses] == ["f1", "s1", "s2"]  # fast first; the slow chat in its order
    assert [s.state for s in statuses] == ["sent", "sent", "sent"]
    assert statuses[1].attempts == 3
    assert server.order == ["f1", "s1", "s2"]
    task.cancel()
    await bus.close()


def test_connectors_without_a_policy_get_the_shared_default():
    assert policy_for(object()) == RetryPolicy()
