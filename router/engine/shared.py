"""One router worker among several: the shared loads and queue order it routes against, the slots its batches
secure, and the clean-up of what stalled or crashed workers left behind (the shared state: router/cluster/)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from crm_core.ids import new_id
from crm_core.store import Store
from queues.bus import INBOUND, Bus, conversation_key
from queues.messages import Event, OperatorPresence
from router.app import log_events as ev
from router.app.clock import Clock
from router.app.logs import get
from router.app.settings import Settings
from router.cluster import fence
from router.cluster.shared_load import Hold, SharedLoad
from router.engine.faults import transient
from router.engine.order import QueueOrder
from router.engine.records import dialog_from_row
from router.engine.recovery import Recovery
from router.engine.routing import Routing
from router.protocol.times import iso
from router.rules import fairness
from router.rules.dialog import QUEUED, Dialog
from router.rules.fairness import Waiting

log = get(__name__)
SWEEP_EVERY = 30.0  # seconds between sweeps of slots left held by a crash
HOLD_GRACE = timedelta(seconds=60)  # a slot younger than this may belong to a batch still committing
# another worker's waiting dialog that holds ours back while a slot is free is trusted this long: its worker places
# it within a tick of seeing the slot; an entry that outlived its dialog (a crash, a stall) is passed over after this
FAIR_GRACE_S = 2.0


class SharedWorker:
    """What a worker does because others route beside it; the engine calls it around each batch and tick."""

    def __init__(
        self,
        shared: SharedLoad,
        routing: Routing,
        order: QueueOrder,
        recovery: Recovery,
        store: Store,
        bus: Bus,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.shared = shared
        self.routing = routing
        self.order = order
        self.recovery = recovery
        self.store = store
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self._epoch: int | None = None
        self._next_sweep = 0.0
        self._next_tabs_check = 0.0

    # ---- partitions -----------------------------------------------------------------------------

    def moved(self) -> bool:
        """Whether the bus gave or took partitions since this worker last followed them."""
        return self.bus.owned(INBOUND, "router") != self.routing.owned

    async def follow_partitions(self) -> None:
        """Partitions came or went (a worker started or died): route exactly the dialogs of ours."""
        owned = self.bus.owned(INBOUND, "router")
        if owned is None or owned == self.routing.owned:
            return
        gained = owned - (self.routing.owned or frozenset())
        self.routing.owned = owned
        await self.reload()
        if gained:  # what a dead owner committed but never published is ours to publish now
            await self.recovery.republish_outbox()
            await self.recovery.resend_undelivered()
        log.info(ev.ENGINE_PARTITIONS, owned=sorted(owned), gained=sorted(gained))

    async def reload(self) -> None:
        """The routing state from the store, and our dialogs' places in the shared order set straight."""
        await self.recovery.load()
        await self.sync_waiting()

    # ---- before and after a batch ---------------------------------------------------------------

    async def refresh_loads(self) -> None:
        """Every operator's presence and load as the shared state has them now."""
        load = await self.shared.load(self.routing.names, self.routing.lines)
        self.order.read(load)
        state = self.routing.state
        state.presence.clear()
        state.presence.update(load.presence)
        state.open_count.clear()
        state.open_count.update(load.assigned)
        state.offer_count.clear()
        state.offer_count.update(load.offered)
        state.last_offered_at.update(load.last_offered_at)

    async def secure(
        self, before: Mapping[str, Dialog], staged: Mapping[str, Dialog], now: datetime
    ) -> fence.Fence:
        """Reserve the slots a batch's decisions take (raises fence.Conflict when another worker took one)."""
        return await fence.secure(
            self.shared, before, staged, mode_of=self.routing.mode_of, limit=self.limit, now=now
        )

    async def undo(self, secured: fence.Fence) -> None:
        """Give back the slots of a batch that did not commit."""
        await fence.undo(self.shared, secured)

    def limit(self, hold: Hold, d: Dialog) -> int | None:
        """The capacity a new slot is reserved against; None where the decision knowingly went past it
        (an admin's take-over or transfer, which the pure rules allow)."""
        r = self.routing
        line_cap = r.capacity.get((d.line_id, hold.login), r.capacity.get(("*", hold.login), 10))
        offers = r.state.offer_count[hold.login] if r.mode_of(d.line_id) != "all" else 0
        # the counters already include this batch's decisions: past the cap only where the rules allowed it
        return None if r.state.open_count[hold.login] + offers > line_cap else line_cap

    async def committed(
        self,
        events: list[Event],
        secured: fence.Fence | None,
        before: Mapping[str, Dialog],
        staged: Mapping[str, Dialog],
        now: datetime,
    ) -> None:
        """After a batch's commit: free the slots it gave up, share presence and the queue order it changed."""
        if secured is not None and secured.gone:
            await self.shared.release(secured.gone)
        # as the batch left it: an older change published late was skipped (router/engine/operators.py)
        presence = self.routing.state.presence
        for login in {e.operator for e in events if isinstance(e, OperatorPresence)}:
            if self.settings.operator(login) is not None and login in presence:
                await self.shared.set_presence(login, presence[login])
        await self.set_waiting(*fairness.waiting_changes(before, staged, now))

    # ---- the shared queue order -----------------------------------------------------------------

    async def set_waiting(self, add: Iterable[Waiting], remove: Iterable[Waiting]) -> None:
        """Update the shared order; when Redis is away routing goes on without it (the next sweep catches up)."""
        add, remove = list(add), list(remove)
        if not add and not remove:
            return
        try:
            await self.shared.set_waiting(add, remove)
        except Exception as exc:
            if not transient(exc):
                raise
            log.warning(ev.ENGINE_WAITING_SYNC_FAILED, error=str(exc))

    async def sync_waiting(self) -> None:
        """Put every dialog of ours that waits into its line's shared order (idempotent), and take out the
        entries of ours that no longer wait (a removal a crash or an outage lost)."""
        await self.set_waiting(
            *fairness.resync(self.routing.state.dialogs, self.order.waiting, self.clock.now())
        )

    async def sweep_waiting(self) -> None:
        """Take out of the shared order the entries of our partitions' dialogs that were closed while their removal
        was lost (a crash between a commit and its update of the order)."""
        dialogs = self.routing.state.dialogs
        entries = [w for ws in self.order.waiting.values() for w in ws if w.dialog_id not in dialogs]
        # open ones of ours are in memory: sync_waiting sees to them
        rows = await self.store.dialogs_by_id(w.dialog_id for w in entries)
        mine = {
            i
            for i, row in rows.items()
            if self.routing.mine(conversation_key(row["channel"], row["account"], row["chat_id"]))
        }
        await self.set_waiting((), fairness.lost(entries, rows, mine))

    # ---- the tick -------------------------------------------------------------------------------

    async def backlog_may_move(self) -> bool:
        """Whether waiting dialogs may be placed now: another worker freed a slot or an operator came online
        (the epoch moved), or another worker's dialog held ours back past the grace (passed over this time)."""
        epoch = await self.shared.epoch()
        lapsed = self.order.lapse(FAIR_GRACE_S)
        if epoch == self._epoch and not lapsed:
            return False
        self._epoch = epoch
        mode_of = self.routing.mode_of
        return any(
            d.state == QUEUED or mode_of(d.line_id) == "all" for d in self.routing.state.dialogs.values()
        )

    async def housekeeping(self, batch_lock: asyncio.Lock) -> None:
        """On their schedules: presence of operators whose web processes died, slots and queue entries a crash
        left (under the batch lock: a sweep must not see a batch half done)."""
        if time.monotonic() >= self._next_tabs_check:
            self._next_tabs_check = time.monotonic() + self.settings.queue.presence_ttl.total_seconds() / 3
            await self.expire_tabs()
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_EVERY
            async with batch_lock:
                await self.sweep()
                await self.sweep_waiting()
                await self.sync_waiting()

    async def expire_tabs(self) -> None:
        """The operators of our partitions whose consoles were open only in web processes that stopped renewing
        them (the process died): their presence changes, published like any other."""
        logins = [o.login for o in self.settings.operators if self.routing.mine(f"operator:{o.login}")]
        for p in await self.shared.expire_tabs(logins, self.clock.now()):
            event = OperatorPresence(new_id(), p.login, p.status, iso(self.clock.now()) or "", p.seq)
            await self.bus.publish(INBOUND, [event], key=f"operator:{p.login}")

    async def sweep(self) -> None:
        """Release slots held for dialogs of our partitions that no longer hold them (a crash before a commit)."""
        stale_before = self.clock.now() - HOLD_GRACE
        mode_of = self.routing.mode_of
        released = []
        for hold, at in await self.shared.holds(self.routing.names):
            if at > stale_before:
                continue
            d = self.routing.state.dialogs.get(hold.dialog_id)
            if d is None:
                row = await self.store.get_dialog(hold.dialog_id)
                conv = conversation_key(row["channel"], row["account"], row["chat_id"]) if row else None
                if not self.routing.mine(conv):
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
