"""The SQLite writer's thread runs calls in order and survives an idle task that raises."""

from __future__ import annotations

import asyncio

import pytest

from crm_core import writer_thread
from crm_core.writer_thread import WriterThread


async def test_calls_run_in_order_and_their_errors_reach_the_caller() -> None:
    thread = WriterThread("test-writer")
    seen: list[int] = []
    futures = [thread.run(seen.append, n) for n in range(50)]
    await asyncio.gather(*futures)
    assert seen == list(range(50))

    def fail() -> None:
        raise ValueError("no")

    try:
        await thread.run(fail)
    except ValueError as exc:
        assert str(exc) == "no"
    else:
        raise AssertionError("the error did not reach the caller")
    thread.stop()


async def test_an_idle_task_that_raises_does_not_end_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_thread, "IDLE_RETRY_S", 0.01)
    calls = 0

    def idle() -> float | None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RuntimeError("index broke")
        return None

    thread = WriterThread("test-writer", idle=idle)
    try:
        assert await thread.run(lambda: 1) == 1  # idle raises after it, and again after its retry wait
        for _ in range(100):
            if calls >= 3:
                break
            await asyncio.sleep(0.01)
        assert calls >= 3  # retried after the failure
        assert await asyncio.wait_for(thread.run(lambda: 2), 5) == 2  # still serving calls
    finally:
        thread.stop()
