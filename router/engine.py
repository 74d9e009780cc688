"""The I/O shell: consume a batch → load → decide (pure) → persist in one transaction → publish → ack."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Coroutine, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from crm_core.ids import new_id
from crm_core.recognition import normalize_email, normalize_phone
from crm_core.store import Changes, DuplicateKey, Key, Store
from queues.bus import CONSOLE, INBOUND, Bus, Entry, outbound_stream
from queues.messages import (
    ConsoleEvent,
    DialogTimer,
    Event,
    InboundMessage,
    OperatorCommand,
    OperatorPresence,
    OutboundMessage,
    Receipt,
    dumps,
    loads,
)
from router import dialogs as dm
from router import log_events as ev
from router.clock import Clock, iso, parse_iso
from router.dialogs import Dialog, LinePolicy, Outcome
from router.logs import get
from router.records import dialog_from_row, dialog_row
from router.settings import Settings
from router.state import ONLINE, RoutingState
from router.views import dialog_view, message_view

log = get(__name__)
_IDENTITY_CACHE = 50_000
MAX_DELIVERIES = 3


def conversation_key(channel: str, account: str, chat_id: str) -> str:
    """The bus key that keeps one conversation's events in order (and on one partition)."""
    return f"{channel}:{account}:{chat_id}"


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
        self._idle = asyncio.Event()
        self.batches = 0

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume the routing state from the store, republish the outbox, start consuming and the timers."""
        await self._load()
        await self._republish_outbox()
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
            self.batches += 1

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
        return settled

    async def _timers(self) -> None:
        idle_ticks = 0
        while True:
            await asyncio.sleep(0.1)
            now = self.clock.now()
            due: list[tuple[Dialog, str, datetime]] = []
            for d in self.state.dialogs.values():
                if d.state == dm.OFFERED and d.offer_deadline is not None and d.offer_deadline <= now:
                    due.append((d, "offer_expired", d.offer_deadline))
                elif d.state == dm.QUEUED and d.retry_at is not None and d.retry_at <= now:
                    due.append((d, "queue_retry", d.retry_at))
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
            work = _Work(self, self.clock.now())
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
            for event in events:
                if isinstance(event, DialogTimer):
                    self._timers_inflight.discard((event.dialog_id, event.timer, event.due))
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

    def watchers(self, d: Dialog) -> set[str]:
        """Operators whose consoles follow the dialog: its operator, those offered it, admins; the line if queued."""
        out = set(self.admins)
        if d.operator:
            out.add(d.operator)
        out.update(d.offered_to)
        if d.state == dm.QUEUED:
            out.update(self.lines[d.line_id].queue)
        return out


class _Work:
    """The decisions and writes of one batch."""

    def __init__(self, engine: Engine, now: datetime) -> None:
        self.e = engine
        self.now = now
        self.changes = Changes()
        self.published: list[tuple[str, str | None, Event]] = []
        self.outbox_ids: list[str] = []
        self.known_messages: dict[Key, dict[str, Any]] = {}
        self.identities: dict[Key, dict[str, Any]] = {}
        self.new_identities: dict[Key, dict[str, Any]] = {}
        self.leads: dict[str, dict[str, Any]] = {}
        self.other_dialogs: dict[str, dict[str, Any] | None] = {}
        self.staged: dict[str, Dialog] = {}
        self.new_dialogs: set[str] = set()
        self.freed = False

    # ---- loading ----------------------------------------------------------------------------------

    async def prefetch(self, events: Iterable[Event]) -> None:
        """Load in a few queries what the batch's decisions read: known messages, identities, leads."""
        e = self.e
        msg_keys: list[Key] = []
        conv_keys: list[Key] = []
        unknown_dialogs: list[str] = []
        for event in events:
            if isinstance(event, InboundMessage):
                msg_keys.append((event.channel, event.account, event.external_id))
                conv_keys.append((event.channel, event.account, event.chat_id))
            elif isinstance(event, OperatorCommand):
                if event.command == "reply" and event.client_msg_id:
                    msg_keys.append(("console", event.operator, event.client_msg_id))
                if event.dialog_id not in e.state.dialogs:
                    unknown_dialogs.append(event.dialog_id)
        self.known_messages = await e.store.find_messages(msg_keys)
        missing = [k for k in conv_keys if k not in e._identities]
        self.identities = {k: e._identities[k] for k in conv_keys if k in e._identities}
        if missing:
            self.identities.update(await e.store.find_identities(missing))
        need_leads = [
            ident["lead_id"] for k, ident in self.identities.items() if e.state.open_dialog(k) is None
        ]
        self.leads = await e.store.leads_by_id(need_leads)
        for dialog_id in set(unknown_dialogs):
            self.other_dialogs[dialog_id] = await e.store.get_dialog(dialog_id)

    # ---- dispatch ---------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Decide one event, staging its writes and outbox."""
        if isinstance(event, InboundMessage):
            self._customer_message(event)
        elif isinstance(event, OperatorCommand):
            self._command(event)
        elif isinstance(event, OperatorPresence):
            self._presence(event)
        elif isinstance(event, DialogTimer):
            self._timer(event)

    def settle(self) -> None:
        """When capacity was freed or someone came online, offer the backlog, oldest first."""
        if not self.freed:
            return
        e = self.e
        for d in e.state.queued():
            line = e.lines[d.line_id]
            self._outcome(d, dm.operator_available(d, line, e.state.operators_for(line), self.now))
        for d in list(e.state.dialogs.values()):
            if d.state == dm.OFFERED and e.lines[d.line_id].mode == "all":
                line = e.lines[d.line_id]
                self._outcome(d, dm.operator_available(d, line, e.state.operators_for(line), self.now))

    def finish(self) -> None:
        """Turn the staged dialogs into inserts and updates."""
        for dialog_id, d in self.staged.items():
            row = dialog_row(d, self.now)
            if dialog_id in self.new_dialogs:
                self.changes.dialogs_new.append(row)
            else:
                self.changes.dialogs_changed[dialog_id] = row

    # ---- customers ----------------------------------------------------------------------------------

    def _customer_message(self, m: InboundMessage) -> None:
        e = self.e
        key = (m.channel, m.account, m.external_id)
        line_id = e.channel_lines.get((m.channel, m.account))
        if line_id is None:
            self._receipt(m, None, None, error="unknown_channel")
            return
        known = self.known_messages.get(key)
        if known is not None:  # a redelivery: stored once, answered with the same receipt
            self._receipt(m, known["id"], known["dialog_id"])
            return
        conv = (m.channel, m.account, m.chat_id)
        ident = self.identities.get(conv) or self._new_customer(m, conv)
        d = e.state.open_dialog(conv)
        preview: dict[str, Any] = {
            "last_message_at": self.now,
            "last_message_text": m.text[:200],
            "last_message_author": "customer",
        }
        if d is None:
            lead = self.leads.get(ident["lead_id"]) or {}
            d = Dialog(
                id=new_id(),
                line_id=line_id,
                lead_id=ident["lead_id"],
                identity_id=ident["id"],
                channel=m.channel,
                account=m.account,
                chat_id=m.chat_id,
                state=dm.QUEUED,
                created_at=self.now,
                customer_name=ident.get("display_name") or m.sender.display_name,
                preferred=lead.get("responsible"),
                source_tag=m.source_tag,
                **preview,
            )
            line = e.lines[line_id]
            self.new_dialogs.add(d.id)
            self._outcome(d, dm.open_dialog(d, line, e.state.operators_for(line), self.now), new=True)
            log.info(ev.DIALOG_OPENED, dialog=d.id, line=line_id, channel=m.channel)
            d = self.staged[d.id]
        else:
            d = replace(d, **preview)
            self._save(d)
        row: dict[str, Any] = {
            "id": new_id(),
            "dialog_id": d.id,
            "channel": m.channel,
            "account": m.account,
            "external_id": m.external_id,
            "direction": "in",
            "author_kind": "customer",
            "author_id": None,
            "author_name": d.customer_name,
            "text": m.text,
            "visibility": "public",
            "attachments": [
                {"name": a.name, "mime": a.mime, "size": a.size, "ref": a.ref, "url": a.url}
                for a in m.attachments
            ],
            "created_at": self.now,
            "edited_at": None,
        }
        self.changes.messages.append(row)
        self.known_messages[key] = row
        self._console(e.watchers(d), {"type": "message", "dialog_id": d.id, "message": message_view(row)})
        self._receipt(m, row["id"], d.id)

    def _new_customer(self, m: InboundMessage, conv: Key) -> dict[str, Any]:
        e = self.e
        name = m.sender.display_name or "Customer"
        lead_id = new_id()
        self.changes.leads.append(
            {
                "id": lead_id,
                "name": name,
                "phone": normalize_phone(m.sender.phone),
                "email": normalize_email(m.sender.email),
                "status": e.settings.crm.statuses[0],
                "responsible": None,
                "source": m.source_tag or m.channel,
                "created_at": self.now,
                "updated_at": self.now,
            }
        )
        profile = {
            k: v
            for k, v in {
                "first_name": m.sender.first_name,
                "last_name": m.sender.last_name,
                "username": m.sender.username,
                "language": m.sender.language,
            }.items()
            if v
        }
        ident = {"id": new_id(), "lead_id": lead_id, "display_name": name}
        self.changes.identities.append(
            {
                **ident,
                "channel": m.channel,
                "account": m.account,
                "external_id": m.chat_id,
                "profile": profile,
                "created_at": self.now,
            }
        )
        self.identities[conv] = ident
        self.new_identities[conv] = ident
        self.leads[lead_id] = {"responsible": None}
        return ident

    def _receipt(
        self, m: InboundMessage, message_id: str | None, dialog_id: str | None, error: str | None = None
    ) -> None:
        receipt = Receipt(
            new_id(), m.channel, m.account, m.chat_id, m.external_id, message_id, dialog_id, error
        )
        self._emit(outbound_stream(m.channel), conversation_key(m.channel, m.account, m.chat_id), receipt)

    # ---- operators -----------------------------------------------------------------------------------

    def _command(self, c: OperatorCommand) -> None:
        e = self.e
        op = c.operator
        if c.command == "reply" and c.client_msg_id:
            known = self.known_messages.get(("console", op, c.client_msg_id))
            if known is not None:
                self._ack(c, known["id"], known["dialog_id"])
                return
        d = e.state.dialogs.get(c.dialog_id) or self.staged.get(c.dialog_id)
        if d is None or d.state == dm.CLOSED:
            other = self.other_dialogs.get(c.dialog_id)
            if other is None and d is None:
                self._refuse(c, "not_found", "no such dialog")
            else:
                self._refuse(c, "bad_state", "the dialog is closed")
            return
        line = e.lines[d.line_id]
        if not (op in e.admins or op in line.queue or d.operator == op or op in d.offered_to):
            self._refuse(c, "forbidden", "the dialog is not in your lines")
            return
        ops = e.state.operators_for(line)
        out: Outcome
        if c.command == "take":
            out = dm.take(d, op, line, ops, self.now)
        elif c.command == "reply":
            self._reply(c, d, line)
            return
        elif c.command == "skip":
            out = dm.skip(d, op, line, ops, self.now)
        elif c.command == "close":
            out = dm.close(d, op, self.now)
        elif c.command == "transfer":
            if c.to_operator:
                if e.settings.operator(c.to_operator) is None:
                    self._refuse(c, "unknown_operator", f"no operator {c.to_operator!r}")
                    return
                out = dm.transfer_to_operator(d, op, c.to_operator, self.now)
            else:
                target = e.lines.get(c.to_line or "")
                if target is None:
                    self._refuse(c, "unknown_line", f"no line {c.to_line!r}")
                    return
                out = dm.transfer_to_line(d, op, target, e.state.operators_for(target), self.now)
        else:
            self._refuse(c, "unknown_type", f"unknown command {c.command!r}")
            return
        if out.error:
            self._refuse(c, *out.error)
            return
        self._outcome(d, out, by=op)

    def _reply(self, c: OperatorCommand, d: Dialog, line: LinePolicy) -> None:
        e = self.e
        op = c.operator
        internal = c.visibility == "internal"
        if not internal:  # a note between operators takes nothing and tells the customer nothing
            out = dm.reply(d, op, line, e.state.operators_for(line), self.now)
            if out.error:
                self._refuse(c, *out.error)
                return
            self._outcome(d, out, by=op)
            d = self.staged.get(d.id, d)
        elif d.state == dm.CLOSED:
            self._refuse(c, "bad_state", "the dialog is closed")
            return
        text = c.text or ""
        row: dict[str, Any] = {
            "id": new_id(),
            "dialog_id": d.id,
            "channel": "console",
            "account": op,
            "external_id": c.client_msg_id,
            "direction": "out",
            "author_kind": "operator",
            "author_id": op,
            "author_name": e.names.get(op, op),
            "text": text,
            "visibility": "internal" if internal else "public",
            "attachments": [],
            "created_at": self.now,
            "edited_at": None,
        }
        self.changes.messages.append(row)
        if c.client_msg_id:
            self.known_messages[("console", op, c.client_msg_id)] = row
        if not internal:
            d = replace(
                d, last_message_at=self.now, last_message_text=text[:200], last_message_author="operator"
            )
            self._save(d)
            out_msg = OutboundMessage(
                new_id(),
                row["id"],
                d.id,
                d.channel,
                d.account,
                d.chat_id,
                text,
                iso(self.now) or "",
                "operator",
                row["author_name"],
            )
            self._emit(outbound_stream(d.channel), conversation_key(d.channel, d.account, d.chat_id), out_msg)
        self._console(e.watchers(d), {"type": "message", "dialog_id": d.id, "message": message_view(row)})
        self._ack(c, row["id"], d.id)

    def _presence(self, p: OperatorPresence) -> None:
        e = self.e
        if e.settings.operator(p.operator) is None:
            return
        before = e.state.presence.get(p.operator)
        e.state.presence[p.operator] = p.status
        self._console({p.operator}, {"type": "presence", "status": p.status})
        if before != p.status:
            log.info(ev.PRESENCE_CHANGED, operator=p.operator, status=p.status)
        if p.status == ONLINE and before != ONLINE:
            self.freed = True
        if p.status == "away":  # an operator stepping away passes their offers on at once
            for d in [d for d in e.state.dialogs.values() if p.operator in d.offered_to]:
                line = e.lines[d.line_id]
                self._outcome(
                    d, dm.skip(d, p.operator, line, e.state.operators_for(line), self.now, reason="away")
                )

    def _timer(self, t: DialogTimer) -> None:
        e = self.e
        d = e.state.dialogs.get(t.dialog_id)
        if d is None:
            return
        line = e.lines[d.line_id]
        ops = e.state.operators_for(line)
        due = parse_iso(t.due)
        if t.timer == "offer_expired":
            self._outcome(d, dm.offer_expired(d, due, line, ops, self.now))
        elif t.timer == "queue_retry":
            self._outcome(d, dm.queue_retry(d, due, line, ops, self.now))

    def _refuse(self, c: OperatorCommand, code: str, message: str) -> None:
        log.info(ev.COMMAND_REFUSED, operator=c.operator, dialog=c.dialog_id, command=c.command, code=code)
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message, "dialog_id": c.dialog_id}
        if c.client_msg_id:
            frame["client_msg_id"] = c.client_msg_id
        self._console({c.operator}, frame)

    def _ack(self, c: OperatorCommand, message_id: str, dialog_id: str) -> None:
        frame = {"type": "ack", "client_msg_id": c.client_msg_id, "id": message_id, "dialog_id": dialog_id}
        self._console({c.operator}, frame)

    # ---- effects ------------------------------------------------------------------------------------

    def _save(self, d: Dialog) -> None:
        self.staged[d.id] = d
        self.e.state.put(d, self.now)

    def _outcome(self, before: Dialog, out: Outcome, *, by: str | None = None, new: bool = False) -> None:
        d = out.dialog
        if d == before and not out.effects and not new:
            return
        self._save(d)
        e = self.e
        view = None

        def dialog_json() -> dict[str, Any]:
            nonlocal view
            if view is None:
                view = dialog_view(dialog_row(d, self.now), e.line_names)
            return view

        line_ops = set(e.lines[d.line_id].queue)
        frame: dict[str, Any]
        for fx in out.effects:
            if isinstance(fx, dm.Offered):
                self._event(
                    d, "offered", None, {"operators": list(fx.operators), "deadline": iso(fx.deadline)}
                )
                self._console(
                    set(fx.operators), {"type": "dialog.offered", "dialog_id": d.id, "dialog": dialog_json()}
                )
                log.info(ev.DIALOG_OFFERED, dialog=d.id, line=d.line_id, operators=list(fx.operators))
            elif isinstance(fx, dm.Withdrawn):
                self._event(d, "withdrawn", None, {"operators": list(fx.operators), "reason": fx.reason})
                frame = {"type": "dialog.withdrawn", "dialog_id": d.id, "reason": fx.reason}
                self._console(set(fx.operators), frame)
                self.freed = True
            elif isinstance(fx, dm.Queued):
                self._event(d, "queued", None, {"reason": fx.reason})
                self._console(
                    line_ops | e.admins, {"type": "dialog.queued", "dialog_id": d.id, "dialog": dialog_json()}
                )
                log.info(ev.DIALOG_QUEUED, dialog=d.id, line=d.line_id, reason=fx.reason)
            elif isinstance(fx, dm.Assigned):
                self._event(d, "assigned", fx.operator, {"how": fx.how, "previous": fx.previous})
                to = line_ops | e.admins | {fx.operator} | ({fx.previous} if fx.previous else set())
                frame = {
                    "type": "dialog.assigned",
                    "dialog_id": d.id,
                    "operator": fx.operator,
                    "dialog": dialog_json(),
                }
                self._console(to, frame)
                log.info(ev.DIALOG_ASSIGNED, dialog=d.id, line=d.line_id, operator=fx.operator, how=fx.how)
            elif isinstance(fx, dm.Transferred):
                data: dict[str, Any] = {
                    "by": fx.by,
                    "from": fx.from_operator,
                    "to_operator": fx.to_operator,
                    "to_line": fx.to_line,
                }
                self._event(d, "transferred", fx.by, data)
                to = set(e.admins) | {o for o in (fx.by, fx.from_operator, fx.to_operator) if o}
                if fx.to_line:
                    to |= set(e.lines[fx.to_line].queue)
                frame = {
                    "type": "dialog.transferred",
                    "dialog_id": d.id,
                    "from_operator": fx.from_operator,
                    "to_operator": fx.to_operator,
                    "to_line": fx.to_line,
                    "dialog": dialog_json(),
                }
                self._console(to, frame)
                self.freed = True
                log.info(ev.DIALOG_TRANSFERRED, dialog=d.id, to_operator=fx.to_operator, to_line=fx.to_line)
            elif isinstance(fx, dm.Closed):
                self._event(d, "closed", fx.by, {})
                to = line_ops | e.admins | ({before.operator} if before.operator else set())
                self._console(to, {"type": "dialog.closed", "dialog_id": d.id, "dialog": dialog_json()})
                self.freed = True
                log.info(ev.DIALOG_CLOSED, dialog=d.id, line=d.line_id, by=fx.by)
            elif isinstance(fx, dm.ResponsibleChanged):
                self._event(d, "responsible", fx.operator, {})
                self.changes.lead_updates.append(
                    {"id": d.lead_id, "responsible": fx.operator, "updated_at": self.now}
                )
            elif isinstance(fx, dm.FirstResponse):
                self._event(d, "first_response", fx.operator, {"seconds": fx.seconds})

    def _event(self, d: Dialog, kind: str, operator: str | None, data: dict[str, Any]) -> None:
        self.changes.events.append(
            {
                "id": new_id(),
                "dialog_id": d.id,
                "kind": kind,
                "operator": operator,
                "data": data,
                "at": self.now,
            }
        )

    def _console(self, recipients: Iterable[str], frame: dict[str, Any]) -> None:
        to = tuple(sorted(recipients))
        if to:
            self._emit(CONSOLE, None, ConsoleEvent(new_id(), to, frame))

    def _emit(self, stream: str, key: str | None, event: Event) -> None:
        outbox_id = new_id()
        self.changes.outbox.append(
            {
                "id": outbox_id,
                "stream": stream,
                "key": key,
                "payload": dumps(event).decode(),
                "created_at": self.now,
            }
        )
        self.outbox_ids.append(outbox_id)
        self.published.append((stream, key, event))
