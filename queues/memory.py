"""The embedded bus: in-process streams with consumer groups, explicit ack and redelivery, like Redis Streams."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime

from queues.bus import DEAD_LETTERS_KEPT, Batch, DeadLetter, Entry
from queues.messages import Event

log = logging.getLogger("queues.memory")
Handler = Callable[[list[Event]], Awaitable[None]]


class _Group:
    def __init__(self) -> None:
        self.ready: deque[Entry] = deque()
        self.pending: dict[str, Entry] = {}
        self.wakeup = asyncio.Event()


class _Listener:
    def __init__(self, stream: str, group: str, handler: Handler) -> None:
        self.stream = stream
        self.group = group
        self.handler = handler
        self.waiting: list[Event] = []


class MemoryBus:
    """In-process bus: every group of a stream gets every event; unacked batches come back on the next read."""

    name = "memory"
    durable = False  # the process is the bus: a crash takes both, and publishing to it cannot fail

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, _Group]] = {}
        self._backlog: dict[str, list[Entry]] = {}
        self._ids = itertools.count(1)
        self._closed = False
        self._dead: deque[DeadLetter] = deque(maxlen=DEAD_LETTERS_KEPT)
        self._listeners: dict[str, list[_Listener]] = {}
        self._handing: asyncio.Task[None] | None = (
            None  # the task handing events to the listeners, while it runs
        )

    async def publish(self, stream: str, events: Sequence[Event], *, key: str | None = None) -> None:
        """Append events to every group of the stream (or keep them until a group exists)."""
        self._append(stream, events, key)

    async def publish_many(
        self, items: Sequence[tuple[str, str | None, Event]], encoded: Sequence[bytes] | None = None
    ) -> None:
        """Append each (stream, key, event) in order (`encoded` is for buses that serialise)."""
        for stream, key, event in items:
            self._append(stream, [event], key)

    def enqueue(
        self, items: Sequence[tuple[str, str | None, Event]], encoded: Sequence[bytes] | None = None
    ) -> asyncio.Future[None]:
        """Append at once; the future is already done."""
        for stream, key, event in items:
            self._append(stream, [event], key)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def _append(self, stream: str, events: Sequence[Event], key: str | None) -> None:
        listeners = self._listeners.get(stream)
        if listeners:
            for listener in listeners:
                listener.waiting.extend(events)
            self._hand_soon()
        groups = self._groups.get(stream)
        if not groups:
            if not listeners:
                entries = [Entry(f"{next(self._ids)}-0", ev, key, 0) for ev in events]
                self._backlog.setdefault(stream, []).extend(entries)
            return
        entries = [Entry(f"{next(self._ids)}-0", ev, key, 0) for ev in events]
        for group in groups.values():
            group.ready.extend(entries)
            group.wakeup.set()

    # ---- listeners: consumers in this process without a task of their own -----------------------------

    def listen(self, stream: str, group: str, handler: Handler) -> Callable[[], None]:
        """Hand the stream's events to `handler` as they are published, in order, in one task for every
        listener (at 1,000 msg/s a consumer task of its own per stream cost a wake-up, a batch and its entries per
        event). For consumers that never wait on anything but their sockets (the console hub, the widget's
        deliveries). Instead of `consume` for that group: each group of a stream still gets every event. A
        handler that raises loses those events for its group only (logged). Returns the call that stops it."""
        listener = _Listener(stream, group, handler)
        self._listeners.setdefault(stream, []).append(listener)
        backlog = self._backlog.pop(stream, [])
        if backlog:
            listener.waiting.extend(e.event for e in backlog)
            self._hand_soon()

        def stop() -> None:
            kept = self._listeners.get(stream, [])
            if listener in kept:
                kept.remove(listener)
            listener.waiting.clear()

        return stop

    def _hand_soon(self) -> None:
        if self._handing is None:
            self._handing = asyncio.get_running_loop().create_task(self._hand(), name="bus.memory.listeners")

    async def _hand(self) -> None:
        try:
            while True:
                ready = [lst for lsts in self._listeners.values() for lst in lsts if lst.waiting]
                if not ready:
                    return
                for listener in ready:
                    events, listener.waiting = listener.waiting, []
                    try:
                        await listener.handler(events)
                    except Exception:
                        log.exception(
                            "bus.listener.failed: %s/%s lost %d events",
                            listener.stream,
                            listener.group,
                            len(events),
                        )
        finally:
            self._handing = None

    async def consume(
        self, stream: str, group: str, consumer: str, *, max_batch: int = 100, max_wait: float = 0.002
    ) -> AsyncIterator[Batch]:
        """Yield batches; whatever the previous batch left unacked is delivered again first."""
        state = self._group(stream, group)
        last: Batch | None = None
        try:
            while not self._closed:
                if last is not None and not last.acked:
                    self._requeue(state, last)
                if not state.ready:
                    state.wakeup.clear()
                    await state.wakeup.wait()
                    if self._closed:
                        return
                    if max_wait > 0 and len(state.ready) < max_batch:
                        await asyncio.sleep(max_wait)  # let a burst gather into one batch (group commit)
                taken: list[Entry] = []
                while state.ready and len(taken) < max_batch:
                    e = state.ready.popleft()
                    delivered = Entry(e.id, e.event, e.key, e.deliveries + 1)
                    state.pending[e.id] = delivered
                    taken.append(delivered)
                if not taken:
                    continue

                async def _ack(entries: list[Entry], state: _Group = state) -> None:
                    for entry in entries:
                        state.pending.pop(entry.id, None)

                last = Batch(taken, _ack)
                yield last
        finally:
            if last is not None and not last.acked:
                self._requeue(state, last)

    @staticmethod
    def _requeue(state: _Group, batch: Batch) -> None:
        # at-least-once: the consumer failed before ack, so the batch goes back to the front
        for entry in reversed(batch.entries):
            state.pending.pop(entry.id, None)
            state.ready.appendleft(entry)
        batch.acked = True  # requeued once; a later ack must not drop the redelivered copies
        state.wakeup.set()

    async def dead_letter(self, stream: str, entry: Entry, error: str) -> None:
        """Keep the event with its error (the newest DEAD_LETTERS_KEPT)."""
        at = datetime.now(UTC).isoformat()
        dead = DeadLetter(
            f"{next(self._ids)}-0", stream, entry.key, entry.event, error[:4000], entry.deliveries, at
        )
        self._dead.append(dead)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Newest first."""
        return list(itertools.islice(reversed(self._dead), limit))

    def owned(self, stream: str, group: str) -> frozenset[int] | None:
        """One process consumes everything."""
        return None

    def partition(self, stream: str, key: str) -> int:
        """One partition."""
        return 0

    def pending_count(self, stream: str, group: str) -> int:
        """How many entries of the group are delivered but not acked (for tests and /healthz)."""
        return len(self._group(stream, group).pending)

    async def close(self) -> None:
        """Wake every consumer and end its iteration."""
        self._closed = True
        self._listeners.clear()
        for groups in self._groups.values():
            for g in groups.values():
                g.wakeup.set()

    def _group(self, stream: str, group: str) -> _Group:
        groups = self._groups.setdefault(stream, {})
        state = groups.get(group)
        if state is None:
            state = groups[group] = _Group()
            backlog = self._backlog.pop(stream, [])
            state.ready.extend(backlog)
            if backlog:
                state.wakeup.set()
        return state
