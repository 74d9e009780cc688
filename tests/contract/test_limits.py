"""The Limits contract: the widget's message allowances in memory and shared through Redis (one Redis and a
Redis Cluster) pass the same suite. For Redis, `a` and `b` are two clients, as two web processes would be."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from connectors.ratelimit import Limits, MemoryLimits, Rate
from connectors.shared_limits import RedisLimits, bucket_key
from tests.redis_server import redis_cluster, redis_cluster_url, redis_server, redis_url  # noqa: F401  (fixtures)

T0 = 1_780_000_000.0  # wall-clock seconds, as the widget passes them
SLOW = Rate(1.0, 3)  # a token a second, three at once
FAST = Rate(10.0, 5)


@dataclass
class Backend:
    name: str
    a: Limits
    b: Limits
    url: str | None = None


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        mem = MemoryLimits()
        yield Backend("memory", mem, mem)
        return
    cluster = request.param == "redis-cluster"
    url = request.getfixturevalue("redis_cluster_url" if cluster else "redis_url")
    a, b = RedisLimits(url, cluster=cluster), RedisLimits(url, cluster=cluster)
    try:
        yield Backend(request.param, a, b, url)
    finally:
        await a.close()
        await b.close()


async def test_a_bucket_gives_its_burst_then_refuses_with_the_wait(backend: Backend) -> None:
    for _ in range(3):
        assert await backend.a.take([("v1", SLOW)], T0) == 0.0
    assert await backend.a.take([("v1", SLOW)], T0) == pytest.approx(1.0)
    assert await backend.a.take([("v1", SLOW)], T0 + 0.5) == pytest.approx(0.5)
    assert await backend.a.take([("v1", SLOW)], T0 + 1.0) == 0.0  # refilled one token
    assert await backend.a.take([("v2", SLOW)], T0) == 0.0  # another key: its own bucket


async def test_a_take_is_from_every_bucket_or_from_none(backend: Backend) -> None:
    for _ in range(3):
        assert await backend.a.take([("ip", SLOW)], T0) == 0.0
    # the address is spent: the visitor's bucket must not lose a token for a refused message
    for _ in range(5):
        assert await backend.a.take([("visitor", FAST), ("ip", SLOW)], T0) == pytest.approx(1.0)
    for _ in range(5):
        assert await backend.a.take([("visitor", FAST)], T0) == 0.0
    assert await backend.a.take([("visitor", FAST)], T0) == pytest.approx(0.1)


async def test_the_longest_wait_is_reported(backend: Backend) -> None:
    for _ in range(3):
        assert await backend.a.take([("slow", SLOW), ("fast", FAST)], T0) == 0.0
    assert await backend.a.take([("slow", SLOW), ("fast", FAST)], T0) == pytest.approx(1.0)


async def test_two_processes_share_one_allowance(backend: Backend) -> None:
    assert await backend.a.take([("v", SLOW)], T0) == 0.0
    assert await backend.b.take([("v", SLOW)], T0) == 0.0
    assert await backend.a.take([("v", SLOW)], T0) == 0.0
    assert await backend.b.take([("v", SLOW)], T0) == pytest.approx(1.0)
    # concurrent takes from both never spend more than the burst
    results = await asyncio.gather(
        *[(backend.a if i % 2 else backend.b).take([("w", FAST), ("ip", FAST)], T0) for i in range(40)]
    )
    assert sum(1 for w in results if w == 0.0) == 5


async def test_a_clock_behind_the_bucket_refills_nothing(backend: Backend) -> None:
    for _ in range(3):
        assert await backend.a.take([("v", SLOW)], T0 + 10) == 0.0
    # another process whose clock is a second behind: no token appears, and none is lost later
    assert await backend.b.take([("v", SLOW)], T0 + 9) == pytest.approx(1.0)
    assert await backend.a.take([("v", SLOW)], T0 + 11) == 0.0


@pytest.mark.parametrize("kind", ["redis", "redis-cluster"])
async def test_an_idle_bucket_expires_once_full_again(kind: str, request: pytest.FixtureRequest) -> None:
    # (the memory twin forgets full buckets on its sweep: tests/unit/test_ratelimit.py)
    cluster = kind == "redis-cluster"
    url = request.getfixturevalue("redis_cluster_url" if cluster else "redis_url")
    limits = RedisLimits(url, cluster=cluster)
    client = aioredis.RedisCluster.from_url(url) if cluster else aioredis.from_url(url)
    try:
        assert await limits.take([("v", SLOW)], T0) == 0.0
        ttl = await client.pttl(bucket_key("v"))
    finally:
        await client.aclose()
        await limits.close()
    assert 1000 < ttl <= 2000  # one token back after a second (plus a second's margin)
