"""The I/O shell: consume a batch → load → decide (pure) → persist in one transaction → publish → ack."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from crm_core.ids import new_id
from crm_core.store import Changes, DuplicateKey, StaleDialog, Store
from queues.bus import INBOUND, Bus, Entry, conversation_key, outbound_stream
from queues.messages import (
    CustomerConsent,
    CustomerRating,
    DeliveryStatus,
    DialogTimer,
    Event,
    InboundMessage,
    OperatorCommand,
    Receipt,
    Typing,
)
from router.app import log_events as ev
from router.app.clock import Clock
from router.app.logs import get
from router.app.metrics import Metrics
from router.app.settings import Settings
from router.cluster import fence
from router.cluster.shared_load import SharedLoad
from router.engine.deal_links import DealLinks
from router.engine.faults import LostPartition, cancelling, end_tasks, logged, transient
from router.engine.order import QueueOrder
from router.engine.recovery import Recovery
from router.engine.routing import Routing
from router.engine.shared import SharedWorker
from router.engine.state import RoutingState
from router.engine.work import BatchWork
from router.protocol.times import iso
from router.rules.dialog import ASSIGNED, Dialog

log = get(__name__)
MAX_DELIVERIES = 3
MAX_BATCH = 500  # events decided and committed together: per-batch round trips amortise over more of them
# how long a read that got less than a batch waits for more: at 1,000 msg/s on Redis 1 ms cut the CPU of the
# whole layout by about a third (fewer batches, commits and wake-ups) and p99 did not grow (bench/README.md)
LINGER = 0.001
MAX_ATTEMPTS = 5  # of one batch that collides with another (a duplicate key, a slot another worker took)


class Engine:
    """Routes customer messages and operator commands; owns the routing state of its conversations."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        bus: Bus,
        clock: Clock,
        *,
        consumer: str = "router-1",
        shared: SharedLoad | None = None,
        delivered_on_commit: frozenset[str] = frozenset(),
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.clock = clock
        self.consumer = consumer
        # several workers: loads and presence live in `shared`, each worker routes its partitions' dialogs only
        order = None if shared is None else QueueOrder()
        self.routing = Routing(settings, bus.partition, order=order, delivered_on_commit=delivered_on_commit)
        self.recovery = Recovery(self.routing, store, bus, clock)
        self.deals = DealLinks(settings, store, clock)
        self.worker = (
            None
            if shared is None or order is None
            else SharedWorker(shared, self.routing, order, self.recovery, store, bus, settings, clock)
        )
        # the consume loop and the timers' nudges decide one batch at a time
        self._batch_lock = asyncio.Lock()
        self._outbox_done: list[str] = []
        self._timers_inflight: set[tuple[str, str, str]] = set()
        self._outbox_dirty = False  # a publish failed after its commit: republish the outbox
        self._tasks: list[asyncio.Task[None]] = []
        self.metrics = Metrics()
        state = self.routing.state
        self.metrics.watch(
            self.routing.lines,
            lambda: ((d.line_id, d.state) for d in state.dialogs.values()),
            lambda: state.presence.values(),
        )

    @property
    def state(self) -> RoutingState:
        """The routing state of this worker's conversations."""
        return self.routing.state

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume the routing state from the store, republish the outbox, start consuming and the timers."""
        await self._reload()
        await self.recovery.republish_outbox()
        await self.recovery.resend_undelivered()
        self.deals.start()
        self._tasks = [
            asyncio.create_task(logged(self._consume(), "engine.consume"), name="engine.consume"),
            asyncio.create_task(logged(self._timers(), "engine.timers"), name="engine.timers"),
        ]

    async def stop(self) -> None:
        """Stop consuming and flush what was published."""
        await end_tasks(self._tasks)
        self._tasks = []
        await self.deals.stop()
        await self._flush_outbox_done()

    async def _reload(self) -> None:
        """The routing state from the store (the in-memory one ran ahead of a rolled-back batch, or is new)."""
        if self.worker is not None:
            await self.worker.reload()
        else:
            await self.recovery.load()

    # ---- the loops ------------------------------------------------------------------------------

    async def _consume(self) -> None:
        async for batch in self.bus.consume(
            INBOUND, "router", self.consumer, max_batch=MAX_BATCH, max_wait=LINGER
        ):
            events = [e.event for e in batch.entries]
            try:  # acked once committed, in the same write as the batch's publish (one round trip on Redis)
                await self.handle(events, keys=[e.key for e in batch.entries], ack=batch.ack)
                continue
            except LostPartition:
                continue  # not acked: the partition's new owner handles the batch
            except Exception as exc:
                if cancelling():  # a library turned our cancellation into a timeout: stop, don't retry
                    raise asyncio.CancelledError() from exc
                log.exception(ev.ENGINE_BATCH_FAILED, size=len(events))
                if transient(exc):  # Redis or the database away: the same batch again, nothing dead-lettered
                    await asyncio.sleep(0.5)
                    continue
                if not await self._isolate(batch.entries):
                    await asyncio.sleep(0.5)  # not acked: the bus delivers the batch again
                    continue
            await batch.ack()

    async def _isolate(self, entries: list[Entry]) -> bool:
        """Handle a failed batch event by event; True when every event is done with (stored or dropped)."""
        settled = True
        for entry in entries:
            try:
                await self.handle([entry.event], keys=[entry.key])
            except LostPartition:
                return False
            except Exception as exc:
                if entry.deliveries < MAX_DELIVERIES or transient(exc):
                    settled = False
                else:  # a poison event: kept as a dead letter, acked with its batch so the rest keeps flowing
                    log.exception(ev.ENGINE_DEAD_LETTER, kind=entry.event.kind, deliveries=entry.deliveries)
                    await self.bus.dead_letter(INBOUND, entry, f"{type(exc).__name__}: {exc}")
                    await self._refuse_receipt(entry.event)
        return settled

    async def _refuse_receipt(self, event: Event) -> None:
        # the channel may move on (offset, ts, IMAP Seen flag) at once rather than keep redelivering what cannot be stored
        if isinstance(event, InboundMessage | CustomerConsent | CustomerRating):
            external_id = event.external_id if isinstance(event, InboundMessage) else event.event_id
            receipt = Receipt(
                new_id(), event.channel, event.account, event.chat_id, external_id, None, None, "not_stored"
            )
            key = conversation_key(event.channel, event.account, event.chat_id)
            await self.bus.publish(outbound_stream(event.channel), [receipt], key=key)

    async def _timers(self) -> None:
        idle_ticks = 0
        while True:
            if cancelling():  # a library swallowed our cancellation (seen at SIGTERM during an outage): end
                raise asyncio.CancelledError()
            await asyncio.sleep(0.1)
            try:
                if self.worker is not None:
                    await self._shared_tick()
                if self._outbox_dirty:
                    async with self._batch_lock:
                        await self.recovery.republish_outbox()
                    self._outbox_dirty = False
                await self._due_timers()
                idle_ticks = idle_ticks + 1 if self._outbox_done else 0
                if idle_ticks >= 5:
                    await self._flush_outbox_done()
            except Exception as exc:
                if not transient(exc) or cancelling():
                    raise
                log.warning(ev.ENGINE_TICK_FAILED, error=str(exc))  # Redis or the database away: next tick

    async def _shared_tick(self) -> None:
        """Several workers: follow partition moves, offer the backlog when it may move, clean up after crashes."""
        w = self.worker
        assert w is not None
        if w.moved():
            async with self._batch_lock:
                await w.follow_partitions()
        if await w.backlog_may_move():
            await self.handle([], nudge=True)
        await w.housekeeping(self._batch_lock)

    async def _due_timers(self) -> None:
        """Publish a timer event for every stored deadline that has passed (once per deadline)."""
        now = self.clock.now()
        due = self.state.due(now)
        for n, (d, timer, at) in enumerate(due):
            marker = (d.id, timer, at.isoformat())  # exact: the stale check compares deadlines
            if marker in self._timers_inflight:
                continue
            self._timers_inflight.add(marker)
            event = DialogTimer(new_id(), d.id, timer, marker[2], iso(now) or "")
            try:
                await self.bus.publish(
                    INBOUND, [event], key=conversation_key(d.channel, d.account, d.chat_id)
                )
            except BaseException:
                self._timers_inflight.discard(marker)  # not published: the next tick tries again
                self.state.later(due[n:])
                raise

    async def _flush_outbox_done(self) -> None:
        done, self._outbox_done = self._outbox_done, []
        if done:
            try:
                await self.store.apply(Changes(outbox_done=done))
            except Exception:
                self._outbox_done.extend(done)
                raise

    # ---- one batch -------------------------------------------------------------------------------

    async def handle(
        self,
        events: list[Event],
        *,
        keys: list[str | None] | None = None,
        nudge: bool = False,
        ack: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Decide and commit a batch of events, then publish its outbox; retried on a duplicate key race.
        `nudge`: offer the backlog (another worker freed a slot). `ack`: called once the batch is committed,
        right after its publish is queued, so both go in one write. Raises LostPartition when some of the
        events belong to a partition this worker no longer owns."""
        async with self._batch_lock:
            if self.worker is not None:
                await self.worker.follow_partitions()
                if keys is not None and not all(self.routing.mine(k) for k in keys):
                    raise LostPartition()
            published, outbox_ids = await self._handle(events, nudge)
        if ack is not None:
            await ack()
        if published is None:
            self._outbox_done.extend(outbox_ids)
            return
        try:
            await published
        except Exception as exc:
            if not transient(exc):
                raise
            # committed but not published: the rows stay in the outbox and the timers publish them
            self._outbox_dirty = True
            log.warning(ev.OUTBOX_PUBLISH_FAILED, error=str(exc), events=len(events))
            return
        self._outbox_done.extend(outbox_ids)

    async def _handle(
        self, events: list[Event], nudge: bool
    ) -> tuple[asyncio.Future[None] | None, list[str]]:
        """Decide and commit; the publish of the batch's outbox is queued (the future) but not awaited."""
        worker = self.worker
        for attempt in range(MAX_ATTEMPTS):
            before: dict[str, Dialog] = {}
            if worker is not None:
                if nudge or self._routes(events):
                    await worker.refresh_loads()
                before = dict(self.state.dialogs)
            work = BatchWork(self.routing, self.store, self.clock.now(), encode=self.bus.durable)
            work.freed = nudge
            done, self._outbox_done = self._outbox_done, []
            secured: fence.Fence | None = None
            try:
                await work.prefetch(events, optimistic=attempt == 0)
                for event in events:
                    work.apply(event)
                work.settle()
                await work.complete_leads()
                work.finish()
                if self.bus.durable:  # an in-process bus dies with the process: nothing to republish
                    work.outbox()
                work.changes.outbox_done = done
                if worker is not None:
                    secured = await worker.secure(before, work.staged, work.now)
                await self.store.apply(work.changes)
            except (DuplicateKey, StaleDialog, fence.Conflict) as exc:
                self._outbox_done.extend(done)
                if worker is not None and secured is not None:
                    await worker.undo(secured)
                if isinstance(exc, DuplicateKey) and attempt == 0:
                    # a redelivered event (the first attempt takes every message as new): nothing else
                    # changed, so the batch's own changes are undone in memory and it is decided again
                    log.info(ev.ENGINE_BATCH_RETRY, attempt=attempt, size=len(events), reason="duplicate")
                    work.revert()
                else:  # another worker changed the dialogs or took a slot: read them again
                    log.warning(ev.ENGINE_BATCH_RETRY, attempt=attempt, size=len(events), reason=str(exc))
                    await self._reload()
                continue
            except BaseException:
                self._outbox_done.extend(done)
                if worker is not None and secured is not None:
                    with contextlib.suppress(Exception):
                        await worker.undo(secured)
                await self._reload()  # the in-memory state ran ahead of the rolled-back transaction
                raise
            if worker is not None:
                await worker.committed(events, secured, before, work.staged, work.now)
            self.deals.committed(work.changes)
            for key, ident in work.new_identities.items():
                self.routing.remember_identity(key, ident)
            denied = self.routing.denied
            for conv, allowed in work.consent.items():
                (denied.discard if allowed else denied.add)(conv)
            for event in events:
                if isinstance(event, DialogTimer):
                    self._timers_inflight.discard((event.dialog_id, event.timer, event.due))
            self.metrics.apply(work.obs)
            if not work.published:
                return None, work.outbox_ids
            return self.bus.enqueue(work.published, work.encoded or None), work.outbox_ids
        raise RuntimeError("batch kept colliding with other batches")

    def _routes(self, events: list[Event]) -> bool:
        """Whether deciding these events may choose an operator (then the shared loads are read first): anything
        but messages and replies in dialogs that are assigned already, delivery reports and ratings."""
        state = self.state
        for e in events:
            if isinstance(e, DeliveryStatus | Typing | CustomerRating):
                continue
            if isinstance(e, InboundMessage):
                d = state.open_dialog((e.channel, e.account, e.chat_id))
                if d is not None and d.state == ASSIGNED:
                    continue
            elif isinstance(e, OperatorCommand) and e.command == "typing":
                continue
            elif isinstance(e, OperatorCommand) and e.command == "reply":
                d = state.dialogs.get(e.dialog_id)
                if d is not None and d.state == ASSIGNED and d.operator == e.operator:
                    continue
            return True
        return False
