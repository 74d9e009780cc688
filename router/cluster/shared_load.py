"""The routing load that several router worker processes share: presence, each operator's slots, the epoch.

Two backends pass one contract suite (tests/contract/test_shared_load.py): `RedisSharedLoad` for the
multi-process topology and `MemorySharedLoad`, its in-process twin for one process and for tests.

Keys (Redis):

- ``openlines:op:{<login>}:holds``: a hash of the slots operator <login> holds; field = dialog id, value =
  ``"<kind>|<ms>"`` (kind "assigned" or "offered", ms = when the slot was last reserved, ms since the epoch).
- ``openlines:op:{<login>}:last``: when a dialog was last offered to <login> (ms), for least-recently-offered
  ordering. Same hash tag as the holds key, so one script may touch both on a Redis Cluster.
- ``openlines:routing:presence``: a hash login -> "online" | "away" | "offline" (absent = offline).
- ``openlines:routing:epoch``: a counter bumped by every change that can free capacity or change who may take
  work (presence, a release), so a worker that routed against an older epoch knows to look again.
- ``openlines:op:{<login>}:tabs``: where operator <login>'s consoles are open, for several web processes: a
  hash with a field ``p:<process>`` per web process that has one of their sockets (value: when it expires, ms;
  each process renews its fields every third of `queue.presence_ttl`), ``want`` (the status they chose: online or
  away, for all their tabs) and ``v`` (a number bumped by every change). Their presence is `want` while any
  process field is alive, offline when none is: closing one of two tabs on different web processes leaves them
  online, and a web process that died takes its tabs with it once its fields expire. Every change is one script
  on this key, which returns the presence and that number; the router applies a presence event only if its
  number is newer than the last one it applied (two processes may publish in the other order than they wrote).
- ``openlines:line:{<line_id>}:waiting``: a sorted set of the line's dialogs that wait with nobody offered them
  (member = dialog id, score = when it started waiting, ms): one queue order across workers, so that the worker
  whose dialog has waited longest gets a freed slot (`router/rules/fairness.py`). Each worker adds and removes its own
  dialogs after the commit that queued or placed them.

Logins are slugs (``router/app/settings.py``: no braces, never empty), so ``{<login>}`` is always a real hash tag.

Protocol. A worker decides from `load()` whom to offer or assign a dialog to, then claims the slot with
`reserve(hold, limit, now)`. `load()` is only a hint, possibly stale by the time it arrives; `reserve` is the
decision. It is one Lua script on one key (plus the same-slot ``:last`` key), and Redis runs a script with
nothing interleaved, so "count the operator's fields, compare with the limit, add the field" is one indivisible
step: two workers racing for an operator's last slot are serialised by Redis, the second sees the first's field
and is refused. That is why capacity can never be exceeded, however many workers or clients reserve at once.
Re-reserving a dialog the operator already holds (an accepted offer becoming an assignment) replaces the field
without the capacity check: the slot is already counted, so the count does not change.

`release(holds)` removes a field only if its stored kind is the released hold's kind, again inside a script, so
a late release of an old "offered" hold cannot remove the "assigned" hold that replaced it.

Which worker may write a dialog is not decided here: the store refuses a write of a dialog at a version other than
the one its worker read (router/cluster/fence.py), in the transaction that commits the batch.

`holds()` returns every slot with its reserve time, for a sweep that releases slots left by a crashed worker.
`load()` reads everything in one non-transactional pipeline: one round trip, and valid on a Cluster, where a
MULTI could not span the operators' slots.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, cast

from queues.redis_streams import redis_client, run_script

Kind = Literal["assigned", "offered"]

PRESENCE_KEY = "openlines:routing:presence"
# the oldest entries of a line's waiting order a worker reads (enough to weigh free slots)
WAITING_WINDOW = 200
EPOCH_KEY = "openlines:routing:epoch"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

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


@dataclass(frozen=True, slots=True)
class Hold:
    """A slot an operator holds for one dialog."""

    login: str
    dialog_id: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class Presence:
    """An operator's presence across web processes, with the number of the change that made it."""

    login: str
    status: str  # online | away | offline
    seq: int


