"""The Redis Streams bus: the Bus protocol on partitioned streams, consumer groups, leases and XAUTOCLAIM.

Keys (each partition's keys share one Redis Cluster hash tag, the partition number, so a partition's commands
can go to one slot):

- ``openlines:{stream}:{p}`` (e.g. ``openlines:inbound:{3}``): the stream of partition p of a logical stream;
  an entry is a bundle of up to BUNDLE_MAX events: ``b``, a JSON array of their ``queues.messages.dumps``, and
  ``k``, a JSON array of their keys (left out when none has one). Entries with ``e`` (one event) and ``k`` (its
  key), as written before bundles, are still read.
- ``openlines:{stream}:{p}:progress:{group}``: bundles a consumer of `group` acked in part before it ended
  (Redis id -> how many of its events): the next consumer skips those.
- ``openlines:{stream}:{p}:lease:{group}``: which consumer of `group` owns partition p (``SET NX PX``; value: the
  consumer's name plus a random token, so a restarted consumer with the same name is a new owner).
- ``openlines:{stream}:members:{group}``: a sorted set of the group's live consumers (score: last heartbeat, ms),
  used only to compute each consumer's fair share of the partitions.

Partitions. A logical stream has P partitions (`partitions`, per stream in `stream_partitions`). `publish` picks
the partition by crc32(key) % P, so one key's events stay in order on one partition; events without a key go to
one partition per `publish` call (and stream), round robin. Publishing is a group commit: the XADDs of every call
made while an earlier write is in flight go in the next MULTI/EXEC pipeline (one round trip per turn, not per
call; a blocked reader gets a turn's events together). A read that got less than `max_batch` waits `max_wait`
and takes what came meanwhile (without blocking) into the same batch, as the memory bus does: a trickle becomes
one batch (one commit, one publish) instead of several (not on a Cluster, where reads go partition by partition).
`publish_many` takes (stream, key, event) triples, e.g. everything a router batch emits, in one call.

P == 1 ("shared", the default; used for fan-out streams like "console" and "outbound.<channel>"): no leases;
every consumer of a group reads the one stream and Redis splits the entries between them.

P > 1 ("partitioned", the "inbound" stream): every `consume()` runs a background task that heartbeats into the
members set and, every lease_time / 3, renews the leases it holds (a Lua compare-and-PEXPIRE), takes free
(expired) leases while it holds fewer than ceil(P / live members), and marks those above that share for release.
A partition is released by the consumer loop only between batches, when nothing of it is in flight (its PEL is
empty), so a rebalance never splits one key's events between two workers. A consumer that dies stops renewing:
its leases expire after lease_time and its members entry after lease_time, so a survivor takes its partitions
within about 1.33 × lease_time (and claims its pending entries at once, see below).

Delivery. `consume` creates the group on every partition if missing (``XGROUP CREATE … 0 MKSTREAM``: events
published before the group existed are delivered; a process's own group, "web-…" (`queues.bus.process_group`),
starts at ``$`` instead and is destroyed when its consumer ends). Each step of the consumer loop:

1. The previous batch was not acked → it is marked stale (a late ``ack()`` of it is a no-op, as in the memory
   bus) and the consumer re-reads its own pending entries first (``XREADGROUP … 0``; Redis counts the delivery).
2. Claims: on a partition just acquired, every pending entry of other consumers is claimed at once (only a
   former owner can have any); on every owned partition, every claim_timeout / 2, entries idle longer than
   claim_timeout (``XAUTOCLAIM … JUSTID``, which does not count a delivery) — then they are read as own pending
   entries, as in 1. This is how a dead consumer's unacked batch reaches another consumer of the group.
3. New entries: ``XREADGROUP … BLOCK`` over the owned partitions (``>``), at most `max_batch` per batch (what a
   read returns beyond that is kept for the next batch).

`Entry.deliveries` comes from XPENDING's delivery counter (read in the same pipeline as the pending entries); new
entries have 1. `Batch.ack()` XACKs its entries, one XACK per partition, in one pipeline. `max_batch` counts events,
so a batch may end inside a bundle: the bundle's entry is acked with its last event, and until then the consumer
keeps how many of its events it acked (`progress`), skipping them when the entry comes again.

A consumer that ends (aclose, break, an exception, cancellation) "gives back" its unacked entries: they are
moved to the parking consumer ``~parked`` with a large idle time (``XCLAIM … IDLE … JUSTID``), so the next claim by
any consumer of the group takes them at once, and its leases are released. `pending_count` does not count
parked entries (they are "ready" again, as in the memory bus). A crashed process parks nothing: its entries wait
for the claim timeout (or its partitions' takeover).

Trimming: Redis 7.0 has no "trim only what every group acked", so `trim(stream)` computes, per partition, the
smallest ID any group still needs: per group, its smallest pending ID (XPENDING summary) or, with nothing
pending, the ID right after its last-delivered-id (XINFO GROUPS); then ``XTRIM MINID`` to the smallest of those. A partition with no
group is never trimmed. A process group whose consumers have all been idle for `process_group_ttl` (its process
crashed) is destroyed rather than let it pin the stream. The router role runs it once a minute.

Dead letters: `dead_letter` XADDs an event the router gave up on, with its error, to ``openlines:dead`` (capped
with an approximate MAXLEN); `dead_letters` reads the newest. The caller acks the entry afterwards as usual.

Limits (see docs/architecture.md, "Redis Streams"): clocks of the workers are
compared in the members set (keep them NTP-synchronised); a consumer that lost a lease while stalled may read one
more block (≤ 0.5 s) of that partition before noticing.

Redis Cluster (`cluster=True`; docs/architecture.md, "On Redis Cluster"): no command or MULTI/EXEC names keys of
two slots: a MULTI/EXEC per stream key when publishing, one XREADGROUP per partition (blocking ones kept in
flight across calls, `_read_new_cluster`), Lua scripts by EVAL.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import itertools
import logging
import math
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from queues.bus import DEAD_LETTERS_KEPT, PROCESS_GROUP_PREFIX, Batch, DeadLetter, Entry
from queues.messages import Event, dumps, loads, loads_many

log = logging.getLogger(__name__)

PARKED = "~parked"  # the consumer that holds entries given back to the group
_PARK_IDLE_MS = 10**12
ACK_TRIES = 5
# Redis away (restarting, a network cut): consumers wait and retry instead of ending
_OUTAGE = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
)  # idle time of a parked entry: older than any claim timeout

_RENEW = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then return 0 end
return -1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def stream_key(stream: str, partition: int) -> str:
    """The Redis key of one partition of a logical stream, hash-tagged by partition."""
    return f"openlines:{stream}:{{{partition}}}"


def lease_key(stream: str, partition: int, group: str) -> str:
    """The key of a group's lease on one partition (same hash tag as the partition's stream)."""
    return f"openlines:{stream}:{{{partition}}}:lease:{group}"


def progress_key(stream: str, partition: int, group: str) -> str:
    """A hash of the partition's bundles a consumer of `group` acked in part before it ended: Redis id -> how
    many of its events (same hash tag as the partition's stream)."""
    return f"openlines:{stream}:{{{partition}}}:progress:{group}"


def members_key(stream: str, group: str) -> str:
    """The sorted set of a group's live consumers (score: last heartbeat in ms)."""
    return f"openlines:{stream}:members:{group}"


DEAD_KEY = "openlines:dead"


def partition_of(key: str, partitions: int) -> int:
    """The partition of a key: a stable hash (crc32), the same in every process."""
    return zlib.crc32(key.encode()) % partitions


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


BUNDLE_MAX = 256  # events per stream entry


def _bundles(writes: Iterable[tuple[str, str | None, bytes]]) -> dict[str, list[dict[str, bytes | str]]]:
    """The entries to XADD, per stream key in order: each a bundle of up to BUNDLE_MAX events (field `b`: a JSON
    array of the events' `dumps`; `k`: a JSON array of their keys, left out when none has one)."""
    grouped: dict[str, tuple[list[bytes], list[str | None]]] = {}
    for name, key, payload in writes:
        payloads, keys = grouped.setdefault(name, ([], []))
        payloads.append(payload)
        keys.append(key)
    out: dict[str, list[dict[str, bytes | str]]] = {}
    for name, (payloads, keys) in grouped.items():
        entries = out[name] = []
        for i in range(0, len(payloads), BUNDLE_MAX):
            fields: dict[str, bytes | str] = {"b": b"[" + b",".join(payloads[i : i + BUNDLE_MAX]) + b"]"}
            part = keys[i : i + BUNDLE_MAX]
            if any(k is not None for k in part):
                fields["k"] = orjson.dumps(part)
            entries.append(fields)
    return out


def _per_stream(max_batch: int, streams: int) -> int:
    """Entries a read takes from each stream: about max_batch in all (an entry is a bundle of one event or more,
    so a read never holds a stream's whole backlog)."""
    return max(1, -(-max_batch // max(1, streams)))


def _entry_id(entry_id: str) -> tuple[int, str, int | None]:
    """The partition, Redis entry id and index in its bundle of an Entry id ("p/rid", or "p/rid/i" for the i-th
    event of a bundle of several)."""
    p, rid, *i = entry_id.split("/", 2)
    return int(p), rid, int(i[0]) if i else None


_WRITE_MAX = 2000  # entries per MULTI/EXEC of the group commit (more waits for the next round trip)
POOL_SIZE = 256  # connections per process (a blocked XREADGROUP holds one)
POOL_WAIT = 10.0  # seconds a command waits for a free connection


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


@dataclasses.dataclass
class _Queued:
    """What one call queued for the writer: events to XADD (bundled per stream key) or other commands (acks)."""

    writes: list[tuple[str, str | None, bytes]]
    commands: list[tuple[str, tuple[Any, ...]]]
    done: asyncio.Future[None]


class _Consumer:
    """The state of one `consume()` call."""

    def __init__(self, stream: str, group: str, name: str, partitions: int) -> None:
        self.stream = stream
        self.group = group
        self.name = name
        self.token = f"{name}:{uuid.uuid4().hex}"
        self.partitions = partitions
        self.shared = partitions == 1
        self.owned: set[int] = {0} if self.shared else set()
        self.fresh: set[int] = set()  # acquired, not yet claimed from the former owner
        self.to_release: set[int] = set()
        self.lock = asyncio.Lock()  # the renewal task and the loop's releases change `owned` one at a time
        self.changed = asyncio.Event()  # partitions acquired: interrupt a blocked read to read them too
        self.renewer: asyncio.Task[None] | None = None
        self.cleanup: asyncio.Future[None] | None = None
        self.dead = False  # abandoned (a simulated crash): nothing is given back
        self.need_claim = True  # claim before the next read (just started, or the last claim found more)
        self.next_claim = 0.0  # monotonic time of the next periodic claim
        self.inflight: dict[str, asyncio.Future[Any]] = {}  # Cluster: a blocking read per partition key
        self.reading: asyncio.Future[Any] | None = None  # the blocking read in progress (one Redis)
        self.unseen: set[str] = set()  # Entry ids an in-flight read got that the PEL re-read delivers first
        # bundles delivered in part (a batch may end inside one): (partition, Redis id) -> events acked so far,
        # and each such bundle's size; the entry itself is acked with its last event
        self.progress: dict[tuple[int, str], int] = {}
        self.sizes: dict[tuple[int, str], int] = {}
        self.buffer: list[Entry] = []  # read (so in the PEL), not yet delivered: the next batches
        self.linger = 0.0  # seconds a read that got less than a batch waits for more (`max_wait`)
        self.remote: set[tuple[int, str]] = set()  # bundles whose progress came from the progress hash


class RedisBus:
    """Bus on Redis Streams; see the module docstring for keys, partitions, leases and redelivery."""

    name = "redis"

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
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._rr = itertools.count()
        self._queued: collections.deque[_Queued] = collections.deque()
        self._writer: asyncio.Task[None] | None = None
        self._consumers: set[_Consumer] = set()
        self._closed = False
        self._closing = asyncio.Event()

    def partitions_of(self, stream: str) -> int:
        """How many partitions a logical stream has."""
        return self.stream_partitions.get(stream, self.partitions)

    # ---- publish -------------------------------------------------------------------------------------

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
            n = self.partitions_of(stream)
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

    async def _write_queued(self) -> None:
        """Write what publishers (and acks, `_xack`) queued, a MULTI/EXEC per turn, until nothing is queued."""
        while self._queued:
            turn: list[_Queued] = []
            size = 0
            while self._queued and size < _WRITE_MAX:
                item = self._queued.popleft()
                turn.append(item)
                size += len(item.writes) + len(item.commands)
            publishers = [q for q in turn if q.writes]
            try:
                by_key = _bundles(w for q in publishers for w in q.writes)
                if self.cluster:
                    # MULTI/EXEC can't span slots: one per stream key (a partition's keys share a slot), sent
                    # at once, so a reader still wakes up to all of the turn's events of its partition (acks
                    # never come this way on a Cluster)
                    await asyncio.gather(*(self._xadd_all(name, f) for name, f in by_key.items()))
                    replies: list[Any] = []
                else:
                    # MULTI/EXEC: one round trip, and a blocked reader wakes up to the whole turn; the acks
                    # queued meanwhile ride along
                    async with self._redis.pipeline(transaction=True) as pipe:
                        for name, bundles in by_key.items():
                            for fields in bundles:
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
            added = sum(len(b) for b in by_key.values()) if not self.cluster else 0
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

    def _enqueue_commands(self, commands: list[tuple[str, tuple[Any, ...]]]) -> asyncio.Future[None]:
        """Queue commands (acks) for the writer's next MULTI/EXEC, with whatever is published meanwhile."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieve)
        self._queued.append(_Queued([], commands, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        return done

    async def _xadd_all(self, name: str, entries: list[dict[str, bytes | str]]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for fields in entries:
                pipe.xadd(name, fields)
            await pipe.execute()

    # ---- consume -------------------------------------------------------------------------------------

    async def consume(
        self, stream: str, group: str, consumer: str, *, max_batch: int = 100, max_wait: float = 0.002
    ) -> AsyncIterator[Batch]:
        """Yield batches of the partitions this consumer owns; an unacked batch comes back first."""
        if self._closed:
            return
        st = _Consumer(stream, group, consumer, self.partitions_of(stream))
        st.linger = max_wait
        self._consumers.add(st)
        last: Batch | None = None
        buffer = st.buffer
        need_history = True  # entries left in our PEL by an earlier consumer of the same name
        ready = False  # the groups exist and the consumer is registered
        outages = 0
        try:
            while not self._closed:
                _raise_if_cancelled()  # a cancellation some library call swallowed still ends the loop
                if last is not None and not last.acked:
                    last.acked = True  # stale: a late ack must not ack the redelivered copies
                    need_history = True
                    buffer.clear()  # re-read with the rest of the PEL
                last = None
                try:
                    if not ready:
                        # again after an outage: a Redis restarted without its data has no groups
                        await self._create_groups(st)
                        if not st.shared:
                            await self._heartbeat(st)
                            if st.renewer is None:
                                st.renewer = asyncio.create_task(self._renew_loop(st))
                        ready = True
                    step = await self._next_entries(st, max_batch, need_history, buffer)
                except _OUTAGE as exc:
                    _raise_if_cancelled()  # a timeout that was really our cancellation
                    outages += 1
                    log.warning("redis unreachable for %s/%s (%s): retrying", st.stream, st.group, exc)
                    ready, need_history, st.need_claim = False, True, True
                    buffer.clear()
                    await self._wait(min(5.0, 0.1 * 2**outages))
                    continue
                outages = 0
                if step is None:
                    need_history = True
                    continue
                entries, need_history = step
                if not entries:
                    continue

                async def _ack(acked: list[Entry], st: _Consumer = st) -> None:
                    await self._ack(st, acked)

                last = Batch(entries, _ack)
                yield last
        except RedisError:
            if not self._closed:
                raise
        finally:
            self._consumers.discard(st)
            if st.cleanup is None:
                st.cleanup = asyncio.ensure_future(self._give_back(st))
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(st.cleanup)

    async def _next_entries(
        self, st: _Consumer, max_batch: int, need_history: bool, buffer: list[Entry]
    ) -> tuple[list[Entry], bool] | None:
        """One step of the consumer loop: release, claim, read (see the module docstring). Returns the entries
        and whether own pending entries are still to be re-read; None when a read was interrupted."""
        if not need_history and not buffer and st.to_release:
            await self._release_partitions(st)
        if not st.owned:
            await self._wait(self.renew_interval)
            return [], need_history
        now = time.monotonic()
        if st.fresh or st.need_claim or now >= st.next_claim:
            if await self._claim(st, max_batch):
                need_history = True
                buffer.clear()  # read but not delivered: in our PEL, so the re-read brings it, in order
                st.need_claim = True  # maybe more to claim
            else:
                st.need_claim = False
            st.next_claim = now + self.claim_ms / 2000
        # what was read and not yet delivered first (it is empty whenever the PEL is to be re-read), then the PEL,
        # then new entries; what a read brings beyond max_batch events waits in the buffer
        if buffer:
            entries, buffer[:] = buffer[:max_batch], buffer[max_batch:]
            return entries, need_history
        read: list[Entry] | None = []
        if need_history:
            read = await self._read_pending(st, max_batch)
            if not read:
                need_history = False
        if not read:
            read = await self._read_new(st, max_batch)
            if read is None:
                return None
            if 0 < len(read) < max_batch and st.linger > 0 and not self.cluster:
                # a trickle: wait a moment for more and take them with it (one batch, one commit, not several)
                await asyncio.sleep(st.linger)
                read += await self._read_more(st, max_batch - len(read))
        entries, buffer[:] = read[:max_batch], read[max_batch:]
        return entries, need_history

    async def _create_groups(self, st: _Consumer) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            start = "$" if st.group.startswith(PROCESS_GROUP_PREFIX) else "0"
            for p in range(st.partitions):
                pipe.xgroup_create(stream_key(st.stream, p), st.group, id=start, mkstream=True)
            results = await pipe.execute(raise_on_error=False)
        for r in results:
            if isinstance(r, Exception) and "BUSYGROUP" not in str(r):
                raise r

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _keys(self, st: _Consumer) -> dict[str, int]:
        return {stream_key(st.stream, p): p for p in sorted(st.owned)}

    def _readable(self, st: _Consumer) -> dict[str, int]:
        """The owned partitions whose new entries may be read: not one acquired and not yet claimed from its
        former owner (a partition can be acquired during any await of a step, after the step's claim: a read of
        its new entries then would deliver them before the former owner's pending ones, out of order)."""
        return {stream_key(st.stream, p): p for p in sorted(st.owned - st.fresh)}

    @staticmethod
    def _pairs(reply: Any) -> list[tuple[str, list[Any]]]:
        if not reply:
            return []
        if isinstance(reply, dict):  # RESP3
            return [(_s(k), v[0] if v and isinstance(v[0], list) else v) for k, v in reply.items()]
        return [(_s(name), items) for name, items in reply]

    def _entries(
        self, st: _Consumer, reply: Any, counts: dict[tuple[int, str], int] | None
    ) -> tuple[list[Entry], dict[int, list[str]]]:
        keys = self._keys(st)
        out: list[Entry] = []
        gone: dict[int, list[str]] = {}
        for name, items in self._pairs(reply):
            p = keys.get(name)
            if p is None:
                continue
            for rid_raw, fields in items:
                rid = _s(rid_raw)
                if not fields:  # trimmed or deleted while pending
                    gone.setdefault(p, []).append(rid)
                    continue
                deliveries = 1 if counts is None else counts.get((p, rid), 1)
                bundle = fields.get(b"b", fields.get("b"))
                if bundle is None:  # one event per entry (as written before bundles)
                    raw_key = fields.get(b"k", fields.get("k"))
                    event = loads(fields.get(b"e", fields.get("e")))
                    out.append(
                        Entry(f"{p}/{rid}", event, None if raw_key is None else _s(raw_key), deliveries)
                    )
                    continue
                events = loads_many(bundle)
                raw_keys = fields.get(b"k", fields.get("k"))
                ks = orjson.loads(raw_keys) if raw_keys is not None else [None] * len(events)
                if len(events) == 1:
                    out.append(Entry(f"{p}/{rid}", events[0], ks[0], deliveries))
                    continue
                # a bundle may span batches: this consumer skips the events it already acked (`_ack`)
                st.sizes[(p, rid)] = len(events)
                done = st.progress.get((p, rid), 0)
                out += [
                    Entry(f"{p}/{rid}/{i}", events[i], ks[i], deliveries) for i in range(done, len(events))
                ]
        return out, gone

    async def _read_pending(self, st: _Consumer, max_batch: int) -> list[Entry]:
        if st.inflight:
            # Cluster: let the reads in flight end (within one block); what they got is in the PEL, read below in
            # order with the rest, and counted as the first delivery it is (the re-read adds one in Redis)
            await asyncio.wait(list(st.inflight.values()))
            unseen, _ = self._entries(st, self._collect(st), None)
            st.unseen.update(e.id for e in unseen)
        keys = self._keys(st)
        per = _per_stream(max_batch, len(keys))
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in keys:  # one key per command: valid on a Cluster too
                pipe.xreadgroup(st.group, st.name, {name: "0"}, count=per)
            for name in keys:
                pipe.xpending_range(name, st.group, "-", "+", per, consumername=st.name)
            for p in keys.values():
                pipe.hgetall(progress_key(st.stream, p, st.group))
            replies = await pipe.execute()
        n = len(keys)
        reply = [pair for r in replies[:n] for pair in self._pairs(r)]
        pending = replies[n : 2 * n]
        for p, done in zip(keys.values(), replies[2 * n :], strict=True):
            for rid, count in (done or {}).items():  # a consumer before us acked these in part
                bundle = (p, _s(rid))
                st.progress[bundle] = max(st.progress.get(bundle, 0), int(count))
                st.remote.add(bundle)
        counts: dict[tuple[int, str], int] = {}
        for p, rows in zip(keys.values(), pending, strict=True):
            for row in rows:
                counts[(p, _s(row["message_id"]))] = int(row["times_delivered"])
        entries, gone = self._entries(st, reply, counts)
        if gone:
            await self._xack(st, gone)

        if st.unseen:
            entries = [
                dataclasses.replace(e, deliveries=max(1, e.deliveries - 1)) if e.id in st.unseen else e
                for e in entries
            ]
            st.unseen.difference_update(e.id for e in entries)
        return entries

    async def _read_new(self, st: _Consumer, max_batch: int) -> list[Entry] | None:
        if self.cluster:
            return await self._read_new_cluster(st, max_batch)
        keys = self._readable(st)
        st.changed.clear()
        if self._closed:
            return None
        if not keys:
            return []  # every owned partition still to be claimed: the next step claims them
        # close() and a partition acquired interrupt the read by cancelling it (`_interrupt`): one task per read,
        # not a race of three
        read = st.reading = asyncio.ensure_future(
            self._redis.xreadgroup(
                st.group,
                st.name,
                dict.fromkeys(keys, ">"),
                count=_per_stream(max_batch, len(keys)),
                block=self.block_ms,
            )
        )
        try:
            reply = await read
        except asyncio.CancelledError:
            _raise_if_cancelled()  # ours, not just the read's: end, don't swallow it
            return None  # interrupted (what it may have read is in our PEL: the caller re-reads that)
        finally:
            st.reading = None
        if self._closed:
            return None
        entries, _ = self._entries(st, reply, None)
        return entries

    async def _read_more(self, st: _Consumer, max_batch: int) -> list[Entry]:
        """New entries already there (no blocking)."""
        keys = self._readable(st)
        if self._closed or not keys:
            return []
        reply = await self._redis.xreadgroup(
            st.group, st.name, dict.fromkeys(keys, ">"), count=_per_stream(max_batch, len(keys))
        )
        return self._entries(st, reply, None)[0]

    async def _read_new_cluster(self, st: _Consumer, max_batch: int) -> list[Entry] | None:
        """New entries on a Cluster, where one XREADGROUP may name only one slot's streams. Each owned
        partition has at most one read in flight (`st.inflight`): a blocking read that outlives this call
        when another partition answered first, and is collected by a later call, so nothing it reads is
        delivered twice or counted as a second delivery. Partitions with no read in flight are first read
        without blocking (a pipeline per node); only when nothing was there does the call block."""
        keys = list(self._readable(st))
        await self._drop_inflight(st, [k for k in st.inflight if k not in keys])
        got = self._collect(st)
        idle = [k for k in keys if k not in st.inflight]
        if not got and idle:
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in idle:
                    pipe.xreadgroup(st.group, st.name, {name: ">"}, count=_per_stream(max_batch, len(keys)))
                got = [pair for r in await pipe.execute() for pair in self._pairs(r)]
        if got:
            return self._entries(st, got, None)[0]
        st.changed.clear()
        for name in idle:
            st.inflight[name] = asyncio.ensure_future(
                self._redis.xreadgroup(
                    st.group,
                    st.name,
                    {name: ">"},
                    count=_per_stream(max_batch, len(keys)),
                    block=self.block_ms,
                )
            )
        closing = asyncio.ensure_future(self._closing.wait())
        change = asyncio.ensure_future(st.changed.wait())
        try:
            while st.inflight and not got and not closing.done() and not change.done():
                await asyncio.wait(
                    {*st.inflight.values(), closing, change}, return_when=asyncio.FIRST_COMPLETED
                )
                got = self._collect(st)
        finally:
            closing.cancel()
            change.cancel()
        if self._closed:
            return None
        # a partition acquired (`change`): not an interruption here, the reads in flight carry on and the next
        # call reads the new partitions too
        return self._entries(st, got, None)[0]

    def _collect(self, st: _Consumer) -> list[Any]:
        """The replies of the finished in-flight reads (an outage raises here, as a plain read would)."""
        got: list[Any] = []
        for name, task in list(st.inflight.items()):
            if task.done():
                del st.inflight[name]
                got += self._pairs(task.result())
        return got

    async def _drop_inflight(self, st: _Consumer, names: Sequence[str] | None = None) -> None:
        """Cancel in-flight reads (a re-read of the PEL, a released partition, the end): what they read is in
        our PEL, where the PEL re-read (or the partition's next owner) finds it."""
        tasks = [
            st.inflight.pop(n) for n in list(st.inflight if names is None else names) if n in st.inflight
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
            _raise_if_cancelled()

    async def _claim(self, st: _Consumer, max_batch: int) -> bool:
        """Claim pending entries of other consumers; True when anything was claimed."""
        count = max(max_batch, 100)
        targets = [(p, 0 if p in st.fresh else self.claim_ms) for p in sorted(st.owned)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for p, idle in targets:
                pipe.xautoclaim(stream_key(st.stream, p), st.group, st.name, idle, "0-0", count, justid=True)
            results = await pipe.execute()
        st.fresh -= {p for p, _ in targets}
        return any(results)

    async def _ack(self, st: _Consumer, entries: list[Entry]) -> None:
        by_partition: dict[int, list[str]] = {}
        for e in entries:
            p, rid, i = _entry_id(e.id)
            if i is not None:  # an event of a bundle: the entry is acked with its last event
                done = max(st.progress.get((p, rid), 0), i + 1)
                if done < st.sizes.get((p, rid), 0):
                    st.progress[(p, rid)] = done
                    continue
                st.progress.pop((p, rid), None)
                st.sizes.pop((p, rid), None)
            rids = by_partition.setdefault(p, [])
            if not rids or rids[-1] != rid:
                rids.append(rid)
        if by_partition:
            forget: dict[int, list[str]] = {}
            if st.remote:
                for p, rids in by_partition.items():
                    finished = [rid for rid in rids if (p, rid) in st.remote]
                    if finished:
                        forget[p] = finished
                        st.remote.difference_update((p, rid) for rid in finished)
            await self._xack(st, by_partition, forget)

    async def _xack(
        self, st: _Consumer, by_partition: dict[int, list[str]], forget: dict[int, list[str]] | None = None
    ) -> None:
        commands: list[tuple[str, tuple[Any, ...]]] = [
            ("xack", (stream_key(st.stream, p), st.group, *rids)) for p, rids in by_partition.items()
        ]
        commands += [
            ("hdel", (progress_key(st.stream, p, st.group), *rids)) for p, rids in (forget or {}).items()
        ]
        for attempt in range(ACK_TRIES):
            try:
                if not self.cluster:  # with the turn's publishes: one round trip for both
                    await self._enqueue_commands(commands)
                    return
                async with self._redis.pipeline(transaction=False) as pipe:
                    for method, args in commands:
                        getattr(pipe, method)(*args)
                    await pipe.execute()
                return
            except _OUTAGE as exc:
                # what is not acked is delivered again and is a no-op then (stored exactly once)
                log.warning("ack on %s/%s failed (%s), try %d", st.stream, st.group, exc, attempt + 1)
                await self._wait(0.2 * 2**attempt)

    # ---- leases --------------------------------------------------------------------------------------

    async def _heartbeat(self, st: _Consumer) -> None:
        async with st.lock:
            await self._renew_once(st)

    async def _renew_loop(self, st: _Consumer) -> None:
        last_ok = time.monotonic()
        while True:
            await asyncio.sleep(self.renew_interval)
            try:
                async with st.lock:
                    await self._renew_once(st)
                last_ok = time.monotonic()
            except Exception as exc:
                log.warning("lease renewal of %s/%s failed: %s", st.stream, st.group, exc)
                if time.monotonic() - last_ok > self.lease_ms / 1000:
                    st.owned.clear()  # can't be sure we still hold them: stop reading
                    st.fresh.clear()
                    st.to_release.clear()

    async def _renew_once(self, st: _Consumer) -> None:
        now = int(time.time() * 1000)
        members = members_key(st.stream, st.group)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(members, {st.token: now})
            pipe.zremrangebyscore(members, "-inf", now - self.lease_ms)
            pipe.zcard(members)
            pipe.pexpire(members, self.lease_ms * 2)
            for p in range(st.partitions):
                await run_script(
                    pipe, self._renew, [lease_key(st.stream, p, st.group)], [st.token, self.lease_ms]
                )
            _, _, live, _, *statuses = await pipe.execute()
        mine = {p for p, s in enumerate(statuses) if int(s) == 1}
        free = [p for p, s in enumerate(statuses) if int(s) == 0]
        share = math.ceil(st.partitions / max(1, int(live)))
        wanted = share - len(mine)
        if wanted > 0 and free:
            # start at a consumer-specific offset so two newcomers rarely race for the same partitions
            start = zlib.crc32(st.token.encode()) % len(free)
            candidates = (free[start:] + free[:start])[:wanted]
            async with self._redis.pipeline(transaction=False) as pipe:
                for p in candidates:
                    pipe.set(lease_key(st.stream, p, st.group), st.token, nx=True, px=self.lease_ms)
                got = await pipe.execute()
            acquired = {p for p, ok in zip(candidates, got, strict=True) if ok}
            mine |= acquired
            st.fresh |= acquired
            if acquired:
                st.changed.set()
                _interrupt(st)
        st.fresh &= mine
        st.owned = mine
        st.to_release = set(sorted(mine)[share:]) if len(mine) > share else set()

    async def _release_partitions(self, st: _Consumer) -> None:
        async with st.lock:
            release = sorted(st.to_release & st.owned)
            if not release:
                return
            await self._drop_inflight(st, [stream_key(st.stream, p) for p in release])
            async with self._redis.pipeline(transaction=False) as pipe:
                for p in release:
                    await run_script(pipe, self._release, [lease_key(st.stream, p, st.group)], [st.token])
                await pipe.execute()
            st.owned -= set(release)
            st.fresh -= set(release)
            st.to_release.clear()
            for bundle in [b for b in st.sizes if b[0] in release]:
                st.sizes.pop(bundle)
                st.progress.pop(bundle, None)

    async def _give_back(self, st: _Consumer) -> None:
        """A consumer ended: park its unacked entries for the group, release its leases."""
        if st.renewer is not None:
            st.renewer.cancel()
            with contextlib.suppress(BaseException):
                await st.renewer
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self._drop_inflight(st)  # before parking, so what they read is parked too
        if st.dead:
            return
        with contextlib.suppress(RedisError, OSError):
            names = [stream_key(st.stream, p) for p in range(st.partitions)]
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.xpending_range(name, st.group, "-", "+", 10_000, consumername=st.name)
                pending = await pipe.execute(raise_on_error=False)
            async with self._redis.pipeline(transaction=False) as pipe:
                for name, rows in zip(names, pending, strict=True):
                    if isinstance(rows, list) and rows:
                        ids = [row["message_id"] for row in rows]
                        pipe.xclaim(name, st.group, PARKED, 0, ids, idle=_PARK_IDLE_MS, justid=True)
                for p in range(st.partitions):  # bundles acked in part: the next consumer skips that part
                    done = {rid: n for (q, rid), n in st.progress.items() if q == p}
                    if done and not st.group.startswith(PROCESS_GROUP_PREFIX):
                        pipe.hset(progress_key(st.stream, p, st.group), mapping=done)
                if not st.shared:
                    for p in sorted(st.owned):
                        await run_script(pipe, self._release, [lease_key(st.stream, p, st.group)], [st.token])
                    pipe.zrem(members_key(st.stream, st.group), st.token)
                if st.group.startswith(PROCESS_GROUP_PREFIX):  # nobody else reads a process's group
                    for name in names:
                        pipe.xgroup_destroy(name, st.group)
                await pipe.execute(raise_on_error=False)
        st.owned.clear()

    # ---- operations ----------------------------------------------------------------------------------

    async def trim(self, stream: str) -> int:
        """Drop entries every group is done with (below each group's oldest pending or unread entry)."""
        removed = 0
        for p in range(self.partitions_of(stream)):
            name = stream_key(stream, p)
            try:
                groups = await self._redis.xinfo_groups(name)
            except ResponseError:
                continue  # no such stream
            if not groups:
                continue
            floor: tuple[int, int] | None = None
            for g in groups:
                if _s(g["name"]).startswith(PROCESS_GROUP_PREFIX) and await self._abandoned(name, g):
                    await self._redis.xgroup_destroy(name, g["name"])
                    continue
                summary = await self._redis.xpending(name, g["name"])
                ms, seq = _parse_id(_s(g["last-delivered-id"]))
                candidate = (ms, seq + 1)  # everything after the last delivered entry is unread
                if summary["pending"]:
                    candidate = min(candidate, _parse_id(_s(summary["min"])))
                floor = candidate if floor is None else min(floor, candidate)
            if floor is not None and floor > (0, 0):
                removed += int(
                    await self._redis.xtrim(name, minid=f"{floor[0]}-{floor[1]}", approximate=False)
                )
        return removed

    async def dead_letter(self, stream: str, entry: Entry, error: str) -> None:
        """XADD the event with its error to ``openlines:dead`` (capped at about DEAD_LETTERS_KEPT entries)."""
        fields: dict[str, bytes | str] = {
            "s": stream,
            "e": dumps(entry.event),
            "error": error[:4000],
            "n": str(entry.deliveries),
            "at": datetime.now(UTC).isoformat(),
        }
        if entry.key is not None:
            fields["k"] = entry.key
        await self._redis.xadd(DEAD_KEY, fields, maxlen=DEAD_LETTERS_KEPT, approximate=True)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Newest first (XREVRANGE)."""
        rows: list[tuple[Any, dict[Any, Any]]] = await self._redis.xrevrange(DEAD_KEY, count=limit)
        out = []
        for rid, raw in rows:
            f = {_s(k): v for k, v in raw.items()}
            out.append(
                DeadLetter(
                    _s(rid),
                    _s(f["s"]),
                    _s(f["k"]) if "k" in f else None,
                    loads(f["e"]),
                    _s(f["error"]),
                    int(_s(f["n"])),
                    _s(f["at"]),
                )
            )
        return out

    async def _abandoned(self, name: str, group: dict[str, Any]) -> bool:
        # a process group left by a crashed process: no consumer read it for process_group_ttl
        consumers = await self._redis.xinfo_consumers(name, group["name"])
        idle = min((int(c["idle"]) for c in consumers), default=None)
        return idle is not None and idle > self.process_group_ttl_ms

    def owned(self, stream: str, group: str) -> frozenset[int] | None:
        """The partitions this bus's consumer of the group holds (leases); None for an unpartitioned stream."""
        if self.partitions_of(stream) == 1:
            return None
        held: set[int] = set()
        for st in self._consumers:
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
        acked: dict[
            tuple[int, str], int
        ] = {}  # events of a pending entry not delivered, or delivered and acked
        for st in self._consumers:
            if st.stream == stream and st.group == group:
                for bundle, done in st.progress.items():
                    acked[bundle] = acked.get(bundle, 0) + done
                for e in st.buffer:
                    p, rid, _ = _entry_id(e.id)
                    acked[(p, rid)] = acked.get((p, rid), 0) + 1
        total = 0
        for p in range(self.partitions_of(stream)):
            name = stream_key(stream, p)
            try:
                summary = self._sync.xpending(name, group)
            except ResponseError:
                continue  # no such group
            if not int(summary["pending"]):
                continue
            rows = self._sync.xpending_range(name, group, "-", "+", int(summary["pending"]))
            for row in rows:
                if _s(row["consumer"]) == PARKED:
                    continue
                rid = _s(row["message_id"])
                found = self._sync.xrange(name, rid, rid)
                raw = found[0][1].get(b"b") if found else None
                total += (len(orjson.loads(raw)) if raw else 1) - acked.get((p, rid), 0)
        return total

    def abandon(self) -> None:
        """Simulate a crashed process (tests): stop lease renewal, give nothing back when consumers end."""
        for st in list(self._consumers):
            st.dead = True
            if st.renewer is not None:
                st.renewer.cancel()

    async def close(self) -> None:
        """End every consumer (giving back its unacked entries), then close the client."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        for st in self._consumers:
            _interrupt(st)
        cleanups = []
        for st in list(self._consumers):
            if st.cleanup is None:
                st.cleanup = asyncio.ensure_future(self._give_back(st))
            cleanups.append(st.cleanup)
        if cleanups:
            await asyncio.wait(cleanups, timeout=2.0)
        await self._redis.aclose()
        if self._sync is not None:
            self._sync.close()


def _interrupt(st: _Consumer) -> None:
    """End a consumer's blocking read now (it returns no entries; the consumer loop decides what next)."""
    if st.reading is not None and not st.reading.done():
        st.reading.cancel()


def _retrieve(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()


def _raise_if_cancelled() -> None:
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError()


def _parse_id(rid: str) -> tuple[int, int]:
    ms, _, seq = rid.partition("-")
    return int(ms), int(seq or 0)
