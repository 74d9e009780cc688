"""The embedded bus's listeners (queues/memory.py `listen`): consumers in this process handed each published event
once, in order, without a task of their own; alongside consumer groups, with the backlog, a failing handler and
a stopped listener."""

from __future__ import annotations

import asyncio
import logging

import pytest

from queues.bus import in_process_listen
from queues.memory import MemoryBus
from queues.messages import Event, Typing
from queues.redis_streams import RedisBus


def ev(n: int) -> Typing:
    return Typing(f"e{n}", "widget", "main", "v1", "customer", True, "t")


async def settled() -> None:
    for _ in range(5):  # the hand-over task runs on the next turns of the loop
        await asyncio.sleep(0)


async def test_each_listener_gets_every_event_once_in_order_and_groups_still_get_theirs():
    bus = MemoryBus()
    got: dict[str, list[Event]] = {"a": [], "b": []}
    four = asyncio.Event()

    async def a(events: list[Event]) -> None:
        got["a"] += events

    async def b(events: list[Event]) -> None:
        await asyncio.sleep(0.01)  # a handler that waits holds up no publisher and loses nothing meanwhile
        got["b"] += events
        if len(got["b"]) == 4:
            four.set()

    bus.listen("s", "ga", a)
    bus.listen("s", "gb", b)
    it = bus.consume("s", "g", "c", max_wait=0)
    first = asyncio.create_task(anext(it))  # a consumer group reading alongside the listeners
    await settled()
    await bus.publish("s", [ev(1), ev(2)])
    bus.enqueue([("s", None, ev(3)), ("other", None, ev(99))])
    await bus.publish_many([("s", None, ev(4))])
    async with asyncio.timeout(5):
        await four.wait()
        batches = [await first]
        while sum(len(x) for x in batches) < 4:
            batches.append(await anext(it))
    await it.aclose()
    assert [e.event_id for e in got["a"]] == ["e1", "e2", "e3", "e4"]
    assert [e.event_id for e in got["b"]] == ["e1", "e2", "e3", "e4"]
    assert [e.event.event_id for x in batches for e in x.entries] == ["e1", "e2", "e3", "e4"]
    await bus.close()


async def test_a_listener_takes_the_backlog_published_before_it():
    bus = MemoryBus()
    await bus.publish("s", [ev(1)])
    got: list[Event] = []

    async def handler(events: list[Event]) -> None:
        got.extend(events)

    bus.listen("s", "g", handler)
    await settled()
    assert [e.event_id for e in got] == ["e1"]


async def test_a_failing_handler_loses_its_events_only_and_keeps_listening(caplog: pytest.LogCaptureFixture):
    bus = MemoryBus()
    good: list[Event] = []
    calls = 0

    async def flaky(events: list[Event]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("socket gone")

    async def steady(events: list[Event]) -> None:
        good.extend(events)

    bus.listen("s", "flaky", flaky)
    bus.listen("s", "steady", steady)
    with caplog.at_level(logging.ERROR, logger="queues.memory"):
        await bus.publish("s", [ev(1)])
        await settled()
        await bus.publish("s", [ev(2)])
        await settled()
    assert calls == 2
    assert [e.event_id for e in good] == ["e1", "e2"]
    assert "bus.listener.failed" in caplog.text and "socket gone" in caplog.text


async def test_a_stopped_listener_gets_nothing_more():
    bus = MemoryBus()
    got: list[Event] = []

    async def handler(events: list[Event]) -> None:
        got.extend(events)

    stop = bus.listen("s", "g", handler)
    await bus.publish("s", [ev(1)])
    stop()  # before the hand-over ran: what was waiting is dropped too
    await bus.publish("s", [ev(2)])
    await settled()
    assert got == []


def test_only_the_embedded_bus_hands_over_in_process():
    assert in_process_listen(MemoryBus()) is not None
    assert in_process_listen(RedisBus.__new__(RedisBus)) is None
