"""Which failures are outages to wait out rather than bad events, and the engine's loops that must not die silently."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from queues.redis_client import end_tasks as redis_end_tasks
from router.app import log_events as ev
from router.app.logs import get

log = get(__name__)


class LostPartition(Exception):
    """The batch's partition moved to another worker (this one stalled past its lease)."""


def transient(exc: BaseException) -> bool:
    """An outage of Redis or the database rather than a bad event: retry, never dead-letter."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OSError | TimeoutError | RedisConnectionError | OperationalError | InterfaceError)


def cancelling() -> bool:
    """Whether this task is being cancelled (redis-py can surface a cancellation as a TimeoutError)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def end_tasks(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel background loops and wait for them, a bounded time (`queues.redis_client.end_tasks`): a stop goes on
    without one that swallowed its cancellation again and again, and says so."""
    stuck = await redis_end_tasks(tasks, tries=3, wait=2.0)
    if stuck:
        log.warning(ev.TASKS_STUCK, tasks=sorted(t.get_name() for t in stuck))


async def logged(loop: Coroutine[Any, Any, None], name: str) -> None:
    """Run a background loop; a crash is logged before it propagates."""
    # a background loop that dies silently would stop routing without a trace
    try:
        await loop
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception(ev.LOOP_CRASHED, loop=name)
        raise
