"""PURE: the mail of one mailbox between fetch and acknowledgement, and the UID checkpoint it allows.

A mail is published, its commit receipt comes back (by external id = Message-ID), then it is acknowledged on the
server (\\Seen or moved). The checkpoint `last_uid` moves only over mail that is committed (or needs no commit):
every fetched UID at or below it is done.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class InFlight:
    """A mail handed to the router, waiting for its receipt."""

    uid: int
    external_id: str
    since: float  # when it was published (monotonic seconds)
    again: bool = False  # its receipt is overdue or publishing failed: publish it again


class Progress:
    """One mailbox's mail in flight, mail to acknowledge, and the UID checkpoint."""

    def __init__(self, last_uid: int) -> None:
        self.last_uid = last_uid
        self._in_flight: dict[int, InFlight] = {}
        self._to_ack: set[int] = set()
        self._max_seen = last_uid

    @property
    def to_acknowledge(self) -> list[int]:
        """Committed UIDs not yet flagged (or moved) on the server."""
        return sorted(self._to_ack)

    @property
    def in_flight(self) -> list[InFlight]:
        """Mail waiting for receipts, oldest UID first."""
        return [self._in_flight[u] for u in sorted(self._in_flight)]

    def is_new(self, uid: int) -> bool:
        """False for mail already published (waiting for its receipt) or committed and awaiting its flag."""
        flight = self._in_flight.get(uid)
        return (flight is None or flight.again) and uid not in self._to_ack

    def published(self, uid: int, external_id: str, now: float) -> None:
        """The mail went to the router."""
        self._see(uid)
        self._in_flight[uid] = InFlight(uid, external_id, now)

    def unpublished(self, uid: int) -> None:
        """Publishing failed: the mail is fetched and published again on the next round."""
        if uid in self._in_flight:
            self._in_flight[uid].again = True

    def needs_no_commit(self, uid: int) -> None:
        """A mail we do not publish (our own answer come back): acknowledge it straight away."""
        self._see(uid)
        self._in_flight.pop(uid, None)
        self._to_ack.add(uid)

    def gone(self, uid: int) -> None:
        """The mail disappeared between search and fetch (expunged by someone): nothing to do."""
        self._see(uid)
        self._in_flight.pop(uid, None)

    def committed(self, external_id: str, *, acknowledge: bool = True) -> bool:
        """The receipt for a Message-ID came back (every UID carrying it is done); True if it was ours.
        A refused mail (`acknowledge=False`) stays unseen for a person to look at."""
        uids = [u for u, f in self._in_flight.items() if f.external_id == external_id]
        for uid in uids:
            del self._in_flight[uid]
            if acknowledge:
                self._to_ack.add(uid)
        return bool(uids)

    def acknowledged(self, uids: list[int]) -> None:
        """The server flagged (or moved) these."""
        self._to_ack.difference_update(uids)

    def stale(self, now: float, older_than: float) -> list[int]:
        """Mail whose receipt is overdue (a lost event): fetched and published again (the router dedupes);
        it still holds the checkpoint back."""
        late = [u for u, f in self._in_flight.items() if not f.again and now - f.since > older_than]
        for uid in late:
            self._in_flight[uid].again = True
        return late

    def checkpoint(self) -> int:
        """The new `last_uid`: below the oldest mail in flight, else the highest UID seen; never backwards."""
        candidate = min(self._in_flight) - 1 if self._in_flight else self._max_seen
        self.last_uid = max(self.last_uid, candidate)
        return self.last_uid

    def restart(self, last_uid: int) -> None:
        """The folder's UIDVALIDITY changed: old UIDs mean nothing any more."""
        self.last_uid = self._max_seen = last_uid
        self._in_flight.clear()
        self._to_ack.clear()

    def _see(self, uid: int) -> None:
        self._max_seen = max(self._max_seen, uid)
