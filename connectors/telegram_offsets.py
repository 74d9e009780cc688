"""PURE: one bot's polling offset, which confirms to Telegram only the updates whose commit receipt came back."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from queues.messages import InboundMessage


@dataclass
class InFlight:
    """An update published to the router and not yet committed."""

    update_id: int
    message: InboundMessage
    publishes: int = 1


class OffsetTracker:
    """The updates of one bot in flight, and the getUpdates offset: every update below it is committed."""

    def __init__(self, offset: int | None) -> None:
        self.offset = offset  # None: nothing stored yet, Telegram starts from its oldest unconfirmed update
        self._in_flight: dict[int, InFlight] = {}
        self._by_key: dict[str, set[int]] = defaultdict(set)
        self._max_seen: int | None = None

    @property
    def in_flight(self) -> list[InFlight]:
        """The updates waiting for their receipt, oldest first."""
        return [self._in_flight[k] for k in sorted(self._in_flight)]

    def is_new(self, update_id: int) -> bool:
        """False for an update already published and waiting for its receipt (getUpdates returns it again)."""
        return update_id not in self._in_flight

    def published(self, update_id: int, message: InboundMessage) -> None:
        """The update became this message, handed to the router."""
        self._see(update_id)
        self._in_flight[update_id] = InFlight(update_id, message)
        self._by_key[message.external_id].add(update_id)

    def skipped(self, update_id: int) -> None:
        """The update makes no message (a group, an unsupported type): committed at once."""
        self._see(update_id)
        self._advance()

    def committed(self, external_id: str) -> bool:
        """The receipt for a message came back; True if it was one of ours."""
        ids = self._by_key.pop(external_id, set())
        for update_id in ids:
            self._in_flight.pop(update_id, None)
        self._advance()
        return bool(ids)

    def forget(self, update_ids: list[int]) -> None:
        """Publishing failed: fetch these again rather than wait for receipts that cannot come."""
        for update_id in update_ids:
            flight = self._in_flight.pop(update_id, None)
            if flight is not None:
                self._by_key[flight.message.external_id].discard(update_id)
                if not self._by_key[flight.message.external_id]:
                    del self._by_key[flight.message.external_id]

    def abandon(self, update_id: int) -> None:
        """Give up on an update whose receipt never came (a poison event): let the rest flow."""
        flight = self._in_flight.get(update_id)
        if flight is not None:
            self.committed_one(update_id, flight.message.external_id)

    def committed_one(self, update_id: int, external_id: str) -> None:
        """Mark a single update done."""
        self._in_flight.pop(update_id, None)
        keys = self._by_key.get(external_id)
        if keys is not None:
            keys.discard(update_id)
            if not keys:
                del self._by_key[external_id]
        self._advance()

    def _see(self, update_id: int) -> None:
        if self._max_seen is None or update_id > self._max_seen:
            self._max_seen = update_id

    def _advance(self) -> None:
        # Telegram returns updates in order from the offset, so every update seen below the oldest one in
        # flight is committed; with none in flight, everything seen is
        if self._in_flight:
            candidate = min(self._in_flight)
        elif self._max_seen is not None:
            candidate = self._max_seen + 1
        else:
            return
        if self.offset is None or candidate > self.offset:
            self.offset = candidate