@dataclass(frozen=True, slots=True)
class Load:
    """What routing reads about every operator."""

    presence: dict[str, str]  # login -> "online" | "away" | "offline" (absent = offline)
    assigned: dict[str, int]  # login -> number of "assigned" holds
    offered: dict[str, int]  # login -> number of "offered" holds
    last_offered_at: dict[str, datetime]  # login -> when a dialog was last offered to them (aware UTC)
    # line id -> its oldest waiting dialogs (at most WAITING_WINDOW), oldest first, every worker's
    waiting: dict[str, list[Waiting]] = field(default_factory=dict)
    # ids of the dialogs that hold a slot of the given operators
    placed: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True, order=True)
class Waiting:
    """A dialog waiting in its line's queue with nobody offered it; entries sort oldest first."""

    since: datetime  # when it started waiting (the dialog's queued_since)
    dialog_id: str
    line_id: str = field(compare=False)


class SharedLoad(Protocol):
    """The shared routing load; see the module docstring for the protocol."""

    async def load(self, logins: Iterable[str], lines: Iterable[str] = ()) -> Load:
        """Presence, hold counts and last offer time of every given operator; the waiting order of `lines`."""
        ...

    async def set_waiting(self, add: Iterable[Waiting], remove: Iterable[Waiting]) -> None:
        """Put dialogs into their lines' waiting order (again: idempotent) and take others out."""
        ...

    async def set_presence(self, login: str, status: str) -> None:
        """Set an operator's presence and bump the epoch."""
        ...

    async def tab(
        self, login: str, process: str, connected: bool, want: str | None, now: datetime, ttl: timedelta
    ) -> Presence:
        """A web process got its first socket of an operator (or lost its last one), or the operator chose a status
        (`want`); their presence across every web process afterwards."""
        ...

    async def renew_tabs(self, logins: Iterable[str], process: str, now: datetime, ttl: timedelta) -> None:
        """A web process still has sockets of these operators: their fields live another `ttl`."""
        ...

    async def expire_tabs(self, logins: Iterable[str], now: datetime) -> list[Presence]:
        """Drop the fields of web processes that stopped renewing them; the operators whose presence changed."""
        ...

    async def reserve(self, hold: Hold, limit: int | None, now: datetime) -> bool:
        """Take (or re-kind) a slot atomically; False when the operator is at `limit`."""
        ...

    async def release(self, holds: Iterable[Hold]) -> None:
        """Drop holds whose stored kind matches; bump the epoch once if anything was removed."""
        ...

    async def epoch(self) -> int:
        """The current epoch (0 before any change)."""
        ...

    async def holds(self, logins: Iterable[str]) -> list[tuple[Hold, datetime]]:
        """Every hold of the given operators with when it was (re)reserved."""
        ...

    async def close(self) -> None:
        """Release the backend's resources."""
        ...


def holds_key(login: str) -> str:
    """The hash of an operator's holds (hash-tagged by login)."""
    return f"openlines:op:{{{login}}}:holds"


def tabs_key(login: str) -> str:
    """Where an operator's consoles are open (same hash tag as their holds)."""
    return f"openlines:op:{{{login}}}:tabs"


def waiting_key(line_id: str) -> str:
    """A line's waiting order (hash-tagged by line id; line ids are slugs, so the tag is always real)."""
    return f"openlines:line:{{{line_id}}}:waiting"


def last_key(login: str) -> str:
    """When a dialog was last offered to an operator (same hash tag as its holds)."""
    return f"openlines:op:{{{login}}}:last"


def _ms(when: datetime) -> int:
    # a naive datetime would be read as local time by .timestamp(); refuse it rather than shift by the TZ offset
    if when.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return (when - _EPOCH) // _MS  # integer arithmetic: no float rounding at ms boundaries


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(value: Any) -> tuple[Kind, int]:
    kind, _, ms = _s(value).partition("|")
    return cast(Kind, kind), int(ms)


