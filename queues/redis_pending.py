"""A group's pending entries (its PEL) on the Redis bus: claiming other consumers', acking a consumer's own,
counting them.

A claim (step 2 of the consumer loop, queues/redis_delivery.py) takes, with ``XAUTOCLAIM … JUSTID`` (which does
not count a delivery), every pending entry of a partition just acquired and, on the other owned partitions, those
idle longer than claim_timeout; the consumer then reads them as its own pending entries. Entries given back by a
consumer that ended (parked) are idle longer than any claim timeout, so the next claim takes them at once.

`Batch.ack()` XACKs its entries, one XACK per partition, in one pipeline (on one Redis, the writer's next
MULTI/EXEC, with the publishes of its turn); an event of a bundle is acked with the bundle's last event
(queues/redis_bundles.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import orjson
from redis.exceptions import ResponseError

from queues.bus import Entry
from queues.redis_client import OUTAGE, pause
from queues.redis_consumer import ConsumerState
from queues.redis_keys import PARKED, as_str, progress_key, split_entry_id, stream_key
from queues.redis_publish import Publisher

log = logging.getLogger("queues.redis_streams")  # the bus's one logger, whichever part of it logs

ACK_TRIES = 5


class PendingEntries:
    """Claims and acks of a bus's consumers."""

    def __init__(
        self, client: Any, *, cluster: bool, claim_ms: int, publisher: Publisher, closing: asyncio.Event
    ) -> None:
        self._redis = client
        self._cluster = cluster
        self._claim_ms = claim_ms
        self._publisher = publisher
        self._closing = closing

    async def claim(self, st: ConsumerState, max_batch: int) -> bool:
        """Claim pending entries of other consumers; True when anything was claimed."""
        count = max(max_batch, 100)
        targets = [(p, 0 if p in st.fresh else self._claim_ms) for p in sorted(st.owned)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for p, idle in targets:
                pipe.xautoclaim(stream_key(st.stream, p), st.group, st.name, idle, "0-0", count, justid=True)
            results = await pipe.execute()
        st.fresh -= {p for p, _ in targets}
        return any(results)

    async def ack(self, st: ConsumerState, entries: list[Entry]) -> None:
        """Ack a batch's entries (a bundle's entry with its last event)."""
        by_partition, forget = st.bundles.acked(entries)
        if by_partition:
            await self.xack(st, by_partition, forget)

    async def xack(
        self,
        st: ConsumerState,
        by_partition: dict[int, list[str]],
        forget: dict[int, list[str]] | None = None,
    ) -> None:
        """XACK Redis ids per partition (and HDEL `forget` from the progress hashes), retried through an outage."""
        commands: list[tuple[str, tuple[Any, ...]]] = [
            ("xack", (stream_key(st.stream, p), st.group, *rids)) for p, rids in by_partition.items()
        ]
        commands += [
            ("hdel", (progress_key(st.stream, p, st.group), *rids)) for p, rids in (forget or {}).items()
        ]
        for attempt in range(ACK_TRIES):
            try:
                if not self._cluster:  # with the turn's publishes: one round trip for both
                    await self._publisher.enqueue_commands(commands)
                    return
                async with self._redis.pipeline(transaction=False) as pipe:
                    for method, args in commands:
                        getattr(pipe, method)(*args)
                    await pipe.execute()
                return
            except OUTAGE as exc:
                # what is not acked is delivered again and is a no-op then (stored exactly once)
                log.warning("ack on %s/%s failed (%s), try %d", st.stream, st.group, exc, attempt + 1)
                await pause(self._closing, 0.2 * 2**attempt)


def count_pending(
    sync: Any, stream: str, group: str, partitions: int, consumers: Iterable[ConsumerState]
) -> int:
    """Events of the group delivered and not acked, parked ones not counted: a pending bundle counts its
    events, less those `consumers` already acked (or read and not delivered yet). `sync`: a blocking client."""
    acked: dict[tuple[int, str], int] = {}  # events of a pending entry not delivered, or delivered and acked
    for st in consumers:
        if st.stream == stream and st.group == group:
            for bundle, done in st.bundles.progress.items():
                acked[bundle] = acked.get(bundle, 0) + done
            for e in st.buffer:
                p, rid, _ = split_entry_id(e.id)
                acked[(p, rid)] = acked.get((p, rid), 0) + 1
    total = 0
    for p in range(partitions):
        name = stream_key(stream, p)
        try:
            summary = sync.xpending(name, group)
        except ResponseError:
            continue  # no such group
        if not int(summary["pending"]):
            continue
        rows = sync.xpending_range(name, group, "-", "+", int(summary["pending"]))
        for row in rows:
            if as_str(row["consumer"]) == PARKED:
                continue
            rid = as_str(row["message_id"])
            found = sync.xrange(name, rid, rid)
            raw = found[0][1].get(b"b") if found else None
            total += (len(orjson.loads(raw)) if raw else 1) - acked.get((p, rid), 0)
    return total
