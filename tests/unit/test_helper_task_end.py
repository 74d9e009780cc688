"""A Redis consumer's give-back ends its lease renewal, and does not hang on one that swallows cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
import structlog.testing

from queues import redis_delivery
from router.engine import faults


async def test_a_task_that_ends_when_cancelled_is_awaited() -> None:
    task = asyncio.ensure_future(asyncio.sleep(3600))
    await asyncio.sleep(0)
    await redis_delivery._end(task, "sleeper")
    assert task.cancelled()


async def test_a_task_that_swallows_cancellation_is_cancelled_again_then_left(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(redis_delivery, "RENEWER_WAIT_S", 0.05)
    swallowed = 0
    stop = False

    async def stubborn() -> None:
        nonlocal swallowed
        while not stop:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                swallowed += 1  # as redis-py may turn a cancellation into a TimeoutError that a loop catches

    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="queues.redis_streams"):
        await asyncio.wait_for(redis_delivery._end(task, "stubborn renewal"), 5)
    assert swallowed == redis_delivery.RENEWER_CANCELS
    assert "stubborn renewal did not end when cancelled" in caplog.text
    assert not task.done()
    stop = True
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.done()


async def test_a_task_that_ends_on_a_second_cancellation_is_awaited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_delivery, "RENEWER_WAIT_S", 0.05)

    async def once_stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        await asyncio.sleep(3600)

    task = asyncio.ensure_future(once_stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(redis_delivery._end(task, "renewal"), 5)
    assert task.cancelled()


async def test_a_stop_goes_on_without_a_loop_that_swallows_every_cancellation_and_names_it() -> None:
    """The daemon's stop once hung for good on a dispatcher whose Redis read swallowed its cancellation."""
    stop = asyncio.Event()

    async def stubborn() -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    polite = asyncio.create_task(asyncio.sleep(3600), name="polite")
    task = asyncio.create_task(stubborn(), name="dispatch.widget")
    await asyncio.sleep(0)
    with structlog.testing.capture_logs() as logs:
        await asyncio.wait_for(faults.end_tasks([polite, task]), 10)
    assert polite.cancelled() and not task.done()
    assert [(e["event"], e["tasks"]) for e in logs] == [("tasks.stuck", ["dispatch.widget"])]
    stop.set()
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.done()
