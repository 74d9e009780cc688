"""The Redis client of the bus (and of router/cluster/shared_load.py, connectors/shared_limits.py): a blocking connection
pool or a Redis Cluster client that discovers the cluster once, Lua scripts that run on both, and riding out an
outage (the errors it raises, pauses that end early when the bus closes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

POOL_SIZE = 256  # connections per process (a blocked XREADGROUP holds one)
POOL_WAIT = 10.0  # seconds a command waits for a free connection
# Redis away (restarting, a network cut): consumers wait and retry instead of ending
OUTAGE = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
)


def redis_client(url: str, *, cluster: bool = False) -> Any:
    """An asyncio client whose pool makes a burst of concurrent commands wait for a connection instead of
    failing with "Too many connections" (redis-py's default pool refuses past 100); with `cluster`, a Redis
    Cluster client (`url` names any node; the others are discovered) with POOL_SIZE connections per node."""
    if cluster:
        return _Cluster.from_url(url, max_connections=POOL_SIZE)
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE, timeout=POOL_WAIT)
    return aioredis.Redis(connection_pool=pool)


class _Cluster(aioredis.RedisCluster):
    """A Redis Cluster client that discovers the cluster once, before its first command or pipeline: redis-py
    8.1, given a burst of first commands, sends some to the wrong node (MOVED), then re-initialises and closes
    connections other commands are using ('NoneType' object has no attribute 'writelines')."""

    _discovered: asyncio.Future[Any] | None = None

    async def discovered(self) -> None:
        """Wait until the first discovery of the cluster's nodes and slots is done (started once)."""
        if self._discovered is None or (self._discovered.done() and self._discovered.exception()):
            self._discovered = asyncio.ensure_future(self.initialize())
        await asyncio.shield(self._discovered)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """As RedisCluster's, after the first discovery."""
        await self.discovered()
        return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        """As RedisCluster's, but its execute waits for the first discovery."""
        return _ClusterPipeline(self, transaction)  # type: ignore[abstract]


class _ClusterPipeline(ClusterPipeline):
    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        await cast(_Cluster, self.cluster_client).discovered()
        return await super().execute(*args, **kwargs)


async def run_script(client: Any, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """Run a registered Lua script, or queue it on a pipeline. On a Cluster client EVAL carries the script's
    text (tiny): a cluster pipeline cannot load a script that a node has not seen (NOSCRIPT at execute)."""
    if isinstance(client, ClusterPipeline):
        client.eval(script.script, len(keys), *keys, *args)  # queued (awaiting a cluster pipeline resets it)
        return None
    if isinstance(client, aioredis.RedisCluster):
        return await client.eval(script.script, len(keys), *keys, *args)
    return await script(keys=list(keys), args=list(args), client=client)


async def pause(closing: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less when `closing` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(closing.wait(), seconds)


async def end_tasks(
    tasks: Sequence[asyncio.Task[Any]], *, tries: int = 3, wait: float = 1.0
) -> list[asyncio.Task[Any]]:
    """Cancel tasks and wait for them to end, a bounded time; return those that did not. A stop must not hang on a
    task whose library call swallowed the cancellation (redis-py inside a read's own timeout can, and then resets
    the task's cancelling count, so `raise_if_cancelled` cannot see it): each try cancels what is left once more."""
    left = {t for t in tasks if not t.done()}
    for _ in range(tries):
        if not left:
            break
        for t in left:
            t.cancel()
        _, left = await asyncio.wait(left, timeout=wait)
    for t in tasks:
        if t.done() and not t.cancelled():
            t.exception()  # retrieved: asyncio does not warn about it (a crash was logged where it happened)
    return [t for t in tasks if t in left]


def raise_if_cancelled() -> None:
    """Raise CancelledError when the current task is being cancelled (a library call may have swallowed it)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError()
