"""The shared routing load on Redis: one Lua script per change, so capacity holds however many workers race
(the protocol and the keys: router/cluster/shared_load.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from queues.redis_streams import redis_client, run_script
from router.cluster.shared_load import (
    EPOCH_KEY,
    MS,
    PRESENCE_KEY,
    WAITING_WINDOW,
    Hold,
    Load,
    Presence,
    from_ms,
    holds_key,
    last_key,
    parse_hold,
    tabs_key,
    text,
    to_ms,
    waiting_key,
)
from router.rules.fairness import Waiting

# KEYS: holds, last. ARGV: dialog id, kind, ms, limit ("" = none). Returns 1 when reserved, 0 when refused.
_RESERVE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and ARGV[4] ~= ''
   and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
if ARGV[2] == 'offered' then redis.call('SET', KEYS[2], ARGV[3]) end
return 1
"""

# KEYS: tabs. ARGV: process field ("" = none), "1" connected / "0" gone, want ("" = keep), now ms, ttl ms.
# Drops expired process fields; returns {presence, version, changed (1 when anything was written or dropped)}.
_TABS = """
local changed = 0
if ARGV[1] ~= '' then
  if ARGV[2] == '1' then
    if redis.call('HSET', KEYS[1], ARGV[1], tonumber(ARGV[4]) + tonumber(ARGV[5])) == 1 then changed = 1 end
  elseif redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then changed = 1 end
end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'want') ~= ARGV[3] then
  redis.call('HSET', KEYS[1], 'want', ARGV[3])
  changed = 1
end
local alive = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 2) == 'p:' then
    if tonumber(fields[i + 1]) < tonumber(ARGV[4]) then
      redis.call('HDEL', KEYS[1], fields[i])
      changed = 1
    else
      alive = alive + 1
    end
  end
end
local presence = 'offline'
if alive > 0 then presence = redis.call('HGET', KEYS[1], 'want') or 'online' end
local version = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if changed == 1 then version = redis.call('HINCRBY', KEYS[1], 'v', 1) end
return {presence, version, changed}
"""

# KEYS: holds. ARGV: dialog id, kind, dialog id, kind, ... Returns how many fields were removed.
_RELEASE = """
local removed = 0
for i = 1, #ARGV, 2 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v and string.match(v, '^([^|]*)|') == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    removed = removed + 1
  end
end
return removed
"""


