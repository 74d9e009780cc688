"""The I/O shell: consume a batch → load → decide (pure) → persist in one transaction → publish → ack."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from crm_core.ids import new_id
from crm_core.store import Changes, DuplicateKey, Key, StaleDialog, Store
from queues.bus import INBOUND, Bus, Entry, conversation_key, outbound_stream
from queues.messages import (
    Attachment,
    CustomerConsent,
    DeliveryStatus,
    DialogTimer,
    Event,
    InboundMessage,
    OperatorCommand,
    OperatorPresence,
    OutboundMessage,
    Receipt,
    from_dict,
    loads,
)
from router.app import log_events as ev
from router.app.clock import Clock, iso
from router.app.logs import get
from router.app.metrics import Metrics
from router.app.settings import Settings
from router.cluster import fence
from router.cluster.shared_load import Hold, SharedLoad, Waiting
from router.engine.records import dialog_from_row
from router.engine.staging import OUTBOX_BUNDLE
from router.engine.state import RoutingState
from router.engine.work import BatchWork
from router.rules import dialogs as dm
from router.rules import fairness
from router.rules.access import Viewer
from router.rules.autoreply import Templates
from router.rules.dialogs import Dialog, LinePolicy
from router.rules.distribution import OperatorState

log = get(__name__)
_IDENTITY_CACHE = 50_000
MAX_DELIVERIES = 3
MAX_BATCH = 500  # events decided and committed together: per-batch round trips amortise over more of them
# how long a read that got less than a batch waits for more: at 1,000 msg/s on Redis 1 ms cut the CPU of the
# whole layout by about a third (fewer batches, commits and wake-ups) and p99 did not grow (bench/README.md)
LINGER = 0.001
MAX_ATTEMPTS = 5  # of one batch that collides with another (a duplicate key, a slot another worker took)
SWEEP_EVERY = 30.0  # seconds between sweeps of slots left held by a crash
HOLD_GRACE = timedelta(seconds=60)  # a slot younger than this may belong to a batch still committing
# another worker's waiting dialog that holds ours back while a slot is free is trusted this long: its worker places
# it within a tick of seeing the slot; an entry that outlived its dialog (a crash, a stall) is passed over after this
FAIR_GRACE_S = 2.0


class LostPartition(Exception):
    """The batch's partition moved to another worker (this one stalled past its lease)."""


def _transient(exc: BaseException) -> bool:
    """An outage of Redis or the database rather than a bad event: retry, never dead-letter."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OSError | TimeoutError | RedisConnectionError | OperationalError | InterfaceError)


def _cancelling() -> bool:
    """Whether this task is being cancelled (redis-py can surface a cancellation as a TimeoutError)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _count(owned: frozenset[int] | None) -> str | int:
    return "all" if owned is None else len(owned)