class MemorySharedLoad:
    """SharedLoad in one process's memory: no await inside a method, so each method is atomic."""

    def __init__(self) -> None:
        self._presence: dict[str, str] = {}
        self._holds: dict[str, dict[str, tuple[Kind, int]]] = {}
        self._last: dict[str, int] = {}
        self._waiting: dict[str, dict[str, int]] = {}
        self._tabs: dict[str, dict[str, int]] = {}  # login -> process -> expiry ms
        self._want: dict[str, str] = {}
        self._tab_version: dict[str, int] = {}
        self._epoch = 0

    async def load(self, logins: Iterable[str], lines: Iterable[str] = ()) -> Load:
        """Presence, hold counts and last offer time of every given operator; the waiting order of `lines`."""
        result = Load(presence={}, assigned={}, offered={}, last_offered_at={})
        for line_id in dict.fromkeys(lines):
            entries = sorted((ms, dialog_id) for dialog_id, ms in self._waiting.get(line_id, {}).items())
            result.waiting[line_id] = [Waiting(_dt(ms), i, line_id) for ms, i in entries[:WAITING_WINDOW]]
        for login in logins:
            result.presence[login] = self._presence.get(login, "offline")
            kinds = [kind for kind, _ in self._holds.get(login, {}).values()]
            result.placed.update(self._holds.get(login, {}))
            result.assigned[login] = kinds.count("assigned")
            result.offered[login] = kinds.count("offered")
            if login in self._last:
                result.last_offered_at[login] = _dt(self._last[login])
        return result

    def _tabs_change(
        self, login: str, process: str | None, connected: bool, want: str | None, now_ms: int, ttl_ms: int
    ) -> tuple[Presence, bool]:
        tabs = self._tabs.setdefault(login, {})
        changed = False
        if process is not None:
            if connected:
                changed = process not in tabs
                tabs[process] = now_ms + ttl_ms
            elif tabs.pop(process, None) is not None:
                changed = True
        if want is not None and self._want.get(login) != want:
            self._want[login] = want
            changed = True
        for name in [name for name, expiry in tabs.items() if expiry < now_ms]:
            del tabs[name]
            changed = True
        if changed:
            self._tab_version[login] = self._tab_version.get(login, 0) + 1
        status = self._want.get(login, "online") if tabs else "offline"
        return Presence(login, status, self._tab_version.get(login, 0)), changed

    async def tab(
        self, login: str, process: str, connected: bool, want: str | None, now: datetime, ttl: timedelta
    ) -> Presence:
        """A web process got its first socket of an operator (or lost its last one), or the operator chose a status
        (`want`); their presence across every web process afterwards."""
        return self._tabs_change(login, process, connected, want, _ms(now), ttl // _MS)[0]

    async def renew_tabs(self, logins: Iterable[str], process: str, now: datetime, ttl: timedelta) -> None:
        """A web process still has sockets of these operators: their fields live another `ttl`."""
        for login in logins:
            self._tabs_change(login, process, True, None, _ms(now), ttl // _MS)

    async def expire_tabs(self, logins: Iterable[str], now: datetime) -> list[Presence]:
        """Drop the fields of web processes that stopped renewing them; the operators whose presence changed."""
        out = []
        for login in dict.fromkeys(logins):
            presence, changed = self._tabs_change(login, None, False, None, _ms(now), 0)
            if changed:
                out.append(presence)
        return out

    async def set_waiting(self, add: Iterable[Waiting], remove: Iterable[Waiting]) -> None:
        """Put dialogs into their lines' waiting order (again: idempotent) and take others out."""
        for w in remove:
            self._waiting.get(w.line_id, {}).pop(w.dialog_id, None)
        for w in add:
            self._waiting.setdefault(w.line_id, {})[w.dialog_id] = _ms(w.since)

    async def set_presence(self, login: str, status: str) -> None:
        """Set an operator's presence and bump the epoch."""
        self._presence[login] = status
        self._epoch += 1

    async def reserve(self, hold: Hold, limit: int | None, now: datetime) -> bool:
        """Take (or re-kind) a slot; False when the operator is at `limit`."""
        ms = _ms(now)
        held = self._holds.setdefault(hold.login, {})
        if hold.dialog_id not in held and limit is not None and len(held) >= limit:
            return False
        held[hold.dialog_id] = (hold.kind, ms)
        if hold.kind == "offered":
            self._last[hold.login] = ms
        return True

    async def release(self, holds: Iterable[Hold]) -> None:
        """Drop holds whose stored kind matches; bump the epoch once if anything was removed."""
        removed = False
        for hold in holds:
            held = self._holds.get(hold.login, {})
            current = held.get(hold.dialog_id)
            if current is not None and current[0] == hold.kind:
                del held[hold.dialog_id]
                removed = True
        if removed:
            self._epoch += 1

    async def epoch(self) -> int:
        """The current epoch (0 before any change)."""
        return self._epoch

    async def holds(self, logins: Iterable[str]) -> list[tuple[Hold, datetime]]:
        """Every hold of the given operators with when it was (re)reserved, by login then dialog id."""
        return [
            (Hold(login, dialog_id, kind), _dt(ms))
            for login in dict.fromkeys(logins)
            for dialog_id, (kind, ms) in sorted(self._holds.get(login, {}).items())
        ]

    async def close(self) -> None:
        """Nothing to release."""


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
            result.waiting[line_id] = sorted(Waiting(_dt(int(ms)), _s(i), line_id) for i, ms in entries)
        for login, status in zip(names, replies[0][: len(names)], strict=True):
            result.presence[login] = "offline" if status is None else _s(status)
        for i, login in enumerate(names):
            held = replies[1 + 2 * i]
            result.placed.update(_s(k) for k in held)
            kinds = [_parse(v)[0] for v in held.values()]
            result.assigned[login] = kinds.count("assigned")
            result.offered[login] = kinds.count("offered")
            last = replies[2 + 2 * i]
            if last is not None:
                result.last_offered_at[login] = _dt(int(last))
        return result

    async def tab(
        self, login: str, process: str, connected: bool, want: str | None, now: datetime, ttl: timedelta
    ) -> Presence:
        """A web process got its first socket of an operator (or lost its last one), or the operator chose a status
        (`want`); their presence across every web process afterwards (one script on the operator's tabs key)."""
        args = [f"p:{process}", "1" if connected else "0", want or "", _ms(now), ttl // _MS]
        reply = await run_script(self._redis, self._tabs, [tabs_key(login)], args)
        return Presence(login, _s(reply[0]), int(reply[1]))

    async def renew_tabs(self, logins: Iterable[str], process: str, now: datetime, ttl: timedelta) -> None:
        """A web process still has sockets of these operators: their fields live another `ttl` (one round trip)."""
        names = list(dict.fromkeys(logins))
        if not names:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for login in names:
                args = [f"p:{process}", "1", "", _ms(now), ttl // _MS]
                await run_script(pipe, self._tabs, [tabs_key(login)], args)
            await pipe.execute()

    async def expire_tabs(self, logins: Iterable[str], now: datetime) -> list[Presence]:
        """Drop the fields of web processes that stopped renewing them; the operators whose presence changed."""
        names = list(dict.fromkeys(logins))
        if not names:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for login in names:
                await run_script(pipe, self._tabs, [tabs_key(login)], ["", "0", "", _ms(now), 0])
            replies = await pipe.execute()
        return [
            Presence(login, _s(reply[0]), int(reply[1]))
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
            adds.setdefault(w.line_id, {})[w.dialog_id] = _ms(w.since)
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
        args: list[str | int] = [hold.dialog_id, hold.kind, _ms(now), "" if limit is None else limit]
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
            for dialog_id, value in sorted((_s(k), v) for k, v in fields.items()):
                kind, ms = _parse(value)
                result.append((Hold(login, dialog_id, kind), _dt(ms)))
        return result

    async def close(self) -> None:
        """Close the Redis client."""
        await self._redis.aclose()
