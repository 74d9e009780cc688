"""Message allowances shared by every web process: the token buckets of `connectors.ratelimit` kept in Redis.

Why: behind one port several web processes each take a share of the connections, so buckets in each process's
memory let a client spread over N of them send N times its limit. Here a bucket is one string key,
``openlines:limit:{KEY}`` ("TOKENS STAMP_MS"), read and written only by one Lua script, so concurrent takes from
several processes never both spend the last token. The takes a process makes while its call is in flight go
together in its next call (one round trip per turn). The key's own hash tag puts each bucket on its slot of a
Redis Cluster; there the buckets of one take are taken one at a time and given back when a later one refuses (on
one Redis the script takes from all or none). A bucket expires once it would have refilled, so idle clients cost
nothing. Time is the callers' wall clock (the web processes' clocks are kept in step by NTP, as the bus's members
set already needs); a clock behind the bucket's refills nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from connectors.ratelimit import Rate
from queues.redis_streams import redis_client

# One call decides many takes in order, each from all of its buckets or from none (a bucket named twice sees the
# first take's spending). KEYS: every bucket of every take, in order. ARGV[1]: now (ms); ARGV[2]: the cost (-1
# gives a token back); then per take its bucket count and per bucket its tokens per ms and burst. Returns per
# take "0" when taken, else the longest wait in ms (strings: Redis would truncate numbers).
_TAKE = """
local now, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local buckets, out = {}, {}
local a, k = 3, 1
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  a = a + 1
  local rows, wait = {}, 0
  for i = 1, n do
    local key, rate, burst = KEYS[k], tonumber(ARGV[a]), tonumber(ARGV[a + 1])
    k, a = k + 1, a + 2
    local b = buckets[key]
    if not b then
      local got = redis.call('GET', key)
      b = {level = burst, stamp = now, rate = rate, burst = burst, spent = false}
      if got then
        local sep = string.find(got, ' ', 1, true)
        local level, stamp = tonumber(string.sub(got, 1, sep - 1)), tonumber(string.sub(got, sep + 1))
        b.level = math.min(burst, level + math.max(0, now - stamp) * rate)
        b.stamp = math.max(stamp, now)
      end
      buckets[key] = b
    end
    rows[i] = b
    if b.level < cost then wait = math.max(wait, (cost - b.level) / b.rate) end
  end
  if wait == 0 then
    for i = 1, n do
      rows[i].level = math.min(rows[i].burst, rows[i].level - cost)
      rows[i].spent = true
    end
  end
  out[#out + 1] = string.format('%.17g', wait)
end
for key, b in pairs(buckets) do
  if b.spent then
    local ttl = math.ceil((b.burst - b.level) / b.rate) + 1000
    redis.call('SET', key, string.format('%.17g %.17g', b.level, b.stamp), 'PX', ttl)
  end
end
return out
"""
GROUP_MAX = 500  # takes per call: more wait for the next one


def bucket_key(key: str) -> str:
    """The Redis key of a bucket (its own Cluster hash tag; braces in `key` are dropped)."""
    return "openlines:limit:{" + key.replace("{", "").replace("}", "") + "}"


class RedisLimits:
    """`Limits` shared through Redis (see the module docstring). The takes made while a call is in flight go
    together in the next one (one round trip per turn, not per message), as the bus groups its writes."""

    def __init__(self, url: str, *, cluster: bool = False) -> None:
        self.cluster = cluster
        self._redis = redis_client(url, cluster=cluster)
        self._script = self._redis.register_script(_TAKE)
        self._queue: list[tuple[Sequence[tuple[str, Rate]], float, asyncio.Future[float]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def take(self, buckets: Sequence[tuple[str, Rate]], now: float) -> float:
        """One token from every bucket or from none (see `Limits.take`)."""
        if self.cluster:
            return await self._take_apart(buckets, now)
        done = asyncio.get_running_loop().create_future()
        self._queue.append((buckets, now, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await done

    async def _write(self) -> None:
        while self._queue:
            group, self._queue = self._queue[:GROUP_MAX], self._queue[GROUP_MAX:]
            try:
                waits = await self._call([b for b, _, _ in group], max(now for _, now, _ in group), 1)
            except Exception as exc:  # Redis away: every take of the group fails (the caller refuses)
                for _, _, done in group:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (_, _, done), wait in zip(group, waits, strict=True):
                if not done.done():
                    done.set_result(wait)

    async def _take_apart(self, buckets: Sequence[tuple[str, Rate]], now: float) -> float:
        # a Redis Cluster: one slot per script, so one bucket at a time, the ones taken given back on a refusal
        taken: list[tuple[str, Rate]] = []
        for bucket in buckets:
            (wait,) = await self._call([[bucket]], now, 1)
            if wait:
                for back in taken:
                    await self._call([[back]], now, -1)
                return wait
            taken.append(bucket)
        return 0.0

    async def _call(self, takes: Sequence[Sequence[tuple[str, Rate]]], now: float, cost: int) -> list[float]:
        keys: list[str] = []
        args: list[Any] = [repr(now * 1000.0), cost]
        for buckets in takes:
            args.append(len(buckets))
            for key, rate in buckets:
                keys.append(bucket_key(key))
                args += [repr(rate.per_second / 1000.0), repr(float(rate.burst))]
        waits = await self._script(keys=keys, args=args)
        return [float(w) / 1000.0 for w in waits]

    async def close(self) -> None:
        """Close the client."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        await self._redis.aclose()