async def _logged(loop: Coroutine[Any, Any, None], name: str) -> None:
    # a background loop that dies silently would stop routing without a trace
    try:
        await loop
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception(ev.LOOP_CRASHED, loop=name)
        raise


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
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.clock = clock
        self.consumer = consumer
        # several workers: loads and presence live in `shared`, each worker routes its partitions' dialogs only
        self.shared = shared
        self._owned: frozenset[int] | None = None if shared is None else frozenset()
        self._epoch: int | None = None
        self._next_sweep = 0.0
        # several workers: the lines' shared waiting order as last read and the dialogs holding a slot then; the
        # other workers' dialogs that held ours back while a slot was free (since when, monotonic), and those of
        # them whose grace ran out (a nudge was made for them)
        self._waiting: dict[str, list[Waiting]] = {}
        self._placed: set[str] = set()
        self._blocking: dict[str, float] = {}
        self._lapsed: set[str] = set()
        # the number of each operator's last applied presence change (events carry it with several web processes)
        self.presence_seq: dict[str, int] = {}
        self._next_tabs_check = 0.0
        self._batch_lock = (
            asyncio.Lock()
        )  # the consume loop and the timers' nudges decide one batch at a time
        self.lines = {
            ln.id: LinePolicy(
                id=ln.id,
                name=ln.name,
                mode=ln.distribution.mode,
                queue=tuple(ln.queue),
                offer_timeout=ln.distribution.offer_timeout,
                retry_interval=ln.distribution.retry_interval,
                sticky=ln.distribution.sticky,
                schedule=ln.schedule(),
                on_no_answer=ln.on_no_answer,
                templates=Templates(
                    welcome=ln.auto_replies.welcome,
                    off_hours=ln.auto_replies.off_hours,
                    no_answer=ln.auto_replies.no_answer,
                    closing=ln.auto_replies.closing,
                    no_answer_after=ln.auto_replies.no_answer_after,
                ),
                language=ln.language,
                auto_close_after=ln.auto_close_after,
                reopen_within=ln.reopen_within,
            )
            for ln in settings.lines
        }
        self.line_names = {ln.id: ln.name for ln in settings.lines}
        self.channel_lines = {
            (str(ch["type"]), str(ch.get("account") or ln.id)): ln.id
            for ln in settings.lines
            for ch in ln.channels
        }
        self.admins = frozenset(o.login for o in settings.operators if o.role == "admin")
        self.names = {o.login: o.name for o in settings.operators}
        capacity: dict[tuple[str, str], int] = {}
        for o in settings.operators:
            capacity[("*", o.login)] = o.max_dialogs or 10
            for ln in settings.lines:
                capacity[(ln.id, o.login)] = o.max_dialogs or ln.distribution.max_dialogs
        self.capacity = capacity
        self.state = RoutingState(capacity, {ln.id: ln.distribution.mode for ln in settings.lines})
        for o in settings.operators:
            self.state.presence.setdefault(o.login, "offline")
        self._identities: OrderedDict[Key, dict[str, Any]] = OrderedDict()
        self._outbox_done: list[str] = []
        self._timers_inflight: set[tuple[str, str, str]] = set()
        self._outbox_dirty = False  # a publish failed after its commit: republish the outbox
        self._tasks: list[asyncio.Task[None]] = []
        self.denied: set[Key] = set()  # conversations whose customer denied messages from us
        self.metrics = Metrics()
        self.metrics.watch(self)

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume the routing state from the store, republish the outbox, start consuming and the timers."""
        await self._load()
        await self._republish_outbox()
        await self._resend_undelivered()
        self._tasks = [
            asyncio.create_task(_logged(self._consume(), "engine.consume"), name="engine.consume"),
            asyncio.create_task(_logged(self._timers(), "engine.timers"), name="engine.timers"),
        ]

    async def stop(self) -> None:
        """Stop consuming and flush what was published."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        await self._flush_outbox_done()

    def _mine(self, key: str | None) -> bool:
        """Whether this worker routes the conversation (or operator) of a bus key."""
        return self._owned is None or key is None or self.bus.partition(INBOUND, key) in self._owned

    async def _load(self) -> None:
        self.denied = await self.store.denied_conversations()
        self.state.clear()
        rows = await self.store.open_dialogs()
        mine = [dialog_from_row(r) for r in rows]
        mine = [d for d in mine if self._mine(conversation_key(d.channel, d.account, d.chat_id))]
        for d in mine:
            self.state.put(d)
        if self.shared is not None:
            await self._sync_waiting()
        log.info(ev.ENGINE_RESUMED, open_dialogs=len(mine), partitions=_count(self._owned))

    async def _sweep_waiting(self) -> None:
        """Take out of the shared order the entries of our partitions' dialogs that were closed while their removal
        was lost (a crash between a commit and its update of the order)."""
        entries = [w for ws in self._waiting.values() for w in ws if w.dialog_id not in self.state.dialogs]
        # open ones of ours are in memory: _sync_waiting sees to them
        rows = await self.store.dialogs_by_id(w.dialog_id for w in entries)
        mine = {
            i
            for i, row in rows.items()
            if self._mine(conversation_key(row["channel"], row["account"], row["chat_id"]))
        }
        await self._set_waiting((), fairness.lost(entries, rows, mine))

    async def _sync_waiting(self) -> None:
        """Several workers: put every dialog of ours that waits into its line's shared order (idempotent), and
        take out the entries of ours that no longer wait (a removal a crash or an outage lost)."""
        await self._set_waiting(*fairness.resync(self.state.dialogs, self._waiting, self.clock.now()))

    async def _set_waiting(self, add: Iterable[Waiting], remove: Iterable[Waiting]) -> None:
        """Update the shared order; when Redis is away routing goes on without it (the next sweep catches up)."""
        assert self.shared is not None
        add, remove = list(add), list(remove)
        if not add and not remove:
            return
        try:
            await self.shared.set_waiting(add, remove)
        except Exception as exc:
            if not _transient(exc):
                raise
            log.warning(ev.ENGINE_WAITING_SYNC_FAILED, error=str(exc))

    async def _follow_partitions(self) -> None:
        """Partitions came or went (a worker started or died): route exactly the dialogs of ours."""
        owned = self.bus.owned(INBOUND, "router")
        if owned is None or owned == self._owned:
            return
        gained = owned - (self._owned or frozenset())
        self._owned = owned
        await self._load()
        if gained:  # what a dead owner committed but never published is ours to publish now
            await self._republish_outbox()
            await self._resend_undelivered()
        log.info(ev.ENGINE_PARTITIONS, owned=sorted(owned), gained=sorted(gained))

    async def _republish_outbox(self) -> None:
        limit = 10_000
        while True:
            rows = await self.store.pending_outbox(limit)
            mine = [r for r in rows if self._mine(r["key"])]
            if not mine:
                return
            items: list[tuple[str, str | None, Event]] = []
            for r in mine:
                # a batch's events of one partition: [stream, key, event] each
                if r["stream"] == OUTBOX_BUNDLE:
                    items += [
                        (stream, key, from_dict(event)) for stream, key, event in orjson.loads(r["payload"])
                    ]
                else:
                    items.append((r["stream"], r["key"], loads(r["payload"])))
            await self.bus.publish_many(items)  # in one write (one round trip on Redis)
            await self.store.apply(Changes(outbox_done=[r["id"] for r in mine]))
            log.info(ev.OUTBOX_REPUBLISHED, count=len(mine))
            if len(rows) < limit:
                return

    async def _resend_undelivered(self) -> None:
        # a crash after the outbox was published but before the channel confirmed: send again (channels dedupe)
        for m in await self.store.undelivered():
            if not self._mine(conversation_key(m["d_channel"], m["d_account"], m["d_chat_id"])):
                continue
            msg = OutboundMessage(
                new_id(),
                m["id"],
                m["dialog_id"],
                m["d_channel"],
                m["d_account"],
                m["d_chat_id"],
                m["text"],
                iso(m["created_at"]) or "",
                m["author_kind"],
                m["author_name"],
                tuple(
                    Attachment(a.get("name") or "file", a.get("mime") or "", a.get("size"), a.get("ref"))
                    for a in m.get("attachments") or []
                ),
            )
            key = conversation_key(msg.channel, msg.account, msg.chat_id)
            await self.bus.publish(outbound_stream(msg.channel), [msg], key=key)

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
                if _cancelling():  # a library turned our cancellation into a timeout: stop, don't retry
                    raise asyncio.CancelledError() from exc
                log.exception(ev.ENGINE_BATCH_FAILED, size=len(events))
                if _transient(exc):  # Redis or the database away: the same batch again, nothing dead-lettered
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
                if entry.deliveries < MAX_DELIVERIES or _transient(exc):
                    settled = False
                else:  # a poison event: kept as a dead letter, acked with its batch so the rest keeps flowing
                    log.exception(ev.ENGINE_DEAD_LETTER, kind=entry.event.kind, deliveries=entry.deliveries)
                    await self.bus.dead_letter(INBOUND, entry, f"{type(exc).__name__}: {exc}")
                    await self._refuse_receipt(entry.event)
        return settled

    async def _refuse_receipt(self, event: Event) -> None:
        # the channel may move on (offset, ts, IMAP Seen flag) at once rather than keep redelivering what cannot be stored
        if isinstance(event, InboundMessage | CustomerConsent):
            external_id = event.external_id if isinstance(event, InboundMessage) else event.event_id
            receipt = Receipt(
                new_id(), event.channel, event.account, event.chat_id, external_id, None, None, "not_stored"
            )
            key = conversation_key(event.channel, event.account, event.chat_id)
            await self.bus.publish(outbound_stream(event.channel), [receipt], key=key)

    async def _timers(self) -> None:
        idle_ticks = 0
        while True:
            if _cancelling():  # a library swallowed our cancellation (seen at SIGTERM during an outage): end
                raise asyncio.CancelledError()
            await asyncio.sleep(0.1)
            try:
                if self.shared is not None:
                    await self._shared_tick()
                if self._outbox_dirty:
                    async with self._batch_lock:
                        await self._republish_outbox()
                    self._outbox_dirty = False
                await self._due_timers()
                idle_ticks = idle_ticks + 1 if self._outbox_done else 0
                if idle_ticks >= 5:
                    await self._flush_outbox_done()
            except Exception as exc:
                if not _transient(exc) or _cancelling():
                    raise
                log.warning(ev.ENGINE_TICK_FAILED, error=str(exc))  # Redis or the database away: next tick

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

    async def _shared_tick(self) -> None:
        """Several workers: follow partition moves, offer the backlog when another worker freed a slot or an
        operator came online (the epoch moved), and now and then drop the slots a crash left held."""
        assert self.shared is not None
        if self.bus.owned(INBOUND, "router") != self._owned:
            async with self._batch_lock:
                await self._follow_partitions()
        epoch = await self.shared.epoch()
        now = time.monotonic()
        # another worker's dialog held ours back past the grace: look again, passing it over this time
        lapsed = [f for f, t in self._blocking.items() if now - t > FAIR_GRACE_S and f not in self._lapsed]
        self._lapsed.update(lapsed)
        if epoch != self._epoch or lapsed:
            self._epoch = epoch
            waiting = any(
                d.state == dm.QUEUED or self._mode_of(d.line_id) == "all" for d in self.state.dialogs.values()
            )
            if waiting:
                await self.handle([], nudge=True)
        if time.monotonic() >= self._next_tabs_check:
            self._next_tabs_check = time.monotonic() + self.settings.queue.presence_ttl.total_seconds() / 3
            await self._expire_tabs()
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_EVERY
            async with self._batch_lock:
                await self._sweep()
                await self._sweep_waiting()
                await self._sync_waiting()

    async def _expire_tabs(self) -> None:
        """The operators of our partitions whose consoles were open only in web processes that stopped renewing
        them (the process died): their presence changes, published like any other."""
        assert self.shared is not None
        logins = [o.login for o in self.settings.operators if self._mine(f"operator:{o.login}")]
        for p in await self.shared.expire_tabs(logins, self.clock.now()):
            event = OperatorPresence(new_id(), p.login, p.status, iso(self.clock.now()) or "", p.seq)
            await self.bus.publish(INBOUND, [event], key=f"operator:{p.login}")

    async def _sweep(self) -> None:
        """Release slots held for dialogs of our partitions that no longer hold them (a crash before a commit)."""
        assert self.shared is not None
        stale_before = self.clock.now() - HOLD_GRACE
        mode_of = self._mode_of
        released = []
        for hold, at in await self.shared.holds(self.names):
            if at > stale_before:
                continue
            d = self.state.dialogs.get(hold.dialog_id)
            if d is None:
                row = await self.store.get_dialog(hold.dialog_id)
                conv = conversation_key(row["channel"], row["account"], row["chat_id"]) if row else None
                if not self._mine(conv):
                    continue  # another worker's dialog: its owner sweeps it
                d = dialog_from_row(row) if row is not None else None
            held = {h.login: h for h in fence.holds_of(d, mode_of)}
            if hold.login in held and held[hold.login] != hold:
                # the slot is right, its kind is not (a crash between a take and its commit): set it straight
                await self.shared.reserve(held[hold.login], None, self.clock.now())
            elif hold.login not in held:
                released.append(hold)
        if released:
            await self.shared.release(released)
            log.warning(ev.ENGINE_HOLDS_SWEPT, count=len(released))

    def _mode_of(self, line_id: str) -> str:
        line = self.lines.get(line_id)
        return line.mode if line else "even"

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
            if self.shared is not None:
                await self._follow_partitions()
                if keys is not None and not all(self._mine(k) for k in keys):
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
            if not _transient(exc):
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
        for attempt in range(MAX_ATTEMPTS):
            before: dict[str, Dialog] = {}
            if self.shared is not None:
                if nudge or self._routes(events):
                    await self._refresh_loads()
                before = dict(self.state.dialogs)
            work = BatchWork(self, self.clock.now())
            work.freed = nudge
            done, self._outbox_done = self._outbox_done, []
            secured: fence.Fence | None = None
            try:
                await work.prefetch(events, optimistic=attempt == 0)
                for event in events:
                    work.apply(event)
                work.settle()
                work.finish()
                work.outbox()
                work.changes.outbox_done = done
                if self.shared is not None:
                    secured = await fence.secure(
                        self.shared,
                        before,
                        work.staged,
                        mode_of=self._mode_of,
                        limit=self._limit,
                        now=work.now,
                    )
                await self.store.apply(work.changes)
            except (DuplicateKey, StaleDialog, fence.Conflict) as exc:
                self._outbox_done.extend(done)
                if secured is not None:
                    await fence.undo(self.shared, secured)  # type: ignore[arg-type]
                if isinstance(exc, DuplicateKey) and attempt == 0:
                    # a redelivered event (the first attempt takes every message as new): nothing else
                    # changed, so the batch's own changes are undone in memory and it is decided again
                    log.info(ev.ENGINE_BATCH_RETRY, attempt=attempt, size=len(events), reason="duplicate")
                    work.revert()
                else:  # another worker changed the dialogs or took a slot: read them again
                    log.warning(ev.ENGINE_BATCH_RETRY, attempt=attempt, size=len(events), reason=str(exc))
                    await self._load()
                continue
            except BaseException:
                self._outbox_done.extend(done)
                if secured is not None:
                    with contextlib.suppress(Exception):
                        await fence.undo(self.shared, secured)  # type: ignore[arg-type]
                await self._load()  # the in-memory state ran ahead of the rolled-back transaction
                raise
            if self.shared is not None:
                await self._after_commit(events, secured)
                await self._set_waiting(*fairness.waiting_changes(before, work.staged, work.now))
            for key, ident in work.new_identities.items():
                self._remember_identity(key, ident)
            for conv, allowed in work.consent.items():
                (self.denied.discard if allowed else self.denied.add)(conv)
            for event in events:
                if isinstance(event, DialogTimer):
                    self._timers_inflight.discard((event.dialog_id, event.timer, event.due))
            self.metrics.apply(work.obs)
            if not work.published:
                return None, work.outbox_ids
            return self.bus.enqueue(work.published, work.encoded), work.outbox_ids
        raise RuntimeError("batch kept colliding with other batches")

    def _routes(self, events: list[Event]) -> bool:
        """Whether deciding these events may choose an operator (then the shared loads are read first): anything
        but messages and replies in dialogs that are assigned already, and delivery reports."""
        state = self.state
        for e in events:
            if isinstance(e, DeliveryStatus):
                continue
            if isinstance(e, InboundMessage):
                d = state.open_dialog((e.channel, e.account, e.chat_id))
                if d is not None and d.state == dm.ASSIGNED:
                    continue
            elif isinstance(e, OperatorCommand) and e.command == "reply":
                d = state.dialogs.get(e.dialog_id)
                if d is not None and d.state == dm.ASSIGNED and d.operator == e.operator:
                    continue
            return True
        return False

    async def _refresh_loads(self) -> None:
        """Several workers: every operator's presence and load as the shared state has them now."""
        assert self.shared is not None
        load = await self.shared.load(self.names, self.lines)
        self._waiting, self._placed = load.waiting, load.placed
        if self._blocking:  # forget the ones placed or gone since
            present = {w.dialog_id for entries in load.waiting.values() for w in entries}
            self._blocking = {f: t for f, t in self._blocking.items() if f in present}
            self._lapsed &= present
        self.state.presence.clear()
        self.state.presence.update(load.presence)
        self.state.open_count.clear()
        self.state.open_count.update(load.assigned)
        self.state.offer_count.clear()
        self.state.offer_count.update(load.offered)
        self.state.last_offered_at.update(load.last_offered_at)

    def routable(self, d: Dialog, line: LinePolicy, since: datetime) -> Mapping[str, OperatorState]:
        """The line's operators as a waiting (or new) dialog that started waiting at `since` may see them. Several
        workers: nobody, when dialogs that have waited longer at any worker would take every free slot."""
        ops = self.state.operators_for(line)
        entries = self._waiting.get(line.id) if self.shared is not None else None
        if not entries:
            return ops
        skip: set[str] = self._placed | self._lapsed if self._lapsed else self._placed
        ahead = fairness.held_back_by(line, ops, entries, since, d.id, self.state.dialogs, skip)
        if not ahead:
            return ops
        now = time.monotonic()
        for other in ahead:
            if other not in self.state.dialogs:  # another worker's (ours are placed by the caller's loop)
                self._blocking.setdefault(other, now)
        return fairness.Taken(ops)

    def _limit(self, hold: Hold, d: Dialog) -> int | None:
        """The capacity a new slot is reserved against; None where the decision knowingly went past it
        (an admin's take-over or transfer, which the pure rules allow)."""
        line_cap = self.capacity.get((d.line_id, hold.login), self.capacity.get(("*", hold.login), 10))
        offers = self.state.offer_count[hold.login] if self._mode_of(d.line_id) != "all" else 0
        # the counters already include this batch's decisions: past the cap only where the rules allowed it
        return None if self.state.open_count[hold.login] + offers > line_cap else line_cap

    async def _after_commit(self, events: list[Event], secured: fence.Fence | None) -> None:
        assert self.shared is not None
        if secured is not None and secured.gone:
            await self.shared.release(secured.gone)
        # as the batch left it: an older change published late was skipped (router/engine/operators.py)
        for login in {e.operator for e in events if isinstance(e, OperatorPresence)}:
            if self.settings.operator(login) is not None and login in self.state.presence:
                await self.shared.set_presence(login, self.state.presence[login])

    def _remember_identity(self, key: Key, ident: dict[str, Any]) -> None:
        self._identities[key] = ident
        self._identities.move_to_end(key)
        while len(self._identities) > _IDENTITY_CACHE:
            self._identities.popitem(last=False)

    def viewer(self, login: str) -> Viewer:
        """The access profile of an operator."""
        return Viewer(login, login in self.admins, frozenset(self.settings.lines_of(login)))

    def watchers(self, d: Dialog) -> set[str]:
        """Operators whose consoles follow the dialog: its operator, those offered it, admins; the line if queued."""
        out = set(self.admins)
        if d.operator:
            out.add(d.operator)
        out.update(d.offered_to)
        if d.state == dm.QUEUED:
            out.update(self.lines[d.line_id].queue)
        return out
