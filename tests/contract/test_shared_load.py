"""The SharedLoad contract: the memory twin and the Redis backend pass the same suite.

The races are run for real on Redis: two RedisSharedLoad instances (two clients, two connection pools) hammer
the same keys through asyncio.gather, as two router workers would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from router.cluster.memory_load import MemorySharedLoad
from router.cluster.redis_load import RedisSharedLoad
from router.cluster.shared_load import WAITING_WINDOW, Hold, SharedLoad
from router.rules.fairness import Waiting
from tests.redis_server import redis_cluster, redis_cluster_url, redis_server, redis_url  # noqa: F401  (fixtures)

T0 = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
TIMEOUT = 5.0


@dataclass
class Backend:
    """Two handles on one shared load (two workers); for memory both are the same object."""

    name: str
    a: SharedLoad
    b: SharedLoad
    url: str | None = None


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        mem = MemorySharedLoad()
        yield Backend("memory", mem, mem)
        await mem.close()
        return
    cluster = request.param == "redis-cluster"
    url = request.getfixturevalue("redis_cluster_url" if cluster else "redis_url")
    a, b = RedisSharedLoad(url, cluster=cluster), RedisSharedLoad(url, cluster=cluster)
    try:
        yield Backend(request.param, a, b, url)
    finally:
        await asyncio.wait_for(a.close(), TIMEOUT)
        await asyncio.wait_for(b.close(), TIMEOUT)


@pytest.fixture
def store(backend: Backend) -> SharedLoad:
    return backend.a


def offered(login: str, dialog: str) -> Hold:
    return Hold(login, dialog, "offered")


def assigned(login: str, dialog: str) -> Hold:
    return Hold(login, dialog, "assigned")


async def test_capacity_is_never_exceeded_by_concurrent_reserves(backend: Backend) -> None:
    attempts = []
    for i in range(60):
        hold = Hold("anna", f"d{i}", "offered" if i % 2 else "assigned")
        attempts.append((backend.a if i % 2 else backend.b).reserve(hold, 5, T0 + timedelta(seconds=i)))
    results = await asyncio.gather(*attempts)
    assert sum(results) == 5
    load = await backend.a.load(["anna"])
    assert load.assigned["anna"] + load.offered["anna"] == 5
    assert len(await backend.b.holds(["anna"])) == 5
    # still full: one more new dialog is refused
    assert not await backend.b.reserve(offered("anna", "late"), 5, T0)


async def test_rereserve_ignores_limit_and_changes_kind(store: SharedLoad) -> None:
    assert await store.reserve(offered("anna", "d1"), 2, T0)
    assert await store.reserve(assigned("anna", "d2"), 2, T0)
    assert not await store.reserve(offered("anna", "d3"), 2, T0)
    # full, but d1 is already held: the accepted offer keeps its slot
    assert await store.reserve(assigned("anna", "d1"), 2, T0 + timedelta(seconds=1))
    load = await store.load(["anna"])
    assert (load.assigned["anna"], load.offered["anna"]) == (2, 0)
    # even with a limit lowered below the current count
    assert await store.reserve(offered("anna", "d2"), 0, T0)
    load = await store.load(["anna"])
    assert (load.assigned["anna"], load.offered["anna"]) == (1, 1)


async def test_limit_none_never_refuses(store: SharedLoad) -> None:
    results = [await store.reserve(assigned("anna", f"d{i}"), None, T0) for i in range(50)]
    assert all(results)
    assert (await store.load(["anna"])).assigned["anna"] == 50


async def test_limit_zero_refuses_new(store: SharedLoad) -> None:
    assert not await store.reserve(offered("anna", "d1"), 0, T0)
    assert (await store.load(["anna"])).offered["anna"] == 0


async def test_release_removes_only_matching_kind_and_bumps_epoch(store: SharedLoad) -> None:
    assert await store.reserve(offered("anna", "d1"), 3, T0)
    assert await store.reserve(assigned("anna", "d1"), 3, T0)  # the offer was accepted
    assert await store.reserve(offered("anna", "d2"), 3, T0)
    e0 = await store.epoch()

    await store.release([offered("anna", "d1")])  # late release of the old offer: a no-op
    load = await store.load(["anna"])
    assert (load.assigned["anna"], load.offered["anna"]) == (1, 1)
    assert await store.epoch() == e0

    await store.release([offered("bob", "d9"), assigned("anna", "x")])  # nothing held: no-op
    assert await store.epoch() == e0

    await store.release([assigned("anna", "d1"), offered("anna", "d2"), offered("bob", "d9")])
    load = await store.load(["anna"])
    assert (load.assigned["anna"], load.offered["anna"]) == (0, 0)
    assert await store.epoch() == e0 + 1  # once per call, not per hold

    await store.release([])
    assert await store.epoch() == e0 + 1


async def test_release_frees_capacity(store: SharedLoad) -> None:
    assert await store.reserve(assigned("anna", "d1"), 1, T0)
    assert not await store.reserve(assigned("anna", "d2"), 1, T0)
    await store.release([assigned("anna", "d1")])
    assert await store.reserve(assigned("anna", "d2"), 1, T0)


async def test_presence_is_visible_and_bumps_epoch(backend: Backend) -> None:
    assert await backend.a.epoch() == 0
    await backend.a.set_presence("anna", "online")
    await backend.a.set_presence("bob", "away")
    assert await backend.b.epoch() == 2
    load = await backend.b.load(["anna", "bob", "carl"])
    assert load.presence == {"anna": "online", "bob": "away", "carl": "offline"}
    assert load.assigned == {"anna": 0, "bob": 0, "carl": 0}
    assert load.offered == {"anna": 0, "bob": 0, "carl": 0}
    assert load.last_offered_at == {}
    await backend.b.set_presence("anna", "offline")
    assert (await backend.a.load(["anna"])).presence == {"anna": "offline"}
    assert await backend.a.epoch() == 3


async def test_load_of_nobody_is_empty(store: SharedLoad) -> None:
    load = await store.load([])
    assert (load.presence, load.assigned, load.offered, load.last_offered_at) == ({}, {}, {}, {})


async def test_waiting_order_is_shared_oldest_first_per_line(backend: Backend) -> None:
    t1, t2 = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)
    # two workers put their own dialogs in; the same time breaks ties by dialog id
    await backend.a.set_waiting([Waiting(t2, "d-late", "support"), Waiting(t1, "d-b", "support")], [])
    await backend.b.set_waiting([Waiting(t1, "d-a", "support"), Waiting(T0, "d-sales", "sales")], [])
    load = await backend.b.load([], ["support", "sales", "empty"])
    assert load.waiting == {
        "support": [
            Waiting(t1, "d-a", "support"),
            Waiting(t1, "d-b", "support"),
            Waiting(t2, "d-late", "support"),
        ],
        "sales": [Waiting(T0, "d-sales", "sales")],
        "empty": [],
    }
    assert all(w.since.tzinfo is not None for w in load.waiting["support"])
    # again (a resync) changes nothing; taking one out leaves the rest
    await backend.a.set_waiting([Waiting(t2, "d-late", "support")], [Waiting(t1, "d-a", "support")])
    got = (await backend.a.load([], ["support"])).waiting["support"]
    assert [w.dialog_id for w in got] == ["d-b", "d-late"]
    assert (await backend.a.load(["anna"])).waiting == {}  # only the lines asked for


async def test_waiting_order_reads_the_oldest_window(store: SharedLoad) -> None:
    entries = [Waiting(T0 + timedelta(seconds=i), f"d{i:04d}", "support") for i in range(WAITING_WINDOW + 5)]
    await store.set_waiting(reversed(entries), [])
    assert (await store.load([], ["support"])).waiting["support"] == entries[:WAITING_WINDOW]


async def test_load_names_the_dialogs_that_hold_a_slot(store: SharedLoad) -> None:
    assert await store.reserve(offered("anna", "d1"), None, T0)
    assert await store.reserve(assigned("bob", "d2"), None, T0)
    assert await store.reserve(assigned("carl", "d3"), None, T0)
    assert (await store.load(["anna", "bob"])).placed == {"d1", "d2"}
    await store.release([offered("anna", "d1")])
    assert (await store.load(["anna", "bob"])).placed == {"d2"}


TTL = timedelta(seconds=30)


async def test_an_operator_is_online_while_any_web_process_has_a_tab(backend: Backend) -> None:
    p1 = await backend.a.tab("anna", "web-1", True, None, T0, TTL)
    p2 = await backend.b.tab("anna", "web-2", True, None, T0, TTL)
    assert (p1.status, p2.status) == ("online", "online")
    p3 = await backend.a.tab("anna", "web-1", False, None, T0, TTL)
    assert p3.status == "online"  # her tab on web-2 is still open
    p4 = await backend.b.tab("anna", "web-2", False, None, T0, TTL)
    assert p4.status == "offline"
    assert p1.seq < p2.seq < p3.seq < p4.seq  # every change is numbered
    again = await backend.b.tab("anna", "web-2", False, None, T0, TTL)
    assert again == p4  # nothing changed: same number
    assert (await backend.a.tab("boris", "web-1", False, None, T0, TTL)).status == "offline"


async def test_a_chosen_status_holds_for_every_tab(backend: Backend) -> None:
    await backend.a.tab("anna", "web-1", True, None, T0, TTL)
    away = await backend.a.tab("anna", "web-1", True, "away", T0, TTL)
    assert away.status == "away"
    assert (await backend.b.tab("anna", "web-2", True, None, T0, TTL)).status == "away"  # a new tab elsewhere
    assert (await backend.b.tab("anna", "web-2", True, "online", T0, TTL)).status == "online"
    assert (await backend.a.tab("anna", "web-1", False, None, T0, TTL)).status == "online"


async def test_tabs_of_a_process_that_stopped_renewing_expire(backend: Backend) -> None:
    short = timedelta(seconds=10)
    await backend.a.tab("anna", "web-1", True, None, T0, short)
    await backend.b.tab("boris", "web-2", True, None, T0, short)
    await backend.b.tab("vera", "web-2", True, None, T0, TTL)
    await backend.b.renew_tabs(["boris"], "web-2", T0 + timedelta(seconds=8), short)  # web-2 lives on
    assert await backend.a.expire_tabs(["anna", "boris", "vera", "gleb"], T0 + timedelta(seconds=5)) == []
    gone = await backend.a.expire_tabs(["anna", "boris", "vera", "gleb"], T0 + timedelta(seconds=12))
    assert [(p.login, p.status) for p in gone] == [("anna", "offline")]  # web-1 died and never renewed
    assert await backend.b.expire_tabs(["anna"], T0 + timedelta(seconds=13)) == []  # reported once
    later = await backend.b.tab("anna", "web-3", True, None, T0 + timedelta(seconds=14), short)
    assert later.status == "online" and later.seq > gone[0].seq


async def test_last_offered_at_set_by_offer_only(store: SharedLoad) -> None:
    assert await store.reserve(assigned("anna", "d1"), None, T0)
    assert (await store.load(["anna"])).last_offered_at == {}

    t1 = T0 + timedelta(minutes=1)
    assert await store.reserve(offered("anna", "d2"), None, t1)
    assert await store.reserve(assigned("anna", "d2"), None, t1 + timedelta(minutes=1))  # accepting: no offer
    load = await store.load(["anna", "bob"])
    assert load.last_offered_at == {"anna": t1}
    assert load.last_offered_at["anna"].tzinfo is not None

    # a refused offer is no offer
    assert not await store.reserve(offered("anna", "d3"), 2, t1 + timedelta(minutes=5))
    assert (await store.load(["anna"])).last_offered_at == {"anna": t1}


async def test_holds_lists_every_hold_with_reserve_time(store: SharedLoad) -> None:
    t1 = T0 + timedelta(seconds=30)
    assert await store.reserve(offered("anna", "d2"), None, T0)
    assert await store.reserve(assigned("anna", "d1"), None, T0)
    assert await store.reserve(assigned("bob", "d3"), None, T0)
    assert await store.reserve(assigned("anna", "d2"), None, t1)  # re-reserved: new time
    assert await store.reserve(assigned("carl", "d4"), None, T0)  # not asked for

    got = await store.holds(["anna", "bob", "nobody"])
    assert got == [
        (assigned("anna", "d1"), T0),
        (assigned("anna", "d2"), t1),
        (assigned("bob", "d3"), T0),
    ]
    assert all(when.tzinfo is not None for _, when in got)
    assert await store.holds([]) == []


async def test_naive_datetime_is_refused(store: SharedLoad) -> None:
    with pytest.raises(ValueError):
        await store.reserve(offered("anna", "d1"), None, datetime(2024, 1, 1))
    assert await store.holds(["anna"]) == []


async def test_redis_keys_carry_hash_tags(redis_url: str) -> None:  # noqa: F811  (fixture)
    store = RedisSharedLoad(redis_url)
    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert await store.reserve(offered("anna", "d1"), 5, T0)
        assert await raw.hgetall("openlines:op:{anna}:holds") == {
            "d1": f"offered|{int(T0.timestamp() * 1000)}"
        }
        assert await raw.exists("openlines:op:{anna}:last")
        # the reserve script's two keys share a Cluster slot
        assert key_slot(b"openlines:op:{anna}:holds") == key_slot(b"openlines:op:{anna}:last")
        await store.set_waiting([Waiting(T0, "d1", "support")], [])
        assert await raw.zrange("openlines:line:{support}:waiting", 0, -1, withscores=True) == [
            ("d1", float(int(T0.timestamp() * 1000)))
        ]
    finally:
        await raw.aclose()
        await store.close()
