"""The Bus contract: every backend passes the same suite. Add a backend to BACKENDS to run it here.

Also: every event type of queues/messages.py survives `dumps`/`loads` unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from queues import messages
from queues.bus import Batch, Bus, Entry
from queues.memory import MemoryBus
from queues.messages import (
    Attachment,
    ConsoleEvent,
    CustomerConsent,
    DeliveryStatus,
    DialogTimer,
    Event,
    InboundMessage,
    OperatorCommand,
    OperatorPresence,
    OutboundMessage,
    Receipt,
    SenderProfile,
)
from queues.redis_streams import RedisBus
from tests.redis_server import redis_cluster, redis_cluster_url, redis_server, redis_url  # noqa: F401  (fixtures)

TIMEOUT = 2.0  # nothing in this suite may wait longer than this
QUIET = 0.15  # how long "nothing more arrives" is watched for


async def _memory() -> MemoryBus:
    return MemoryBus()


async def _redis(url: str) -> RedisBus:
    return RedisBus(url, partitions=1, lease_time=1.0)


async def _redis_cluster(url: str) -> RedisBus:
    return RedisBus(url, partitions=1, lease_time=1.0, cluster=True)


# name → async factory; the Redis ones get the URL of a fresh test server or cluster (tests/redis_server.py)
BACKENDS: dict[str, Callable[..., Awaitable[Any]]] = {
    "memory": _memory,
    "redis": _redis,
    "redis-cluster": _redis_cluster,
}
URL_FIXTURES = {"redis": "redis_url", "redis-cluster": "redis_cluster_url"}


@pytest.fixture(params=sorted(BACKENDS))
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    fixture = URL_FIXTURES.get(request.param)
    args = [request.getfixturevalue(fixture)] if fixture else []
    b = await BACKENDS[request.param](*args)
    try:
        yield b
    finally:
        await asyncio.wait_for(b.close(), TIMEOUT)


_seq = iter(range(1, 10**9))


def ev(n: int | None = None) -> OperatorPresence:
    """A small event whose event_id tells which one it is."""
    return OperatorPresence(
        event_id=f"e{next(_seq) if n is None else n}",
        operator="anna",
        status="online",
        ts="2024-01-01T00:00:00Z",
    )


def ids(batch: Batch | list[Entry]) -> list[str]:
    entries = batch.entries if isinstance(batch, Batch) else batch
    return [e.event.event_id for e in entries]  # type: ignore[attr-defined]


async def next_batch(it: AsyncIterator[Batch]) -> Batch:
    return await asyncio.wait_for(anext(it), TIMEOUT)


async def nothing_more(it: AsyncIterator[Batch]) -> None:
    """Assert that no batch arrives within QUIET (this ends the iterator)."""
    with pytest.raises(asyncio.TimeoutError):
        batch = await asyncio.wait_for(anext(it), QUIET)
        pytest.fail(f"unexpected batch {ids(batch)}")


async def collect(it: AsyncIterator[Batch], count: int, *, ack: bool = True) -> list[Entry]:
    """Read batches until `count` entries came (acking each batch)."""
    got: list[Entry] = []
    async with asyncio.timeout(TIMEOUT):
        while len(got) < count:
            batch = await anext(it)
            got += batch.entries
            if ack:
                await batch.ack()
    return got


class Consumer:
    """Runs one consumer in a task and collects what it receives (acking each batch)."""

    def __init__(self, bus: Any, stream: str, group: str, name: str, *, max_batch: int = 100) -> None:
        self.it = bus.consume(stream, group, name, max_batch=max_batch)
        self.entries: list[Entry] = []
        self.batches: list[list[str]] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self.it:
            self.batches.append(ids(batch))
            self.entries += batch.entries
            await batch.ack()
            await asyncio.sleep(0)  # let a sibling consumer of the group take its share

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            while len(self.entries) < count:
                assert not self.task.done(), "the consumer ended early"
                await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.it.aclose()


async def settle() -> None:
    """Give freshly started consumers time to register their groups."""
    await asyncio.sleep(0.05)


# ---- publish / consume -----------------------------------------------------------------------------------


async def test_publish_then_consume_in_order(bus: Any) -> None:
    events = [ev() for _ in range(5)]
    more = [ev() for _ in range(3)]
    await bus.publish("s", events[:2], key="k1")
    await bus.publish("s", events[2:], key="k1")
    await bus.publish("s", more)
    it = bus.consume("s", "g", "c1")
    got = await collect(it, 8)
    await it.aclose()
    assert [e.event for e in got] == events + more
    assert [e.key for e in got] == ["k1"] * 5 + [None] * 3
    assert all(e.deliveries == 1 for e in got)
    assert len({e.id for e in got}) == 8, "bus ids are unique"


async def test_publish_many_keeps_each_stream_and_key_in_order(bus: Any) -> None:
    a, b, c = [ev() for _ in range(4)], [ev() for _ in range(3)], [ev() for _ in range(2)]
    # interleaved streams and keys, as one router batch emits them
    items = [("s", "k1", a[0]), ("t", None, c[0]), ("s", "k2", b[0]), ("s", "k1", a[1]), ("t", None, c[1])]
    items += [("s", "k2", b[1]), ("s", "k1", a[2]), ("s", "k2", b[2]), ("s", "k1", a[3])]
    await bus.publish_many(items)
    await bus.publish_many([])
    s, t = bus.consume("s", "g", "c1"), bus.consume("t", "g", "c1")
    got_s, got_t = await collect(s, 7), await collect(t, 2)
    await s.aclose()
    await t.aclose()
    assert [e.event for e in got_s if e.key == "k1"] == a
    assert [e.event for e in got_s if e.key == "k2"] == b
    assert [e.event for e in got_t] == c and [e.key for e in got_t] == [None, None]


async def test_concurrent_publishers_each_get_their_events_in_order(bus: Any) -> None:
    # many callers at once (a web process's sockets): every call's events arrive, each key in its order
    keys = [f"k{i}" for i in range(20)]
    sent = {k: [ev() for _ in range(10)] for k in keys}

    async def one(k: str) -> None:
        for e in sent[k]:
            await bus.publish("s", [e], key=k)

    await asyncio.gather(*(one(k) for k in keys))
    it = bus.consume("s", "g", "c1", max_batch=1000)
    got = await collect(it, 200)
    await it.aclose()
    for k in keys:
        assert [e.event for e in got if e.key == k] == sent[k]


async def test_events_keep_their_type_and_fields(bus: Any) -> None:
    event = InboundMessage(
        event_id="in-1",
        channel="widget",
        account="support",
        chat_id="v1",
        external_id="v1:m1",
        text="привет",
        ts="2024-01-01T00:00:00Z",
        sender=SenderProfile(display_name="Ivan", phone="+79123456789"),
        attachments=(Attachment(name="a.png", mime="image/png", size=3, ref="r1"),),
    )
    await bus.publish("s", [event], key="widget:support:v1")
    it = bus.consume("s", "g", "c1")
    (entry,) = await collect(it, 1)
    await it.aclose()
    assert entry.event == event
    assert type(entry.event) is InboundMessage
    assert entry.key == "widget:support:v1"


async def test_enqueue_returns_at_once_and_keeps_the_order_of_calls(bus: Any) -> None:
    events = [ev() for _ in range(6)]
    written = [bus.enqueue([("s", "k1", e)]) for e in events[:3]]  # no await between the calls
    written.append(bus.enqueue([("s", "k1", e) for e in events[3:]]))
    await asyncio.wait_for(asyncio.gather(*written), TIMEOUT)  # each future is done once published
    assert all(w.done() and w.exception() is None for w in written)
    got = await collect(bus.consume("s", "g", "c1"), 6)
    assert [e.event for e in got] == events
    assert {e.key for e in got} == {"k1"}


async def test_publish_many_with_the_events_already_encoded(bus: Any) -> None:
    events = [ev() for _ in range(3)]
    await bus.publish_many([("s", None, e) for e in events], [messages.dumps(e) for e in events])
    got = await collect(bus.consume("s", "g", "c1"), 3)
    assert [e.event for e in got] == events


async def test_batches_respect_max_batch(bus: Any) -> None:
    events = [ev() for _ in range(7)]
    await bus.publish("s", events)
    it = bus.consume("s", "g", "c1", max_batch=3)
    sizes: list[int] = []
    got: list[Entry] = []
    async with asyncio.timeout(TIMEOUT):
        while len(got) < 7:
            batch = await anext(it)
            assert 1 <= len(batch) <= 3
            sizes.append(len(batch))
            got += batch.entries
            await batch.ack()
    await it.aclose()
    assert [e.event for e in got] == events
    assert sum(sizes) == 7 and len(sizes) >= 3


async def test_max_batch_one(bus: Any) -> None:
    events = [ev() for _ in range(3)]
    await bus.publish("s", events)
    it = bus.consume("s", "g", "c1", max_batch=1)
    for expected in events:
        batch = await next_batch(it)
        assert [e.event for e in batch.entries] == [expected]
        await batch.ack()
    await it.aclose()


async def test_consumer_waits_for_events_published_later(bus: Any) -> None:
    it = bus.consume("s", "g", "c1")
    pending = asyncio.ensure_future(anext(it))
    await settle()
    assert not pending.done()
    event = ev()
    await bus.publish("s", [event])
    batch = await asyncio.wait_for(pending, TIMEOUT)
    assert [e.event for e in batch.entries] == [event]
    await batch.ack()
    await it.aclose()


async def test_streams_are_separate(bus: Any) -> None:
    a, b = ev(), ev()
    await bus.publish("inbound", [a])
    await bus.publish("outbound.widget", [b])
    it = bus.consume("outbound.widget", "g", "c1")
    got = await collect(it, 1)
    assert [e.event for e in got] == [b]
    await nothing_more(it)


# ---- groups --------------------------------------------------------------------------------------------


async def test_every_group_gets_every_event(bus: Any) -> None:
    a = Consumer(bus, "s", "router", "c1")
    b = Consumer(bus, "s", "audit", "c1")
    await settle()
    events = [ev() for _ in range(6)]
    await bus.publish("s", events[:3], key="k")
    await bus.publish("s", events[3:], key="k2")
    await a.wait_for(6)
    await b.wait_for(6)
    await asyncio.sleep(QUIET)
    assert [e.event for e in a.entries] == events
    assert [e.event for e in b.entries] == events
    await a.stop()
    await b.stop()


async def test_consumers_of_one_group_share_the_events(bus: Any) -> None:
    c1 = Consumer(bus, "s", "router", "c1", max_batch=2)
    c2 = Consumer(bus, "s", "router", "c2", max_batch=2)
    await settle()
    events = [ev() for _ in range(20)]
    for i in range(0, 20, 2):
        await bus.publish("s", events[i : i + 2], key=f"k{i}")
        await asyncio.sleep(0)
    async with asyncio.timeout(TIMEOUT):
        while True:
            if len(c1.entries) + len(c2.entries) >= 20:
                break
            await asyncio.sleep(0.005)
    await asyncio.sleep(QUIET)
    got = [e.event.event_id for e in c1.entries + c2.entries]  # type: ignore[attr-defined]
    assert sorted(got) == sorted(e.event_id for e in events), (
        "each event goes to exactly one consumer of the group"
    )
    await c1.stop()
    await c2.stop()


async def test_events_published_before_any_group_go_to_the_first_group(bus: Any) -> None:
    early = [ev() for _ in range(4)]
    await bus.publish("s", early, key="k")
    it = bus.consume("s", "first", "c1")
    got = await collect(it, 4)
    assert [e.event for e in got] == early
    later = ev()
    await bus.publish("s", [later])
    assert [e.event for e in await collect(it, 1)] == [later]
    await it.aclose()


# ---- ack and redelivery --------------------------------------------------------------------------------


async def test_unacked_batch_is_redelivered_on_the_next_read(bus: Any) -> None:
    events = [ev() for _ in range(3)]
    await bus.publish("s", events, key="k")
    it = bus.consume("s", "g", "c1", max_batch=10)
    first = await next_batch(it)
    assert ids(first) == [e.event_id for e in events]
    assert [e.deliveries for e in first.entries] == [1, 1, 1]
    # no ack: asking for the next batch gets the same entries again, counted as a second delivery
    second = await next_batch(it)
    assert [e.id for e in second.entries] == [e.id for e in first.entries]
    assert [e.event for e in second.entries] == events
    assert [e.deliveries for e in second.entries] == [2, 2, 2]
    third = await next_batch(it)
    assert [e.deliveries for e in third.entries] == [3, 3, 3]
    await third.ack()
    await nothing_more(it)


async def test_redelivered_entries_come_before_newer_ones(bus: Any) -> None:
    old = [ev() for _ in range(2)]
    await bus.publish("s", old)
    it = bus.consume("s", "g", "c1", max_batch=2)
    first = await next_batch(it)
    new = [ev() for _ in range(2)]
    await bus.publish("s", new)
    again = await next_batch(it)
    assert [e.event for e in again.entries] == old
    await again.ack()
    rest = await next_batch(it)
    assert [e.event for e in rest.entries] == new
    assert [e.deliveries for e in rest.entries] == [1, 1]
    assert first.entries[0].deliveries == 1
    await rest.ack()
    await it.aclose()


async def test_unacked_batch_goes_to_a_new_consumer_after_aclose(bus: Any) -> None:
    events = [ev() for _ in range(3)]
    await bus.publish("s", events)
    it = bus.consume("s", "g", "c1")
    first = await next_batch(it)
    assert len(first) == 3
    await it.aclose()  # the consumer went away without acking
    other = bus.consume("s", "g", "c2")
    batch = await next_batch(other)
    assert [e.event for e in batch.entries] == events
    assert [e.id for e in batch.entries] == [e.id for e in first.entries]
    assert [e.deliveries for e in batch.entries] == [2, 2, 2]
    await batch.ack()
    await nothing_more(other)


async def test_unacked_batch_goes_to_a_new_consumer_after_breaking_out(bus: Any) -> None:
    events = [ev() for _ in range(2)]
    await bus.publish("s", events)
    seen: list[Entry] = []
    async with contextlib.aclosing(bus.consume("s", "g", "c1")) as it, asyncio.timeout(TIMEOUT):
        async for batch in it:
            seen += batch.entries
            break  # e.g. the worker crashed while handling the batch
    assert [e.event for e in seen] == events
    other = bus.consume("s", "g", "c2")
    batch = await next_batch(other)
    assert [e.event for e in batch.entries] == events
    assert all(e.deliveries == 2 for e in batch.entries)
    await batch.ack()
    await other.aclose()


async def test_unacked_batch_goes_back_when_a_plain_async_for_is_left(bus: Any) -> None:
    events = [ev() for _ in range(2)]
    await bus.publish("s", events)

    async def worker() -> int:
        async for batch in bus.consume("s", "g", "c1"):
            return len(batch)  # leaves the loop; the dropped generator is closed by the event loop
        return 0

    assert await asyncio.wait_for(worker(), TIMEOUT) == 2
    other = bus.consume("s", "g", "c2")
    batch = await next_batch(other)
    assert [e.event for e in batch.entries] == events
    assert all(e.deliveries == 2 for e in batch.entries)
    await batch.ack()
    await other.aclose()


async def test_a_consumer_failing_mid_batch_leaves_the_batch_for_the_group(bus: Any) -> None:
    events = [ev() for _ in range(2)]
    await bus.publish("s", events)

    async def worker() -> None:
        async with contextlib.aclosing(bus.consume("s", "g", "c1")) as it:
            async for _batch in it:
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await asyncio.wait_for(worker(), TIMEOUT)
    other = bus.consume("s", "g", "c2")
    batch = await next_batch(other)
    assert [e.event for e in batch.entries] == events
    await batch.ack()
    await other.aclose()


async def test_acked_entries_are_never_redelivered(bus: Any) -> None:
    first_events = [ev() for _ in range(3)]
    await bus.publish("s", first_events)
    it = bus.consume("s", "g", "c1")
    first = await next_batch(it)
    await first.ack()
    await first.ack()  # a second ack is harmless
    later = ev()
    await bus.publish("s", [later])
    batch = await next_batch(it)
    assert [e.event for e in batch.entries] == [later]
    await batch.ack()
    await it.aclose()
    # nor to another consumer of the group after the first one left
    other = bus.consume("s", "g", "c2")
    await nothing_more(other)


async def test_a_late_ack_of_a_redelivered_batch_does_not_drop_the_redelivery(bus: Any) -> None:
    events = [ev() for _ in range(2)]
    await bus.publish("s", events)
    it = bus.consume("s", "g", "c1")
    stale = await next_batch(it)
    again = await next_batch(it)  # the stale batch was given back to the group
    await stale.ack()  # too late: must not ack the copies now in flight as `again`
    assert bus.pending_count("s", "g") == 2
    assert [e.event for e in again.entries] == events
    await again.ack()
    assert bus.pending_count("s", "g") == 0
    await nothing_more(it)


async def test_pending_count(bus: Any) -> None:
    await bus.publish("s", [ev() for _ in range(5)])
    it = bus.consume("s", "g", "c1", max_batch=3)
    batch = await next_batch(it)
    assert len(batch) == 3
    assert bus.pending_count("s", "g") == 3
    await batch.ack()
    assert bus.pending_count("s", "g") == 0
    batch = await next_batch(it)
    assert len(batch) == 2
    assert bus.pending_count("s", "g") == 2
    await it.aclose()  # given back to the group: not pending any more, ready for the next consumer
    assert bus.pending_count("s", "g") == 0
    other = bus.consume("s", "g", "c2")
    batch = await next_batch(other)
    assert len(batch) == 2
    assert bus.pending_count("s", "g") == 2
    await batch.ack()
    assert bus.pending_count("s", "g") == 0
    await other.aclose()


async def test_pending_is_per_group(bus: Any) -> None:
    a = bus.consume("s", "a", "c1")
    b = bus.consume("s", "b", "c1")
    ta = asyncio.ensure_future(anext(a))
    tb = asyncio.ensure_future(anext(b))
    await settle()
    await bus.publish("s", [ev(), ev()])
    batch_a = await asyncio.wait_for(ta, TIMEOUT)
    batch_b = await asyncio.wait_for(tb, TIMEOUT)
    await batch_a.ack()
    assert bus.pending_count("s", "a") == 0
    assert bus.pending_count("s", "b") == 2
    await batch_b.ack()
    assert bus.pending_count("s", "b") == 0
    await a.aclose()
    await b.aclose()


# ---- close ---------------------------------------------------------------------------------------------


async def test_close_ends_waiting_consumers(bus: Any) -> None:
    c1 = Consumer(bus, "s", "g", "c1")
    c2 = Consumer(bus, "s", "other", "c1")
    c3 = Consumer(bus, "t", "g", "c1")
    await settle()
    await bus.close()
    done = await asyncio.wait_for(asyncio.gather(c1.task, c2.task, c3.task), TIMEOUT)
    assert done == [None, None, None]


async def test_close_ends_a_consumer_holding_a_batch(bus: Any) -> None:
    await bus.publish("s", [ev()])
    it = bus.consume("s", "g", "c1")
    await next_batch(it)
    await bus.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(it), TIMEOUT)


async def test_close_ends_a_consumer_with_events_still_queued(bus: Any) -> None:
    await bus.publish("s", [ev() for _ in range(5)])
    it = bus.consume("s", "g", "c1", max_batch=1)
    batch = await next_batch(it)
    await batch.ack()
    await bus.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(it), TIMEOUT)


async def test_dead_letters_keep_the_event_its_error_and_deliveries_newest_first(bus: Any) -> None:
    assert await bus.dead_letters() == []
    await bus.publish("s", [ev(1), ev(2)], key="conv-1")
    it = bus.consume("s", "g", "c1")
    batch = await next_batch(it)
    first, second = batch.entries
    await bus.dead_letter("s", first, "ValueError: bad due date")
    await bus.dead_letter("s", second, "KeyError: 'x'" + "!" * 5000)
    await batch.ack()
    dead = await bus.dead_letters()
    assert [d.event for d in dead] == [second.event, first.event]
    assert dead[1].error == "ValueError: bad due date" and dead[1].stream == "s" and dead[1].key == "conv-1"
    assert dead[1].deliveries == first.deliveries == 1
    assert dead[0].error.startswith("KeyError: 'x'!!") and len(dead[0].error) == 4000  # kept, but bounded
    assert dead[0].at.endswith("+00:00") and dead[0].id != dead[1].id
    assert [d.event for d in await bus.dead_letters(limit=1)] == [second.event]
    assert bus.pending_count("s", "g") == 0
    await it.aclose()


def test_memory_bus_satisfies_the_protocol() -> None:
    bus: Bus = MemoryBus()  # a static check for mypy; at runtime: the methods exist with the protocol's names
    for name in ("publish", "consume", "close"):
        assert callable(getattr(bus, name))
    assert bus.name == "memory"


# ---- messages: JSON round trip -------------------------------------------------------------------------

PROFILE = SenderProfile(
    display_name="Иван Петров",
    first_name="Иван",
    last_name="Петров",
    username="ivan",
    language="ru",
    phone="+79123456789",
    email="ivan@example.com",
)
FILES = (
    Attachment(name="photo.jpg", mime="image/jpeg", size=12345, ref="tg:AgAD", url="https://x/1"),
    Attachment(name="doc.pdf"),
)

SAMPLES: list[Event] = [
    InboundMessage(
        event_id="e1",
        channel="telegram",
        account="bot1",
        chat_id="42",
        external_id="1001",
        text='Здравствуйте! 👋 "quotes" \\ and\nnewlines',
        ts="2024-05-01T10:00:00.000Z",
        sender=PROFILE,
        attachments=FILES,
        source_tag="utm=ads",
    ),
    InboundMessage(
        event_id="e1b",
        channel="widget",
        account="support",
        chat_id="v1",
        external_id="v1:c1",
        text="",
        ts="2024-05-01T10:00:00.000Z",
    ),
    OperatorCommand(
        event_id="e2",
        operator="anna",
        command="transfer",
        dialog_id="d1",
        ts="2024-05-01T10:00:01.000Z",
        client_msg_id="c1",
        text="over to you",
        visibility="internal",
        to_operator="boris",
        to_line="sales",
    ),
    OperatorCommand(event_id="e2b", operator="anna", command="take", dialog_id="d1", ts="t"),
    OperatorPresence(event_id="e3", operator="anna", status="away", ts="2024-05-01T10:00:02.000Z"),
    DialogTimer(event_id="e4", dialog_id="d1", timer="offer_expired", due="2024-05-01T10:01:00.000Z", ts="t"),
    OutboundMessage(
        event_id="e5",
        message_id="m1",
        dialog_id="d1",
        channel="vk",
        account="club1",
        chat_id="2000000001",
        text="Добрый день",
        ts="t",
        author_kind="auto",
        author_name="Acme",
        attachments=FILES,
    ),
    Receipt(
        event_id="e6",
        channel="email",
        account="support@acme",
        chat_id="c",
        external_id="<id@mail>",
        message_id=None,
        dialog_id=None,
        error="too_long",
    ),
    Receipt(
        event_id="e6b",
        channel="widget",
        account="a",
        chat_id="c",
        external_id="x",
        message_id="m",
        dialog_id="d",
    ),
    CustomerConsent(
        event_id="e9",
        channel="vk",
        account="club1",
        chat_id="42",
        allowed=False,
        ts="2026-11-23T10:00:00.000Z",
    ),
    messages.CustomerRating(
        event_id="e10",
        channel="telegram",
        account="bot",
        chat_id="42",
        dialog_id="d1",
        score=4,
        ts="2026-11-23T10:00:00.000Z",
        comment="Быстро & <b>вежливо</b>",
    ),
    DeliveryStatus(
        event_id="e8",
        message_id="m1",
        dialog_id="d1",
        channel="telegram",
        state="failed",
        attempts=5,
        ts="2026-11-23T10:00:00.000Z",
        error="403 Forbidden: bot was blocked by the user",
    ),
    ConsoleEvent(
        event_id="e7",
        recipients=("anna", "boris"),
        frame={"type": "offer", "dialog": {"id": "d1", "n": 3, "tags": ["a", "b"], "x": None, "ok": True}},
    ),
    messages.Typing(
        event_id="e8",
        channel="widget",
        account="support",
        chat_id="v1",
        who="operator",
        active=True,
        ts="2026-11-23T10:00:00.000Z",
        dialog_id="d1",
        name="Анна",
    ),
]


def _all_event_types() -> set[type]:
    out: set[type] = set()
    todo = [Event]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            # slots=True rebuilds each class: only the one the module exports is the real event type
            if getattr(messages, sub.__name__, None) is sub:
                out.add(sub)
    return out


def test_samples_cover_every_event_type() -> None:
    assert {type(s) for s in SAMPLES} == _all_event_types()
    assert set(messages._REGISTRY.values()) == _all_event_types()
    kinds = [cls.kind for cls in _all_event_types()]
    assert len(kinds) == len(set(kinds)), "every event type has its own kind"


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: f"{e.kind}:{e.event_id}")
def test_round_trip(event: Event) -> None:
    raw = messages.dumps(event)
    assert isinstance(raw, bytes)
    back = messages.loads(raw)
    assert type(back) is type(event)
    assert back == event
    assert messages.loads(raw.decode()) == event
    for f in dataclasses.fields(event):  # nested values come back as the same types, not dicts/lists
        assert type(getattr(back, f.name)) is type(getattr(event, f.name)), f.name
    if isinstance(back, InboundMessage | OutboundMessage):
        assert all(type(a) is Attachment for a in back.attachments)
    if isinstance(back, InboundMessage):
        assert type(back.sender) is SenderProfile


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: f"{e.kind}:{e.event_id}")
def test_encoded_form_carries_kind_and_version(event: Event) -> None:
    data = messages.to_dict(event)
    assert data["kind"] == event.kind
    assert data["v"] == event.version
    assert messages.from_dict(data) == event


def test_unknown_fields_are_ignored_so_newer_writers_stay_readable() -> None:
    event = SAMPLES[0]
    data = messages.to_dict(event)
    data["added_in_v2"] = {"x": 1}
    data["sender"]["added_in_v2"] = "y"
    data["attachments"][0]["added_in_v2"] = 2
    assert messages.from_dict(data) == event


def test_events_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SAMPLES[0].text = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("kind", ["memory", "redis"])  # a Cluster reads partition by partition: no lingering
@pytest.mark.parametrize("max_wait", [0.0, 0.3])
async def test_a_read_lingers_max_wait_for_more_events(
    kind: str, max_wait: float, request: pytest.FixtureRequest
) -> None:
    fixture = URL_FIXTURES.get(kind)
    b = await BACKENDS[kind](*([request.getfixturevalue(fixture)] if fixture else []))
    try:
        it = b.consume("s", "g", "c1", max_batch=10, max_wait=max_wait)
        first = asyncio.ensure_future(anext(it))
        await asyncio.sleep(0.1)  # the consumer waits for events
        await b.publish("s", [ev()])
        await asyncio.sleep(0.1)  # within the linger
        await b.publish("s", [ev(), ev()])
        batch = await asyncio.wait_for(first, TIMEOUT)
        # lingering: what came meanwhile is in the same batch; without, the first event comes alone
        assert len(batch.entries) == (3 if max_wait else 1)
        await batch.ack()
        if not max_wait:
            rest = await next_batch(it)
            assert len(rest.entries) == 2
            await rest.ack()
        await it.aclose()
    finally:
        await asyncio.wait_for(b.close(), TIMEOUT)
