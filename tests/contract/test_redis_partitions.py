"""What only the Redis bus has: partitions split between the consumers of a group by leases, takeover of a dead
consumer's partitions and pending entries, per-key order on a partition, and trimming that keeps what a group
still needs. Runs against a real redis-server (tests/redis_server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from queues.bus import Entry
from queues.messages import OperatorPresence
from queues.redis_streams import RedisBus, lease_key, members_key, partition_of, stream_key
from tests.redis_server import redis_cluster, redis_cluster_url, redis_server, redis_url  # noqa: F401  (fixtures)

P = 8
LEASE = 1.0  # seconds
# How long a test waits for something that must happen: a liveness bound, not a speed target (the takeover time
# is measured by `make bench`); generous because CI machines are shared and a loaded one stalls for seconds.
PATIENCE = 20.0
STREAM = "inbound"
GROUP = "router"

_seq = iter(range(1, 10**9))


def ev(key: str = "") -> OperatorPresence:
    return OperatorPresence(event_id=f"{key}#{next(_seq)}", operator="anna", status="online", ts="t")


def partition(entry: Entry) -> int:
    return int(entry.id.split("/", 1)[0])


class Url(str):
    """A Redis URL that knows whether it names a node of a Redis Cluster."""

    cluster = False


class ClusterUrl(Url):
    cluster = True


def raw_client(url: str) -> Any:
    return (
        aioredis.RedisCluster.from_url(url)
        if getattr(url, "cluster", False)
        else aioredis.Redis.from_url(url)
    )


# every test with `buses` runs on one Redis and on a three-primary Redis Cluster (partitions on several nodes)
@pytest.fixture(params=["redis", "redis-cluster"])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[list[RedisBus]]:
    if request.param == "redis":
        url: Url = Url(request.getfixturevalue("redis_url"))
    else:
        url = ClusterUrl(request.getfixturevalue("redis_cluster_url"))
    request.node.redis = url
    made: list[RedisBus] = []

    def make() -> RedisBus:
        b = RedisBus(url, stream_partitions={STREAM: P}, lease_time=LEASE, cluster=url.cluster)
        made.append(b)
        return b

    request.node.make_bus = make
    yield made
    for b in made:
        await asyncio.wait_for(b.close(), 5)


def new_bus(request: pytest.FixtureRequest) -> RedisBus:
    bus: RedisBus = request.node.make_bus()
    return bus


class Worker:
    """One consumer of the group in a task; acks each batch unless `ack` is False."""

    def __init__(self, bus: RedisBus, name: str, *, ack: bool = True, max_batch: int = 50) -> None:
        self.bus = bus
        self.ack = ack
        self.entries: list[Entry] = []
        self.it = bus.consume(STREAM, GROUP, name, max_batch=max_batch)
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self.it:
            self.entries += batch.entries
            if self.ack:
                await batch.ack()
            else:
                await asyncio.Event().wait()  # stuck on its first batch, never acks it (then dies)

    async def kill(self) -> None:
        """A crash: no ack, no lease renewal, nothing given back."""
        self.bus.abandon()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def lease_holders(url: str) -> dict[int, str]:
    client = raw_client(url)
    try:  # one GET each: the leases live in different slots
        values = [await client.get(lease_key(STREAM, p, GROUP)) for p in range(P)]
    finally:
        await client.aclose()
    return {p: v.decode().split(":")[0] for p, v in enumerate(values) if v is not None}


async def wait_until(check: Any, timeout: float) -> float:
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < timeout, "timed out"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def takeover_state(url: str, worker: Worker, expected: int) -> str:
    """What a stalled takeover looked like: the survivor's view, the leases, the members and every PEL."""
    client = raw_client(url)
    try:
        members = await client.zrange(members_key(STREAM, GROUP), 0, -1, withscores=True)
        pels = {p: await client.xpending(stream_key(STREAM, p), GROUP) for p in range(P)}
        lengths = {p: await client.xlen(stream_key(STREAM, p)) for p in range(P)}
    finally:
        await client.aclose()
    states = [
        {"owned": st.owned, "fresh": st.fresh, "release": st.to_release, "buffer": len(st.buffer)}
        for st in worker.bus._delivery.consumers
    ]
    return (
        f"got {len(worker.entries)} of {expected}; consumers {states}; task done {worker.task.done()}; "
        f"leases {await lease_holders(url)}; members {members}; lengths {lengths}; pending {pels}"
    )


