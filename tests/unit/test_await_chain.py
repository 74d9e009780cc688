"""The test helper that says where a stuck task waits reaches through async generators and shields."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tests.await_chain import await_chain


async def test_the_chain_reaches_a_shielded_cleanup_in_an_async_generator() -> None:
    gate = asyncio.Event()

    async def renew_forever() -> None:
        await gate.wait()

    async def batches() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.sleep(3600)
            yield 2
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(asyncio.ensure_future(renew_forever()))

    async def consume() -> None:
        async for _ in batches():
            pass

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.sleep(0.01)
    chain = "\n".join(await_chain(task))
    assert "in consume" in chain and "in batches" in chain
    assert "which shields" in chain and "in renew_forever" in chain
    gate.set()
    with contextlib.suppress(asyncio.CancelledError):
        await task
