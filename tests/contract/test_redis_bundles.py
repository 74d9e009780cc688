"""What the Redis bus's bundles promise: one stream entry per partition per write, a bundle that spans batches
acked with its last event, and a consumer that ends after acking part of one leaving only the rest to the next.
Runs against a real redis-server (tests/redis_server.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from queues.bus import Batch
from queues.messages import OperatorPresence
from queues.redis_streams import BUNDLE_MAX, RedisBus, progress_key, stream_key
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)

TIMEOUT = 5.0
_seq = iter(range(1, 10**9))


def ev() -> OperatorPresence:
    return OperatorPresence(event_id=f"e{next(_seq)}", operator="anna", status="online", ts="t")


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Any]:  # noqa: F811
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def bus(redis_url: str) -> AsyncIterator[RedisBus]:  # noqa: F811
    b = RedisBus(redis_url, partitions=1, lease_time=1.0)
    yield b
    await asyncio.wait_for(b.close(), TIMEOUT)


async def next_batch(it: AsyncIterator[Batch]) -> Batch:
    return await asyncio.wait_for(anext(it), TIMEOUT)


async def pending_entries(raw: Any, group: str) -> int:
    return int((await raw.xpending(stream_key("s", 0), group))["pending"])


async def test_the_calls_of_one_turn_share_one_entry(bus: RedisBus, raw: Any) -> None:
    events = [ev() for _ in range(50)]
    await asyncio.gather(*(bus.publish("s", [e], key=f"k{i % 3}") for i, e in enumerate(events)))
    assert await raw.xlen(stream_key("s", 0)) == 1  # 50 publish calls, one XADD
    it = bus.consume("s", "g", "c1")
    batch = await next_batch(it)
    assert [e.event for e in batch.entries] == events
    assert [e.key for e in batch.entries] == [f"k{i % 3}" for i in range(50)]
    assert len({e.id for e in batch.entries}) == 50
    await batch.ack()
    assert await pending_entries(raw, "g") == 0
    await it.aclose()


async def test_a_bundle_is_capped(bus: RedisBus, raw: Any) -> None:
    await bus.publish("s", [ev() for _ in range(BUNDLE_MAX + 1)])
    assert await raw.xlen(stream_key("s", 0)) == 2


async def test_a_bundle_bigger_than_a_batch_is_acked_with_its_last_event(bus: RedisBus, raw: Any) -> None:
    events = [ev() for _ in range(7)]
    await bus.publish("s", events)
    it = bus.consume("s", "g", "c1", max_batch=3)
    got = []
    for size in (3, 3):
        batch = await next_batch(it)
        assert len(batch) == size
        got += batch.entries
        await batch.ack()
        assert await pending_entries(raw, "g") == 1, "the entry stays pending until its last event is acked"
    batch = await next_batch(it)
    got += batch.entries
    await batch.ack()
    assert [e.event for e in got] == events
    assert await pending_entries(raw, "g") == 0
    await it.aclose()


async def test_an_unacked_part_of_a_bundle_comes_again_and_the_acked_part_does_not(bus: RedisBus) -> None:
    events = [ev() for _ in range(6)]
    await bus.publish("s", events)
    it = bus.consume("s", "g", "c1", max_batch=2)
    first = await next_batch(it)
    await first.ack()
    await next_batch(it)  # events 2-3, not acked
    again = await next_batch(it)
    assert [e.event for e in again.entries] == events[2:4]
    assert all(e.deliveries == 2 for e in again.entries)
    await again.ack()
    rest = await next_batch(it)
    assert [e.event for e in rest.entries] == events[4:]
    await it.aclose()


async def test_a_consumer_that_ends_leaves_only_the_unacked_part_to_the_next(bus: RedisBus, raw: Any) -> None:
    events = [ev() for _ in range(5)]
    await bus.publish("s", events)
    first = bus.consume("s", "g", "c1", max_batch=2)
    batch = await next_batch(first)
    await batch.ack()
    await first.aclose()  # parks the entry with its progress
    assert await raw.hgetall(progress_key("s", 0, "g"))
    second = bus.consume("s", "g", "c2")
    batch = await next_batch(second)
    assert [e.event for e in batch.entries] == events[2:]
    await batch.ack()
    assert await pending_entries(raw, "g") == 0
    assert not await raw.hgetall(progress_key("s", 0, "g")), "the progress goes with the entry"
    await second.aclose()


async def test_a_crashed_consumer_leaves_the_whole_bundle_to_the_next(redis_url: str, raw: Any) -> None:  # noqa: F811
    # its progress lived in its memory: the next consumer gets every event again (at least once)
    crashed = RedisBus(redis_url, partitions=1, lease_time=1.0, claim_timeout=0.2)
    survivor = RedisBus(redis_url, partitions=1, lease_time=1.0, claim_timeout=0.2)
    try:
        events = [ev() for _ in range(4)]
        await crashed.publish("s", events)
        it = crashed.consume("s", "g", "c1", max_batch=2)
        batch = await next_batch(it)
        await batch.ack()
        crashed.abandon()
        other = survivor.consume("s", "g", "c2")
        got = await next_batch(other)
        assert [e.event for e in got.entries] == events
        assert all(e.deliveries == 2 for e in got.entries)
        await got.ack()
        assert await pending_entries(raw, "g") == 0
        await other.aclose()
    finally:
        await asyncio.wait_for(survivor.close(), TIMEOUT)
        await asyncio.wait_for(crashed.close(), TIMEOUT)
