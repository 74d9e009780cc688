"""The I/O shell: consume a batch → load → decide (pure) → persist in one transaction → publish → ack."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from crm_core.ids import new_id
from crm_core.store import Changes, DuplicateKey, Key, Store
from queues.bus import INBOUND, Bus, Entry, conversation_key, outbound_stream
from queues.messages import (
    Attachment,
    CustomerConsent,
    DialogTimer,
    Event,
    InboundMessage,
    OutboundMessage,
    Receipt,
    loads,
)
from router import dialogs as dm
from router import log_events as ev
from router.access import Viewer
from router.autoreply import Templates
from router.clock import Clock, iso
from router.dialogs import Dialog, LinePolicy
from router.logs import get
from router.metrics import Metrics
from router.records import dialog_from_row
from router.settings import Settings
from router.state import RoutingState
from router.work import BatchWork

log = get(__name__)
_IDENTITY_CACHE = 50_000
MAX_DELIVERIES = 3


async def _logged(loop: Coroutine[Any, Any, None], name: str) -> None:
    # a background loop that dies silently would stop routing without a trace
    try:
        await loop
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception(ev.LOOP_CRASHED, loop=name)
        raise


def _deadlines(d: Dialog) -> list[tuple[str, datetime]]:
    """The stored deadlines of a dialog that a timer event must follow up."""
    out = []
    if d.state == dm.OFFERED and d.offer_deadline is not None:
        out.append(("offer_expired", d.offer_deadline))
    if d.state == dm.QUEUED and d.retry_at is not None:
        out.append(("queue_retry", d.retry_at))
    if d.answer_due is not None:
        out.append(("no_answer", d.answer_due))
    if d.state == dm.ASSIGNED and d.auto_close_at is not None:
        out.append(("auto_close", d.auto_close_at))
    return out


class Engine:
    """Routes customer messages and operator commands; owns the routing state of its conversations."""

    def __init__(
        self, settings: Settings, store: Store, bus: Bus, clock: Clock, *, consumer: str = "router-1"
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.clock = clock
        self.consumer = consumer
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
        self.state = RoutingState(capacity, {ln.id: ln.distribution.mode for ln in settings.lines})
        for o in settings.operators:
            self.state.presence.setdefault(o.login, "offline")
        self._identities: OrderedDict[Key, dict[str, Any]] = OrderedDict()
        self._outbox_done: list[str] = []
        self._timers_inflight: set[tuple[str, str, str]] = set()
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

    async def _load(self) -> None:
        self.denied = await self.store.denied_conversations()
        self.state.clear()
        rows = await self.store.open_dialogs()
        for row in rows:
            self.state.put(dialog_from_row(row))
        log.info(ev.ENGINE_RESUMED, open_dialogs=len(rows))

    async def _republish_outbox(self) -> None:
        while True:
            rows = await self.store.pending_outbox()
            if not rows:
                return
            await self._publish([(r["stream"], r["key"], loads(r["payload"])) for r in rows])
            await self.store.apply(Changes(outbox_done=[r["id"] for r in rows]))
            log.info(ev.OUTBOX_REPUBLISHED, count=len(rows))

    async def _resend_undelivered(self) -> None:
        # a crash after the outbox was published but before the channel confirmed: send again (channels dedupe)
        for m in await self.store.undelivered():
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
        async for batch in self.bus.consume(INBOUND, "router", self.consumer):
            events = [e.event for e in batch.entries]
            try:
                await self.handle(events)
            except Exception:
                log.exception(ev.ENGINE_BATCH_FAILED, size=len(events))
                if not await self._isolate(batch.entries):
                    await asyncio.sleep(0.5)  # not acked: the bus delivers the batch again
                    continue
            await batch.ack()

    async def _isolate(self, entries: list[Entry]) -> bool:
        """Handle a failed batch event by event; True when every event is done with (stored or dropped)."""
        settled = True
        for entry in entries:
            try:
                await self.handle([entry.event])
            except Exception:
                if entry.deliveries < MAX_DELIVERIES:
                    settled = False
                else:  # a poison event: logged as a dead letter so the rest keeps flowing
                    log.exception(ev.ENGINE_DEAD_LETTER, kind=entry.event.kind, deliveries=entry.deliveries)
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
            await asyncio.sleep(0.1)
            now = self.clock.now()
            due: list[tuple[Dialog, str, datetime]] = []
            for d in self.state.dialogs.values():
                for timer, at in _deadlines(d):
                    if at <= now:
                        due.append((d, timer, at))
            for d, timer, at in due:
                marker = (d.id, timer, at.isoformat())  # exact: the stale check compares deadlines
                if marker in self._timers_inflight:
                    continue
                self._timers_inflight.add(marker)
                event = DialogTimer(new_id(), d.id, timer, marker[2], iso(now) or "")
                await self.bus.publish(
                    INBOUND, [event], key=conversation_key(d.channel, d.account, d.chat_id)
                )
            idle_ticks = idle_ticks + 1 if self._outbox_done else 0
            if idle_ticks >= 5:
                await self._flush_outbox_done()

    async def _flush_outbox_done(self) -> None:
        done, self._outbox_done = self._outbox_done, []
        if done:
            try:
                await self.store.apply(Changes(outbox_done=done))
            except Exception:
                self._outbox_done.extend(done)
                raise

    # ---- one batch -------------------------------------------------------------------------------

    async def handle(self, events: list[Event]) -> None:
        """Decide and commit a batch of events, then publish its outbox; retried on a duplicate key race."""
        for attempt in range(3):
            work = BatchWork(self, self.clock.now())
            done, self._outbox_done = self._outbox_done, []
            try:
                await work.prefetch(events)
                for event in events:
                    work.apply(event)
                work.settle()
                work.finish()
                work.changes.outbox_done = done
                await self.store.apply(work.changes)
            except DuplicateKey:
                self._outbox_done.extend(done)
                log.warning(ev.ENGINE_BATCH_RETRY, attempt=attempt, size=len(events))
                await self._load()
                continue
            except BaseException:
                self._outbox_done.extend(done)
                await self._load()  # the in-memory state ran ahead of the rolled-back transaction
                raise
            for key, ident in work.new_identities.items():
                self._remember_identity(key, ident)
            for conv, allowed in work.consent.items():
                (self.denied.discard if allowed else self.denied.add)(conv)
            for event in events:
                if isinstance(event, DialogTimer):
                    self._timers_inflight.discard((event.dialog_id, event.timer, event.due))
            self.metrics.apply(work.obs)
            await self._publish(work.published)
            self._outbox_done.extend(work.outbox_ids)
            return
        raise RuntimeError("batch kept colliding on idempotency keys")

    async def _publish(self, items: list[tuple[str, str | None, Event]]) -> None:
        # consecutive events for the same stream and key go in one publish call
        group: list[Event] = []
        current: tuple[str, str | None] | None = None
        for stream, key, event in items:
            if (stream, key) != current and group:
                assert current is not None
                await self.bus.publish(current[0], group, key=current[1])
                group = []
            current = (stream, key)
            group.append(event)
        if group and current is not None:
            await self.bus.publish(current[0], group, key=current[1])

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
