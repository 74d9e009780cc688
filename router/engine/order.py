"""Several router workers: the lines' shared queue order as this worker last read it, and which other workers'
dialogs held ours back (the pure part is router/rules/fairness.py)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime

from router.cluster.shared_load import Load
from router.rules import fairness
from router.rules.dialog import Dialog, LinePolicy
from router.rules.distribution import OperatorState
from router.rules.fairness import Waiting


class QueueOrder:
    """The shared waiting order of every line, the dialogs holding a slot when it was read, and the other workers'
    dialogs that held ours back while a slot was free (since when, monotonic), with those whose grace ran out."""

    def __init__(self) -> None:
        self.waiting: dict[str, list[Waiting]] = {}
        self.placed: set[str] = set()
        self.blocking: dict[str, float] = {}
        self.lapsed: set[str] = set()

    def read(self, load: Load) -> None:
        """Take the order of a fresh load; forget the blockers placed or gone since."""
        self.waiting, self.placed = load.waiting, load.placed
        if self.blocking:
            present = {w.dialog_id for entries in load.waiting.values() for w in entries}
            self.blocking = {f: t for f, t in self.blocking.items() if f in present}
            self.lapsed &= present

    def routable(
        self,
        d: Dialog,
        line: LinePolicy,
        since: datetime,
        ops: Mapping[str, OperatorState],
        own: Mapping[str, Dialog],
    ) -> Mapping[str, OperatorState]:
        """`ops`, or nobody when dialogs that have waited longer at any worker would take every free slot."""
        entries = self.waiting.get(line.id)
        if not entries:
            return ops
        skip: set[str] = self.placed | self.lapsed if self.lapsed else self.placed
        ahead = fairness.held_back_by(line, ops, entries, since, d.id, own, skip)
        if not ahead:
            return ops
        now = time.monotonic()
        for other in ahead:
            if other not in own:  # another worker's (ours are placed by the caller's loop)
                self.blocking.setdefault(other, now)
        return fairness.Taken(ops)

    def lapse(self, grace: float) -> list[str]:
        """The other workers' dialogs that held ours back longer than `grace` seconds: passed over from now on."""
        now = time.monotonic()
        lapsed = [f for f, t in self.blocking.items() if now - t > grace and f not in self.lapsed]
        self.lapsed.update(lapsed)
        return lapsed
