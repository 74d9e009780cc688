"""Token buckets and a flood guard: pure decisions that take `now` (monotonic seconds) from the caller."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


@dataclass(frozen=True)
class Rate:
    """A sustained rate with a burst: `per_second` tokens flow into a bucket that holds at most `burst`."""

    per_second: float
    burst: float

    @classmethod
    def per_minute(cls, count: float, burst: float) -> Rate:
        """`count` a minute sustained, up to `burst` at once."""
        return cls(count / 60.0, burst)


class TokenBucket:
    """One client's allowance: starts full, each accepted event takes a token, tokens come back at the rate."""

    __slots__ = ("rate", "stamp", "tokens")

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = rate.burst
        self.stamp = now

    def level(self, now: float) -> float:
        """Tokens available at `now` (a clock that steps back refills nothing)."""
        elapsed = max(0.0, now - self.stamp)
        return min(self.rate.burst, self.tokens + elapsed * self.rate.per_second)

    def wait(self, now: float, cost: float = 1.0) -> float:
        """Seconds until `cost` tokens are available; 0 when they are now."""
        missing = cost - self.level(now)
        return 0.0 if missing <= 0 else missing / self.rate.per_second

    def spend(self, now: float, cost: float = 1.0) -> None:
        """Take `cost` tokens (the caller checked `wait` first)."""
        self.tokens = self.level(now) - cost
        self.stamp = max(self.stamp, now)

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Take `cost` tokens if there are enough."""
        if self.wait(now, cost) > 0:
            return False
        self.spend(now, cost)
        return True

    def is_full(self, now: float) -> bool:
        """A full bucket is indistinguishable from a new one, so forgetting it loses nothing."""
        return self.level(now) >= self.rate.burst


def take_all(buckets: Sequence[TokenBucket], now: float, cost: float = 1.0) -> float:
    """Take from every bucket or from none: 0.0 when taken, else the seconds until all of them could give."""
    wait = max((b.wait(now, cost) for b in buckets), default=0.0)
    if wait > 0:
        return wait
    for b in buckets:
        b.spend(now, cost)
    return 0.0


def retry_after(wait: float) -> int:
    """A wait as the whole seconds a client is told to hold off (at least 1)."""
    return max(1, math.ceil(wait))


class BucketTable:
    """Buckets by key (a visitor, an IP) with bounded memory: full buckets are swept, the least recent go first."""

    def __init__(self, rate: Rate, *, max_keys: int = 100_000, sweep_every: float = 60.0) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self.sweep_every = sweep_every
        self._buckets: dict[Hashable, TokenBucket] = {}  # insertion order = least recently used first
        self._last_sweep: float | None = None

    def __len__(self) -> int:
        return len(self._buckets)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._buckets

    def bucket(self, key: Hashable, now: float) -> TokenBucket:
        """The key's bucket (a full new one if unknown); sweeps idle buckets now and then."""
        if self._last_sweep is None:
            self._last_sweep = now
        elif now - self._last_sweep >= self.sweep_every:
            self.sweep(now)
        found = self._buckets.pop(key, None)
        if found is None:
            found = TokenBucket(self.rate, now)
            while len(self._buckets) >= self.max_keys:
                del self._buckets[next(iter(self._buckets))]
        self._buckets[key] = found
        return found

    def sweep(self, now: float) -> int:
        """Forget every bucket that has refilled; returns how many were forgotten."""
        idle = [key for key, b in self._buckets.items() if b.is_full(now)]
        for key in idle:
            del self._buckets[key]
        self._last_sweep = now
        return len(idle)


class Limits(Protocol):
    """Message allowances by key: in this process's memory, or shared by every web process (in Redis)."""

    async def take(self, buckets: Sequence[tuple[str, Rate]], now: float) -> float:
        """One token from every (key, rate) bucket or from none: 0.0 when taken, else the seconds until all
        of them could give. `now`: wall-clock seconds (shared buckets compare the clocks of processes)."""
        ...

    async def close(self) -> None:
        """Release what the limits hold."""
        ...


class MemoryLimits:
    """Limits in this process's memory: a bounded BucketTable per rate."""

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._tables: dict[Rate, BucketTable] = {}

    async def take(self, buckets: Sequence[tuple[str, Rate]], now: float) -> float:
        """One token from every bucket or from none (see `Limits.take`)."""
        tables = self._tables
        found = []
        for key, rate in buckets:
            table = tables.get(rate)
            if table is None:
                table = tables[rate] = BucketTable(rate, max_keys=self.max_keys)
            found.append(table.bucket(key, now))
        return take_all(found, now)

    async def close(self) -> None:
        """Nothing to release."""


class Verdict(Enum):
    """What to do with one incoming frame."""

    ACCEPT = "accept"
    DROP = "drop"  # silently
    DROP_AND_NOTIFY = "drop_and_notify"  # drop and send one `rate_limited` notice
    CLOSE = "close"  # the connection kept flooding: close it (1008)


class FloodGuard:
    """Caps the frames of one connection: over the rate they are dropped, with at most one notice per
    `notice_every` seconds; a flood that goes on for more than `close_after` seconds closes the connection.
    A flood ends after `quiet_after` seconds without a dropped frame."""

    def __init__(
        self,
        rate: Rate,
        now: float,
        *,
        notice_every: float = 1.0,
        close_after: float = 5.0,
        quiet_after: float = 1.0,
    ) -> None:
        self.bucket = TokenBucket(rate, now)
        self.notice_every = notice_every
        self.close_after = close_after
        self.quiet_after = quiet_after
        self.flood_since: float | None = None
        self._last_drop: float | None = None
        self._last_notice: float | None = None
        self.dropped = 0

    def frame(self, now: float) -> Verdict:
        """Judge one frame arriving at `now`."""
        if self._last_drop is not None and now - self._last_drop >= self.quiet_after:
            self.flood_since = None
        if self.bucket.take(now):
            return Verdict.ACCEPT
        self.dropped += 1
        if self.flood_since is None:
            self.flood_since = now
        self._last_drop = now
        if now - self.flood_since > self.close_after:
            return Verdict.CLOSE
        if self._last_notice is None or now - self._last_notice >= self.notice_every:
            self._last_notice = now
            return Verdict.DROP_AND_NOTIFY
        return Verdict.DROP
