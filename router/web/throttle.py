"""Brute-force throttling of sign-ins: failures are counted per login and per client address; past a few, each
further failure locks the key for a doubling while (to a cap). A success clears the login's count."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

WINDOW = 15 * 60.0  # seconds a failure is remembered
BASE = 1.0  # seconds of the first lock
CAP = 15 * 60.0  # the longest lock
KEYS = 20_000  # keys remembered at most (the least recently failed forgotten first): random logins cost no memory


@dataclass(frozen=True)
class Policy:
    """How many failures a key is allowed inside the window before each failure locks it."""

    free: int
    base: float = BASE
    cap: float = CAP
    window: float = WINDOW


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class Throttle:
    """Failures per key (a login, an address) on a monotonic clock the caller passes in."""

    def __init__(self, policy: Policy, keys: int = KEYS) -> None:
        self.policy = policy
        self._keys = keys
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def wait(self, key: str, now: float) -> float:
        """Seconds until the key may try again (0: it may now)."""
        record = self._records.get(key)
        return 0.0 if record is None else max(0.0, record.locked_until - now)

    def failed(self, key: str, now: float) -> float:
        """Count a failure; the lock it brings, in seconds (0: none yet)."""
        p = self.policy
        record = self._records.pop(key, None) or _Record()
        self._records[key] = record  # the most recently failed last
        while len(self._records) > self._keys:
            self._records.popitem(last=False)
        while record.failures and record.failures[0] <= now - p.window:
            record.failures.popleft()
        record.failures.append(now)
        over = len(record.failures) - p.free
        if over <= 0:
            return 0.0
        lock = min(p.cap, p.base * 2 ** (over - 1))
        record.locked_until = max(record.locked_until, now + lock)
        return lock

    def succeeded(self, key: str) -> None:
        """Forget the key's failures."""
        self._records.pop(key, None)
