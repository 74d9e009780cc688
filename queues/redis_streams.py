"""The Redis Streams bus: the Bus protocol on partitioned streams, consumer groups, leases and XAUTOCLAIM.

`RedisBus` composes parts that each have their module (and its docstring):

- queues/redis_keys.py: the keys (a partition's keys share one Redis Cluster hash tag) and a key's partition;
- queues/redis_client.py: the client (a blocking pool, or a Cluster client), Lua scripts, outages;
- queues/redis_publish.py, queues/redis_bundles.py: publishing, a group commit of bundles of events;
- queues/redis_leases.py: which consumer of a group reads which partition;
- queues/redis_delivery.py: the consumer loop (release, claim, read; giving back at the end), with
  queues/redis_reads.py (reads, delivery counts) and queues/redis_pending.py (claims, acks);
- queues/redis_trim.py: trimming what every group is done with; queues/redis_dead_letters.py: dead letters.

Partitions. A logical stream has P partitions (`partitions`, per stream in `stream_partitions`). `publish` picks
the partition by crc32(key) % P, so one key's events stay in order on one partition; events without a key go to
one partition per `publish` call (and stream), round robin.

P == 1 ("shared", the default; used for fan-out streams like "console" and "outbound.<channel>"): no leases;
every consumer of a group reads the one stream and Redis splits the entries between them.

P > 1 ("partitioned", the "inbound" stream): every consumer holds leases on its fair share of the partitions and
reads only those; a dead consumer's partitions and pending entries are taken over by the survivors.

Limits (see docs/architecture.md, "Redis Streams"): clocks of the workers are
compared in the members set (keep them NTP-synchronised); a consumer that lost a lease while stalled may read one
more block (≤ 0.5 s) of that partition before noticing.

Redis Cluster (`cluster=True`; docs/architecture.md, "On Redis Cluster"): no command or MULTI/EXEC names keys of
two slots: a MULTI/EXEC per stream key when publishing, one XREADGROUP per partition (blocking ones kept in
flight across calls, `Reader._read_new_cluster`), Lua scripts by EVAL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import redis

from queues import redis_dead_letters, redis_trim
from queues.bus import Batch, DeadLetter, Entry
from queues.messages import Event
from queues.redis_bundles import BUNDLE_MAX as BUNDLE_MAX
from queues.redis_client import POOL_SIZE as POOL_SIZE
from queues.redis_client import POOL_WAIT as POOL_WAIT
from queues.redis_client import redis_client as redis_client
from queues.redis_client import run_script as run_script
from queues.redis_delivery import Delivery
from queues.redis_keys import DEAD_KEY as DEAD_KEY
from queues.redis_keys import PARKED as PARKED
from queues.redis_keys import lease_key as lease_key
from queues.redis_keys import members_key as members_key
from queues.redis_keys import partition_of
from queues.redis_keys import progress_key as progress_key
from queues.redis_keys import stream_key as stream_key
from queues.redis_leases import Leases
from queues.redis_pending import ACK_TRIES as ACK_TRIES
from queues.redis_pending import PendingEntries, count_pending
from queues.redis_publish import Publisher
from queues.redis_reads import Reader

# The `name as name` imports keep importable from here what other packages import from this module (redis_client,
# run_script: router/cluster/shared_load.py, connectors/shared_limits.py; the keys and BUNDLE_MAX: tests).


class RedisBus:
    """Bus on Redis Streams; see the module docstring (and those of the modules it names) for how it works."""

    name = "redis"
    durable = True

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        partitions: int = 1,
        stream_partitions: Mapping[str, int] | None = None,
        lease_time: float = 10.0,
        claim_timeout: float | None = None,
        block: float = 0.5,
        process_group_ttl: float = 600.0,
        cluster: bool = False,
    ) -> None:
        if partitions < 1 or any(p < 1 for p in (stream_partitions or {}).values()):
            raise ValueError("partitions must be >= 1")
        self.url = url
        self.partitions = partitions
        self.stream_partitions = dict(stream_partitions or {})
        self.lease_ms = max(1, int(lease_time * 1000))
        self.claim_ms = max(1, int((lease_time if claim_timeout is None else claim_timeout) * 1000))
        self.renew_interval = lease_time / 3
        self.block_ms = max(1, int(min(block, self.renew_interval) * 1000))
        self.process_group_ttl_ms = int(process_group_ttl * 1000)
        self.cluster = cluster
        self._redis = redis_client(url, cluster=cluster)
        self._sync: Any = None
        self._closing = asyncio.Event()
        self._publisher = Publisher(self._redis, cluster=cluster, partitions_of=self.partitions_of)
        self._leases = Leases(self._redis, lease_ms=self.lease_ms, renew_interval=self.renew_interval)
        self._pending = PendingEntries(
            self._redis,
            cluster=cluster,
            claim_ms=self.claim_ms,
            publisher=self._publisher,
            closing=self._closing,
        )
        self._reader = Reader(
            self._redis, cluster=cluster, block_ms=self.block_ms, closing=self._closing, pending=self._pending
        )
        self._delivery = Delivery(
            self._redis,
            cluster=cluster,
            claim_ms=self.claim_ms,
            partitions_of=self.partitions_of,
            closing=self._closing,
            leases=self._leases,
            reader=self._reader,
            pending=self._pending,
        )

    def partitions_of(self, stream: str) -> int:
        """How many partitions a logical stream has."""
        return self.stream_partitions.get(stream, self.partitions)

    async def publish(self, stream: str, events: Sequence[Event], *, key: str | None = None) -> None:
        """XADD every event to the key's partition (see `publish_many`)."""
        if events:
            await self.publish_many([(stream, key, event) for event in events])

    async def publish_many(
        self, items: Sequence[tuple[str, str | None, Event]], encoded: Sequence[bytes] | None = None
    ) -> None:
        """XADD each (stream, key, event) in order; returns once Redis has them all (see `enqueue`)."""
        if not items:
            return
        # awaited as it is: a cancelled caller cancels only its own future, the write goes on for the others
        await self.enqueue(items, encoded)

    def enqueue(
        self, items: Sequence[tuple[str, str | None, Event]], encoded: Sequence[bytes] | None = None
    ) -> asyncio.Future[None]:
        """Queue each (stream, key, event) for the next write (a group commit, `Publisher.enqueue`) and return at
        once; the future is done when Redis has them. `encoded`: the events' `dumps`, parallel to `items`."""
        return self._publisher.enqueue(items, encoded)

    def consume(
        self, stream: str, group: str, consumer: str, *, max_batch: int = 100, max_wait: float = 0.002
    ) -> AsyncIterator[Batch]:
        """Yield batches of the partitions this consumer owns; an unacked batch comes back first."""
        return self._delivery.consume(stream, group, consumer, max_batch=max_batch, max_wait=max_wait)

    async def trim(self, stream: str) -> int:
        """Drop entries every group is done with (below each group's oldest pending or unread entry)."""
        return await redis_trim.trim(
            self._redis, stream, self.partitions_of(stream), self.process_group_ttl_ms
        )

    async def dead_letter(self, stream: str, entry: Entry, error: str) -> None:
        """XADD the event with its error to ``openlines:dead`` (capped at about DEAD_LETTERS_KEPT entries)."""
        await redis_dead_letters.dead_letter(self._redis, stream, entry, error)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Newest first (XREVRANGE)."""
        return await redis_dead_letters.dead_letters(self._redis, limit)

    def owned(self, stream: str, group: str) -> frozenset[int] | None:
        """The partitions this bus's consumer of the group holds (leases); None for an unpartitioned stream."""
        if self.partitions_of(stream) == 1:
            return None
        held: set[int] = set()
        for st in self._delivery.consumers:
            if st.stream == stream and st.group == group and not st.dead:
                held |= st.owned
        return frozenset(held)

    def partition(self, stream: str, key: str) -> int:
        """The partition of a key (crc32 % P)."""
        return partition_of(key, self.partitions_of(stream))

    def pending_count(self, stream: str, group: str) -> int:
        """Events of the group delivered and not acked, parked ones not counted (tests): a pending bundle counts
        its events, less those a consumer of this bus already acked.

        Synchronous like MemoryBus.pending_count, on a blocking connection of its own.
        """
        if self._sync is None:
            self._sync = (
                redis.RedisCluster.from_url(self.url) if self.cluster else redis.Redis.from_url(self.url)
            )
        return count_pending(self._sync, stream, group, self.partitions_of(stream), self._delivery.consumers)

    def abandon(self) -> None:
        """Simulate a crashed process (tests): stop lease renewal, give nothing back when consumers end."""
        for st in list(self._delivery.consumers):
            st.dead = True
            if st.renewer is not None:
                st.renewer.cancel()

    async def close(self) -> None:
        """End every consumer (giving back its unacked entries), then close the client."""
        if self._closing.is_set():
            return
        self._closing.set()
        await self._delivery.close()
        await self._redis.aclose()
        if self._sync is not None:
            self._sync.close()