class RedisSharedLoad:
    """SharedLoad on Redis; see the module docstring for keys and why the scripts make it race-free."""

    def __init__(self, url: str, *, cluster: bool = False) -> None:
        self._redis = redis_client(url, cluster=cluster)
        self._reserve = self._redis.register_script(_RESERVE)
        self._release = self._redis.register_script(_RELEASE)
        self._tabs = self._redis.register_script(_TABS)

    async def load(self, logins: Iterable[str], lines: Iterable[str] = ()) -> Load:
        """Presence, hold counts and last offer time of every given operator and the waiting order of `lines`,
        in one round trip."""
        names = list(dict.fromkeys(logins))
        line_ids = list(dict.fromkeys(lines))
        result = Load(presence={}, assigned={}, offered={}, last_offered_at={})
        if not names and not line_ids:
            return result
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(PRESENCE_KEY, names or ["-"])
            for login in names:
                pipe.hgetall(holds_key(login))
                pipe.get(last_key(login))
            for line_id in line_ids:
                pipe.zrange(waiting_key(line_id), 0, WAITING_WINDOW - 1, withscores=True)
            replies = await pipe.execute()
        for line_id, entries in zip(line_ids, replies[1 + 2 * len(names) :], strict=True):
            result.waiting[line_id] = sorted(Waiting(from_ms(int(ms)), text(i), line_id) for i, ms in entries)
        for login, status in zip(names, replies[0][: len(names)], strict=True):
            result.presence[login] = "offline" if status is None else text(status)
        for i, login in enumerate(names):
            held = replies[1 + 2 * i]
            result.placed.update(text(k) for k in held)
            kinds = [parse_hold(v)[0] for v in held.values()]
            result.assigned[login] = kinds.count("assigned")
            result.offered[login] = kinds.count("offered")
            last = replies[2 + 2 * i]
            if last is not None:
                result.last_offered_at[login] = from_ms(int(last))
        return result

    async def tab(
        self, login: str, process: str, connected: bool, want: str | None, now: datetime, ttl: timedelta
    ) -> Presence:
        """A web process got its first socket of an operator (or lost its last one), or the operator chose a status
        (`want`); their presence across every web process afterwards (one script on the operator's tabs key)."""
        args = [f"p:{process}", "1" if connected else "0", want or "", to_ms(now), ttl // MS]
        reply = await run_script(self._redis, self._tabs, [tabs_key(login)], args)
        return Presence(login, text(reply[0]), int(reply[1]))

    async def renew_tabs(self, logins: Iterable[str], process: str, now: datetime, ttl: timedelta) -> None:
        """A web process still has sockets of these operators: their fields live another `ttl` (one round trip)."""
        names = list(dict.fromkeys(logins))
        if not names:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for login in names:
                args = [f"p:{process}", "1", "", to_ms(now), ttl // MS]
                await run_script(pipe, self._tabs, [tabs_key(login)], args)
            await pipe.execute()

    async def expire_tabs(self, logins: Iterable[str], now: datetime) -> list[Presence]:
        """Drop the fields of web processes that stopped renewing them; the operators whose presence changed."""
        names = list(dict.fromkeys(logins))
        if not names:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for login in names:
                await run_script(pipe, self._tabs, [tabs_key(login)], ["", "0", "", to_ms(now), 0])
            replies = await pipe.execute()
        return [
            Presence(login, text(reply[0]), int(reply[1]))
            for login, reply in zip(names, replies, strict=True)
            if int(reply[2])
        ]

    async def set_waiting(self, add: Iterable[Waiting], remove: Iterable[Waiting]) -> None:
        """Put dialogs into their lines' waiting order (again: idempotent) and take others out: one ZADD and one
        ZREM per line, each on one key, in one round trip."""
        adds: dict[str, dict[str, int]] = {}
        removes: dict[str, list[str]] = {}
        for w in remove:
            removes.setdefault(w.line_id, []).append(w.dialog_id)
        for w in add:
            adds.setdefault(w.line_id, {})[w.dialog_id] = to_ms(w.since)
        if not adds and not removes:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for line_id, ids in removes.items():
                pipe.zrem(waiting_key(line_id), *ids)
            for line_id, members in adds.items():
                pipe.zadd(waiting_key(line_id), members)
            await pipe.execute()

    async def set_presence(self, login: str, status: str) -> None:
        """Set an operator's presence and bump the epoch."""
        # no MULTI: the two keys may live in different Cluster slots; a reader between them sees the new presence
        # with the old epoch, which only delays its re-route until the INCR lands
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(PRESENCE_KEY, login, status)
            pipe.incr(EPOCH_KEY)
            await pipe.execute()

    async def reserve(self, hold: Hold, limit: int | None, now: datetime) -> bool:
        """Take (or re-kind) a slot in one Lua script; False when the operator is at `limit`."""
        args: list[str | int] = [hold.dialog_id, hold.kind, to_ms(now), "" if limit is None else limit]
        reply = await run_script(
            self._redis, self._reserve, [holds_key(hold.login), last_key(hold.login)], args
        )
        return bool(reply)

    async def release(self, holds: Iterable[Hold]) -> None:
        """Drop holds whose stored kind matches; bump the epoch once if anything was removed."""
        by_login: dict[str, list[str]] = {}
        for hold in holds:
            by_login.setdefault(hold.login, []).extend((hold.dialog_id, hold.kind))
        if not by_login:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for login, args in by_login.items():
                await run_script(pipe, self._release, [holds_key(login)], args)
            removed = await pipe.execute()
        if any(int(n) for n in removed):
            await self._redis.incr(EPOCH_KEY)

    async def epoch(self) -> int:
        """The current epoch (0 before any change)."""
        value = await self._redis.get(EPOCH_KEY)
        return 0 if value is None else int(value)

    async def holds(self, logins: Iterable[str]) -> list[tuple[Hold, datetime]]:
        """Every hold of the given operators with when it was (re)reserved, by login then dialog id."""
        names = list(dict.fromkeys(logins))
        if not names:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for login in names:
                pipe.hgetall(holds_key(login))
            replies = await pipe.execute()
        result: list[tuple[Hold, datetime]] = []
        for login, fields in zip(names, replies, strict=True):
            for dialog_id, value in sorted((text(k), v) for k, v in fields.items()):
                kind, ms = parse_hold(value)
                result.append((Hold(login, dialog_id, kind), from_ms(ms)))
        return result

    async def close(self) -> None:
        """Close the Redis client."""
        await self._redis.aclose()
