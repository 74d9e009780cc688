"""The consumer loop of the Redis bus (`RedisBus.consume`): each step releases, claims and reads; a consumer that
ends gives back what it holds.

`consume` creates the group on every partition if missing (``XGROUP CREATE … 0 MKSTREAM``: events published
before the group existed are delivered; a process's own group, "web-…" (`queues.bus.process_group`), starts at
``$`` instead and is destroyed when its consumer ends). Each step of the consumer loop:

1. The previous batch was not acked → it is marked stale (a late ``ack()`` of it is a no-op, as in the memory
   bus) and the consumer re-reads its own pending entries first (``XREADGROUP … 0``; Redis counts the delivery).
2. Claims: on a partition just acquired, every pending entry of other consumers is claimed at once (only a
   former owner can have any); on every owned partition, every claim_timeout / 2, entries idle longer than
   claim_timeout (``XAUTOCLAIM … JUSTID``, which does not count a delivery) — then they are read as own pending
   entries, as in 1. This is how a dead consumer's unacked batch reaches another consumer of the group.
3. New entries: ``XREADGROUP … BLOCK`` over the owned partitions (``>``), at most `max_batch` per batch (what a
   read returns beyond that is kept for the next batch).

A read that got less than `max_batch` waits `max_wait` and takes what came meanwhile (without blocking) into the
same batch, as the memory bus does: a trickle becomes one batch (one commit, one publish) instead of several (not
on a Cluster, where reads go partition by partition).

A consumer that ends (aclose, break, an exception, cancellation) "gives back" its unacked entries: they are
moved to the parking consumer ``~parked`` with a large idle time (``XCLAIM … IDLE … JUSTID``), so the next claim by
any consumer of the group takes them at once, and its leases are released. `pending_count` does not count
parked entries (they are "ready" again, as in the memory bus). A crashed process parks nothing: its entries wait
for the claim timeout (or its partitions' takeover).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from redis.exceptions import RedisError

from queues.bus import PROCESS_GROUP_PREFIX, Batch, Entry
from queues.redis_client import OUTAGE, end_tasks, pause, raise_if_cancelled
from queues.redis_consumer import ConsumerState
from queues.redis_keys import PARKED, progress_key, stream_key
from queues.redis_leases import Leases
from queues.redis_pending import PendingEntries
from queues.redis_reads import Reader

log = logging.getLogger("queues.redis_streams")  # the bus's one logger, whichever part of it logs

_PARK_IDLE_MS = 10**12  # idle time of a parked entry: older than any claim timeout


RENEWER_CANCELS = 3  # cancellations of a consumer's lease renewal before its give-back goes on without it
RENEWER_WAIT_S = 1.0  # seconds each of them may take


class Delivery:
    """The consumers of a bus: their loops, and what each gives back when it ends."""

    def __init__(
        self,
        client: Any,
        *,
        cluster: bool,
        claim_ms: int,
        partitions_of: Callable[[str], int],
        closing: asyncio.Event,
        leases: Leases,
        reader: Reader,
        pending: PendingEntries,
    ) -> None:
        self._redis = client
        self._cluster = cluster
        self._claim_ms = claim_ms
        self._partitions_of = partitions_of
        self._closing = closing
        self._leases = leases
        self._reader = reader
        self._pending = pending
        self.consumers: set[ConsumerState] = set()

    async def consume(
        self, stream: str, group: str, consumer: str, *, max_batch: int, max_wait: float
    ) -> AsyncIterator[Batch]:
        """Yield batches of the partitions this consumer owns; an unacked batch comes back first."""
        if self._closing.is_set():
            return
        st = ConsumerState(stream, group, consumer, self._partitions_of(stream))
        st.linger = max_wait
        self.consumers.add(st)
        last: Batch | None = None
        buffer = st.buffer
        need_history = True  # entries left in our PEL by an earlier consumer of the same name
        ready = False  # the groups exist and the consumer is registered
        outages = 0
        try:
            while not self._closing.is_set():
                raise_if_cancelled()  # a cancellation some library call swallowed still ends the loop
                if last is not None and not last.acked:
                    last.acked = True  # stale: a late ack must not ack the redelivered copies
                    need_history = True
                    buffer.clear()  # re-read with the rest of the PEL
                last = None
                try:
                    if not ready:
                        # again after an outage: a Redis restarted without its data has no groups
                        await self.create_groups(st)
                        if not st.shared:
                            await self._leases.heartbeat(st)
                            if st.renewer is None:
                                st.renewer = asyncio.create_task(self._leases.renew_loop(st))
                        ready = True
                    step = await self._next_entries(st, max_batch, need_history, buffer)
                except OUTAGE as exc:
                    raise_if_cancelled()  # a timeout that was really our cancellation
                    outages += 1
                    log.warning("redis unreachable for %s/%s (%s): retrying", st.stream, st.group, exc)
                    ready, need_history, st.need_claim = False, True, True
                    buffer.clear()
                    await pause(self._closing, min(5.0, 0.1 * 2**outages))
                    continue
                except Exception:
                    if self._closing.is_set():
                        # the bus closed its clients under this read (redis-py's cluster client can then fail
                        # anywhere inside, even with an AttributeError): the consumer ends, as it would have
                        break
                    raise
                outages = 0
                if step is None:
                    need_history = True
                    continue
                entries, need_history = step
                if not entries:
                    continue

                async def _ack(acked: list[Entry], st: ConsumerState = st) -> None:
                    await self._pending.ack(st, acked)

                last = Batch(entries, _ack)
                yield last
        except RedisError:
            if not self._closing.is_set():
                raise
        finally:
            self.consumers.discard(st)
            if st.cleanup is None:
                st.cleanup = asyncio.ensure_future(self.give_back(st))
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(st.cleanup)

    async def _next_entries(
        self, st: ConsumerState, max_batch: int, need_history: bool, buffer: list[Entry]
    ) -> tuple[list[Entry], bool] | None:
        """One step of the consumer loop: release, claim, read (see the module docstring). Returns the entries
        and whether own pending entries are still to be re-read; None when a read was interrupted."""
        if not need_history and not buffer and st.to_release:
            await self._leases.release_surplus(st)
        if not st.owned:
            await pause(self._closing, self._leases.renew_interval)
            return [], need_history
        now = time.monotonic()
        if st.fresh or st.need_claim or now >= st.next_claim:
            if await self._pending.claim(st, max_batch):
                need_history = True
                buffer.clear()  # read but not delivered: in our PEL, so the re-read brings it, in order
                st.need_claim = True  # maybe more to claim
            else:
                st.need_claim = False
            st.next_claim = now + self._claim_ms / 2000
        # what was read and not yet delivered first (it is empty whenever the PEL is to be re-read), then the PEL,
        # then new entries; what a read brings beyond max_batch events waits in the buffer
        if buffer:
            entries, buffer[:] = buffer[:max_batch], buffer[max_batch:]
            return entries, need_history
        read: list[Entry] | None = []
        if need_history:
            read = await self._reader.read_pending(st, max_batch)
            if not read:
                need_history = False
        if not read:
            read = await self._reader.read_new(st, max_batch)
            if read is None:
                return None
            if 0 < len(read) < max_batch and st.linger > 0 and not self._cluster:
                # a trickle: wait a moment for more and take them with it (one batch, one commit, not several)
                await asyncio.sleep(st.linger)
                read += await self._reader.read_more(st, max_batch - len(read))
        entries, buffer[:] = read[:max_batch], read[max_batch:]
        return entries, need_history

    async def create_groups(self, st: ConsumerState) -> None:
        """Create the consumer's group on every partition, unless it exists."""
        async with self._redis.pipeline(transaction=False) as pipe:
            start = "$" if st.group.startswith(PROCESS_GROUP_PREFIX) else "0"
            for p in range(st.partitions):
                pipe.xgroup_create(stream_key(st.stream, p), st.group, id=start, mkstream=True)
            results = await pipe.execute(raise_on_error=False)
        for r in results:
            if isinstance(r, Exception) and "BUSYGROUP" not in str(r):
                raise r

    async def give_back(self, st: ConsumerState) -> None:
        """A consumer ended: park its unacked entries for the group, release its leases."""
        if st.renewer is not None:
            await _end(st.renewer, f"lease renewal of {st.stream}/{st.group}")
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await st.drop_inflight()  # before parking, so what they read is parked too
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
                    done = st.bundles.saved(p)
                    if done and not st.group.startswith(PROCESS_GROUP_PREFIX):
                        pipe.hset(progress_key(st.stream, p, st.group), mapping=done)
                if not st.shared:
                    await self._leases.queue_release_all(pipe, st)
                if st.group.startswith(PROCESS_GROUP_PREFIX):  # nobody else reads a process's group
                    for name in names:
                        pipe.xgroup_destroy(name, st.group)
                await pipe.execute(raise_on_error=False)
        st.owned.clear()

    async def close(self) -> None:
        """End every consumer, giving back its unacked entries (`closing` is set already)."""
        for st in self.consumers:
            st.interrupt()
        cleanups = []
        for st in list(self.consumers):
            if st.cleanup is None:
                st.cleanup = asyncio.ensure_future(self.give_back(st))
            cleanups.append(st.cleanup)
        if cleanups:
            await asyncio.wait(cleanups, timeout=2.0)


async def _end(task: asyncio.Task[None], what: str) -> None:
    """Cancel a helper task and wait for it, a bounded time (see `end_tasks`)."""
    if await end_tasks([task], tries=RENEWER_CANCELS, wait=RENEWER_WAIT_S):
        log.warning("%s did not end when cancelled", what)
