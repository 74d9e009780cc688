"""Bounded exponential delays with jitter for a channel's failing network loop (polling, long poll, IMAP)."""

from __future__ import annotations

import random


class Backoff:
    """`next()` gives the wait before the next try; `reset()` after a success starts over."""

    def __init__(self, first: float = 0.5, factor: float = 2.0, cap: float = 30.0) -> None:
        self.first, self.factor, self.cap = first, factor, cap
        self.failures = 0

    def next(self) -> float:
        """The next delay in seconds: doubling up to the cap, +-20% so many loops do not retry in lockstep."""
        self.failures += 1
        return min(self.cap, self.first * self.factor ** (self.failures - 1)) * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        """The loop works again."""
        self.failures = 0
