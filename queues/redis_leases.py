"""Partition leases on the Redis bus: which consumer of a group reads which partition of a partitioned stream.

P > 1 ("partitioned", the "inbound" stream): every `consume()` runs a background task that heartbeats into the
members set and, every lease_time / 3, renews the leases it holds (a Lua compare-and-PEXPIRE), takes free
(expired) leases while it holds fewer than ceil(P / live members), and marks those above that share for release.
A partition is released by the consumer loop only between batches, when nothing of it is in flight (its PEL is
empty), so a rebalance never splits one key's events between two workers. A consumer that dies stops renewing:
its leases expire after lease_time and its members entry after lease_time, so a survivor takes its partitions
within about 1.33 × lease_time (and claims its pending entries at once: a partition acquired is "fresh" until the
consumer loop has claimed it, queues/redis_delivery.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from typing import Any

from queues.redis_client import raise_if_cancelled, run_script
from queues.redis_consumer import ConsumerState
from queues.redis_keys import lease_key, members_key, stream_key

log = logging.getLogger("queues.redis_streams")  # the bus's one logger, whichever part of it logs

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


class Leases:
    """Takes, renews and releases the partition leases of a bus's consumers, and heartbeats their members set."""

    def __init__(self, client: Any, *, lease_ms: int, renew_interval: float) -> None:
        self._redis = client
        self.lease_ms = lease_ms
        self.renew_interval = renew_interval
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def heartbeat(self, st: ConsumerState) -> None:
        """Renew (and take) the consumer's leases once, now."""
        async with st.lock:
            await self._renew_once(st)

    async def renew_loop(self, st: ConsumerState) -> None:
        """Renew the consumer's leases every renew_interval, until cancelled."""
        last_ok = time.monotonic()
        while True:
            await asyncio.sleep(self.renew_interval)
            try:
                async with st.lock:
                    await self._renew_once(st)
                last_ok = time.monotonic()
            except Exception as exc:
                raise_if_cancelled()  # redis-py surfaced our cancellation as an error: end, or give_back waits forever
                log.warning("lease renewal of %s/%s failed: %s", st.stream, st.group, exc)
                if time.monotonic() - last_ok > self.lease_ms / 1000:
                    st.owned.clear()  # can't be sure we still hold them: stop reading
                    st.fresh.clear()
                    st.to_release.clear()

    async def _renew_once(self, st: ConsumerState) -> None:
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
                st.interrupt()
        st.fresh &= mine
        st.owned = mine
        st.to_release = set(sorted(mine)[share:]) if len(mine) > share else set()

    async def release_surplus(self, st: ConsumerState) -> None:
        """Release the partitions marked for release (above the consumer's share) that it still owns."""
        async with st.lock:
            release = sorted(st.to_release & st.owned)
            if not release:
                return
            await st.drop_inflight([stream_key(st.stream, p) for p in release])
            async with self._redis.pipeline(transaction=False) as pipe:
                for p in release:
                    await run_script(pipe, self._release, [lease_key(st.stream, p, st.group)], [st.token])
                await pipe.execute()
            st.owned -= set(release)
            st.fresh -= set(release)
            st.to_release.clear()
            st.bundles.drop(release)

    async def queue_release_all(self, pipe: Any, st: ConsumerState) -> None:
        """Queue on `pipe` the release of every lease the consumer owns and its removal from the members set."""
        for p in sorted(st.owned):
            await run_script(pipe, self._release, [lease_key(st.stream, p, st.group)], [st.token])
        pipe.zrem(members_key(st.stream, st.group), st.token)