async def split_evenly(url: str) -> dict[int, str]:
    async def even() -> bool:
        holders = await lease_holders(url)
        counts = [list(holders.values()).count(n) for n in ("a", "b")]
        return len(holders) == P and counts == [P // 2, P // 2]

    await wait_until(even, PATIENCE)
    return await lease_holders(url)


async def publish_keys(bus: RedisBus, keys: list[str], rounds: int) -> list[OperatorPresence]:
    sent = []
    for _ in range(rounds):
        for k in keys:
            events = [ev(k), ev(k)]
            await bus.publish(STREAM, events, key=k)
            sent += events
    return sent


async def test_two_consumers_split_the_partitions(
    buses: list[RedisBus], request: pytest.FixtureRequest
) -> None:
    url = request.node.redis
    a = Worker(new_bus(request), "a")
    b = Worker(new_bus(request), "b")
    holders = await split_evenly(url)
    keys = [f"k{i}" for i in range(40)]
    sent = await publish_keys(new_bus(request), keys, 3)

    async def all_in() -> bool:
        return len(a.entries) + len(b.entries) >= len(sent)

    await wait_until(all_in, PATIENCE)
    await asyncio.sleep(0.2)
    got = [e.event.event_id for e in a.entries + b.entries]  # type: ignore[attr-defined]
    assert sorted(got) == sorted(e.event_id for e in sent), "each event delivered to exactly one consumer"
    assert a.entries and b.entries
    assert {partition(e) for e in a.entries} <= {p for p, n in holders.items() if n == "a"}
    assert {partition(e) for e in b.entries} <= {p for p, n in holders.items() if n == "b"}
    # on a Cluster reads go partition by partition, each a blocking read: one still in flight on a partition its
    # consumer has just given up gets what is published there (Redis counts it delivered) but never hands it on,
    # and the new owner takes it with one more count (seen once in a loaded full run); elsewhere exactly once
    most = 2 if getattr(url, "cluster", False) else 1
    counts = [e.deliveries for e in a.entries + b.entries]
    assert all(1 <= n <= most for n in counts), counts


async def test_a_dead_consumers_partitions_and_pending_entries_are_taken_over(
    buses: list[RedisBus], request: pytest.FixtureRequest
) -> None:
    url = request.node.redis
    a = Worker(new_bus(request), "a", ack=False)
    b = Worker(new_bus(request), "b")
    holders = await split_evenly(url)
    a_parts = {p for p, n in holders.items() if n == "a"}
    keys = [f"k{i}" for i in range(40)]
    a_keys = [k for k in keys if partition_of(k, P) in a_parts]
    publisher = new_bus(request)
    sent = await publish_keys(publisher, a_keys, 1)

    async def a_has_a_batch() -> bool:
        return bool(a.entries)

    await wait_until(a_has_a_batch, PATIENCE)
    held = {e.event.event_id for e in a.entries}  # type: ignore[attr-defined]
    assert not b.entries
    await a.kill()
    later = await publish_keys(publisher, a_keys, 1)  # published to the dead consumer's partitions

    async def b_has_all() -> bool:
        return len(b.entries) >= len(sent) + len(later)

    try:
        await wait_until(b_has_all, PATIENCE)
    except AssertionError:  # rare on a loaded CI machine: say what state the bus was in
        raise AssertionError(await takeover_state(url, b, len(sent) + len(later))) from None
    assert set(await lease_holders(url)) == set(range(P))
    assert set((await lease_holders(url)).values()) == {"b"}
    got = [e.event.event_id for e in b.entries]  # type: ignore[attr-defined]
    assert sorted(got) == sorted(e.event_id for e in sent + later)
    redelivered = {e.event.event_id: e.deliveries for e in b.entries}  # type: ignore[attr-defined]
    # delivered again to b; a loaded machine that stalls `a` past its lease before the kill makes `a` take its
    # partitions back and re-read its own pending entries first, one more count (seen twice in full CI-like runs)
    assert all(2 <= redelivered[i] <= 3 for i in held), (
        "the dead consumer's unacked entries, delivered again",
        redelivered,
    )
    # on a Cluster the dead consumer also had a blocking read in flight per partition: what those got was
    # delivered to it (Redis counts it) though never handed to its worker, so it may count once more
    most = 2 if getattr(url, "cluster", False) else 1
    assert all(1 <= n <= most for i, n in redelivered.items() if i not in held), redelivered
    # per key, the dead consumer's pending entries came before the newer ones
    for k in a_keys:
        order = [e.event.event_id for e in b.entries if e.key == k]  # type: ignore[attr-defined]
        assert order == [e.event_id for e in sent + later if e.event_id.startswith(f"{k}#")]
    await asyncio.sleep(0.2)
    assert buses[1].pending_count(STREAM, GROUP) == 0


async def test_per_key_order_is_kept_within_a_partition(
    buses: list[RedisBus], request: pytest.FixtureRequest
) -> None:
    bus = new_bus(request)
    keys = [f"conv{i}" for i in range(12)]
    sent = await publish_keys(bus, keys, 5)
    w = Worker(bus, "solo", max_batch=7)

    async def done() -> bool:
        return len(w.entries) >= len(sent)

    await wait_until(done, PATIENCE)
    for k in keys:
        mine = [e for e in w.entries if e.key == k]
        assert [e.event.event_id for e in mine] == [
            e.event_id for e in sent if e.event_id.startswith(f"{k}#")
        ]  # type: ignore[attr-defined]
        assert {partition(e) for e in mine} == {partition_of(k, P)}


async def test_trim_never_drops_unread_or_pending_entries(redis_url: str) -> None:  # noqa: F811
    bus = RedisBus(redis_url)  # one partition
    raw = aioredis.Redis.from_url(redis_url)
    try:
        events = [ev("t") for _ in range(10)]
        # "done" acks everything, "slow" holds 3 unacked and has 4 unread, "idle" exists but read nothing yet
        done = bus.consume("s", "done", "c", max_batch=100)
        slow = bus.consume("s", "slow", "c", max_batch=3)
        idle = bus.consume("s", "idle", "c")
        for it in (done, slow, idle):
            task = asyncio.ensure_future(anext(it))
            await asyncio.sleep(0.05)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await task
        for it in (done, slow, idle):
            await it.aclose()
        done = bus.consume("s", "done", "c", max_batch=100)
        slow = bus.consume("s", "slow", "c", max_batch=3)
        for event in events:  # one publish per event: one stream entry each, so trimming is per event
            await bus.publish("s", [event])
        batch = await asyncio.wait_for(anext(done), 2)
        assert len(batch) == 10
        await batch.ack()
        b1 = await asyncio.wait_for(anext(slow), 2)
        await b1.ack()
        await asyncio.wait_for(anext(slow), 2)  # entries 4–6 pending, not acked

        assert await bus.trim("s") == 0, "the idle group has read nothing: everything stays"
        await raw.xgroup_destroy(stream_key("s", 0), "idle")
        assert await bus.trim("s") == 3, "only what every remaining group acked goes"
        assert await raw.xlen(stream_key("s", 0)) == 7

        again = await asyncio.wait_for(anext(slow), 2)  # not acked: redelivered, still readable
        assert [e.event for e in again.entries] == events[3:6]
        assert [e.deliveries for e in again.entries] == [2, 2, 2]
        await again.ack()
        rest: list[Entry] = []
        while len(rest) < 4:
            b = await asyncio.wait_for(anext(slow), 2)
            rest += b.entries
            await b.ack()
        assert [e.event for e in rest] == events[6:]
        assert await bus.trim("s") == 7
        assert await raw.xlen(stream_key("s", 0)) == 0
        await done.aclose()
        await slow.aclose()
    finally:
        await bus.close()
        await raw.aclose()


async def test_new_entries_of_a_partition_acquired_but_not_yet_claimed_are_not_read(
    buses: list[RedisBus], request: pytest.FixtureRequest
) -> None:
    # a partition can be acquired during any await of a consumer's step, after that step's claim: its new entries
    # must wait for the claim of the former owner's pending ones, or a conversation's order breaks
    from queues.redis_consumer import ConsumerState

    bus = new_bus(request)
    key0 = next(f"k{i}" for i in range(1000) if partition_of(f"k{i}", P) == 0)
    key1 = next(f"k{i}" for i in range(1000) if partition_of(f"k{i}", P) == 1)
    st = ConsumerState(STREAM, GROUP, "c", P)
    await bus._delivery.create_groups(st)
    await bus.publish(STREAM, [ev(key0)], key=key0)
    await bus.publish(STREAM, [ev(key1)], key=key1)
    st.owned, st.fresh = {0, 1}, {1}  # 1: acquired, its former owner's pending entries not claimed yet
    got = await bus._reader.read_new(st, 10)
    assert got is not None and [partition(e) for e in got] == [0]
    assert await bus._reader.read_more(st, 10) == []
    st.fresh.clear()  # claimed
    later = await bus._reader.read_new(st, 10)
    assert later is not None and [partition(e) for e in later] == [1]
    st.fresh = {0, 1}
    assert await bus._reader.read_new(st, 10) == []  # nothing readable: the step's caller claims next
