"""Publishing on the Redis bus: events go to their key's partition and are written as a group commit.

`publish` picks the partition by crc32(key) % P, so one key's events stay in order on one partition; events
without a key go to one partition per `publish` call (and stream), round robin. Publishing is a group commit: the
XADDs of every call made while an earlier write is in flight go in the next MULTI/EXEC pipeline (one round trip
per turn, not per call; a blocked reader gets a turn's events together), the events of one partition in bundles
(queues/redis_bundles.py). `publish_many` takes (stream, key, event) triples, e.g. everything a router batch
emits, in one call. Acks ride along in the same MULTI/EXEC (`enqueue_commands`), except on a Cluster.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from queues.codec import dumps
from queues.messages import Event
from queues.redis_bundles import bundles
from queues.redis_keys import partition_of, stream_key

_WRITE_MAX = 2000  # entries per MULTI/EXEC of the group commit (more waits for the next round trip)


@dataclasses.dataclass
class _Queued:
    """What one call queued for the writer: events to XADD (bundled per stream key) or other commands (acks)."""

    writes: list[tuple[str, str | None, bytes]]
    commands: list[tuple[str, tuple[Any, ...]]]
    done: asyncio.Future[None]


class Publisher:
    """The group commit of a bus: what calls queue meanwhile is written in one round trip per turn."""

    def __init__(self, client: Any, *, cluster: bool, partitions_of: Callable[[str], int]) -> None:
        self._redis = client
        self._cluster = cluster
        self._partitions_of = partitions_of
        self._rr = itertools.count()
        self._queued: collections.deque[_Queued] = collections.deque()
        self._writer: asyncio.Task[None] | None = None

    def enqueue(
        self, items: Sequence[tuple[str, str | None, Event]], encoded: Sequence[bytes] | None = None
    ) -> asyncio.Future[None]:
        """Queue each (stream, key, event) for the next write and return at once; the future is done when Redis
        has them. Calls are written in the order they were made. `encoded`: the events' `dumps` already made
        (the engine's outbox has them), parallel to `items`.

        Calls made while an earlier write is in flight are written together (group commit): one MULTI/EXEC
        round trip for everything queued, and the events of one partition go in bundles (one entry of up to
        BUNDLE_MAX events), so a busy process pays one round trip per loop turn instead of one per call and
        Redis stores one entry per partition per turn. Events without a key go to one partition per call and
        stream, round robin."""
        rr: dict[str, int] = {}
        writes: list[tuple[str, str | None, bytes]] = []
        for i, (stream, key, event) in enumerate(items):
            n = self._partitions_of(stream)
            if key is not None:
                p = partition_of(key, n) if n > 1 else 0
            else:
                p = rr.get(stream, -1)
                if p < 0:
                    p = rr[stream] = next(self._rr) % n
            writes.append((stream_key(stream, p), key, encoded[i] if encoded is not None else dumps(event)))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieve)  # a caller that stopped waiting (cancelled) leaves no warning
        self._queued.append(_Queued(writes, [], done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        return done

    def enqueue_commands(self, commands: list[tuple[str, tuple[Any, ...]]]) -> asyncio.Future[None]:
        """Queue commands (acks) for the writer's next MULTI/EXEC, with whatever is published meanwhile."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieve)
        self._queued.append(_Queued([], commands, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        return done

    async def _write_queued(self) -> None:
        """Write what publishers (and acks) queued, a MULTI/EXEC per turn, until nothing is queued."""
        while self._queued:
            turn: list[_Queued] = []
            size = 0
            while self._queued and size < _WRITE_MAX:
                item = self._queued.popleft()
                turn.append(item)
                size += len(item.writes) + len(item.commands)
            publishers = [q for q in turn if q.writes]
            try:
                by_key = bundles(w for q in publishers for w in q.writes)
                if self._cluster:
                    # MULTI/EXEC can't span slots: one per stream key (a partition's keys share a slot), sent
                    # at once, so a reader still wakes up to all of the turn's events of its partition (acks
                    # never come this way on a Cluster)
                    await asyncio.gather(*(self._xadd_all(name, f) for name, f in by_key.items()))
                    replies: list[Any] = []
                else:
                    # MULTI/EXEC: one round trip, and a blocked reader wakes up to the whole turn; the acks
                    # queued meanwhile ride along
                    async with self._redis.pipeline(transaction=True) as pipe:
                        for name, entries in by_key.items():
                            for fields in entries:
                                pipe.xadd(name, fields)
                        for q in turn:
                            for method, args in q.commands:
                                getattr(pipe, method)(*args)
                        replies = await pipe.execute(raise_on_error=False)
            except BaseException as exc:
                for q in turn:
                    if not q.done.done():
                        q.done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            added = sum(len(b) for b in by_key.values()) if not self._cluster else 0
            failed = next((r for r in replies[:added] if isinstance(r, Exception)), None)
            i = added
            for q in turn:
                own = replies[i : i + len(q.commands)]
                i += len(q.commands)
                error = failed if q.writes else next((r for r in own if isinstance(r, Exception)), None)
                if q.done.done():
                    continue
                if error is not None:
                    q.done.set_exception(error)
                else:
                    q.done.set_result(None)

    async def _xadd_all(self, name: str, entries: list[dict[str, bytes | str]]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for fields in entries:
                pipe.xadd(name, fields)
            await pipe.execute()


def _retrieve(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()
