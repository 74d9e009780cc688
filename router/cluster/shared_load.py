"""The routing load that several router worker processes share: presence, each operator's slots, the epoch.

Two backends pass one contract suite (tests/contract/test_shared_load.py): `RedisSharedLoad`
(router/cluster/redis_load.py) for the multi-process topology and `MemorySharedLoad` (router/cluster/memory_load.py),
its in-process twin for one process and for tests. This module holds the protocol, the keys and the shared types.

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

from router.rules.fairness import Waiting

Kind = Literal["assigned", "offered"]

PRESENCE_KEY = "openlines:routing:presence"
# the oldest entries of a line's waiting order a worker reads (enough to weigh free slots)
WAITING_WINDOW = 200
EPOCH_KEY = "openlines:routing:epoch"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)


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


def to_ms(when: datetime) -> int:
    """Ms since the epoch of an aware time."""
    # a naive datetime would be read as local time by .timestamp(); refuse it rather than shift by the TZ offset
    if when.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return (when - _EPOCH) // MS  # integer arithmetic: no float rounding at ms boundaries


def from_ms(ms: int) -> datetime:
    """The aware UTC time of ms since the epoch."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def text(value: Any) -> str:
    """A Redis reply as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_hold(value: Any) -> tuple[Kind, int]:
    """A hold's stored value: its kind and when it was reserved (ms)."""
    kind, _, ms = text(value).partition("|")
    return cast(Kind, kind), int(ms)
