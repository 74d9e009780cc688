"""One batch's unit of work: prefetch what it reads, decide each event (pure), stage the writes and the outbox."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crm_core.ids import new_id
from crm_core.recognition import normalize_email, normalize_phone
from crm_core.store import Changes, Key
from queues.bus import CONSOLE, conversation_key, outbound_stream
from queues.messages import (
    ConsoleEvent,
    CustomerConsent,
    DeliveryStatus,
    DialogTimer,
    Event,
    InboundMessage,
    OperatorCommand,
    OperatorPresence,
    OutboundMessage,
    Receipt,
    dumps,
)
from router import autoreply
from router import dialogs as dm
from router import log_events as ev
from router.access import command_refusal
from router.clock import iso, parse_iso
from router.dialogs import Dialog, LinePolicy, Outcome
from router.effects import record_effects
from router.hours import is_open, next_open
from router.logs import get
from router.metrics import Observations
from router.records import dialog_from_row, dialog_row
from router.state import ONLINE
from router.views import message_view

if TYPE_CHECKING:
    from router.engine import Engine

log = get(__name__)


class BatchWork:
    """The decisions and writes of one batch of events."""

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
        self.closed_dialogs: dict[str, dict[str, Any]] = {}  # identity -> its latest closed dialog
        self.pending_replies: dict[str, list[autoreply.Kind]] = {}
        self.obs = Observations()
        self.consent: dict[Key, bool] = {}
        self.contact_leads: dict[
            Key, dict[str, Any]
        ] = {}  # identity key -> the lead its verified contact names
        self.freed = False

    # ---- loading ----------------------------------------------------------------------------------

    async def prefetch(self, events: Iterable[Event]) -> None:
        """Load in a few queries what the batch's decisions read: known messages, identities, leads."""
        e = self.e
        msg_keys: list[Key] = []
        people: dict[Key, Key] = {}  # identity key -> the conversation it writes in
        contacts: dict[Key, InboundMessage] = {}
        unknown_dialogs: list[str] = []
        for event in events:
            if isinstance(event, InboundMessage):
                msg_keys.append((event.channel, event.account, event.external_id))
                if event.edit_of:
                    msg_keys.append((event.channel, event.account, event.edit_of))
                people[identity_key(event)] = (event.channel, event.account, event.chat_id)
                if event.sender.phone or event.sender.email:
                    contacts[identity_key(event)] = event
            elif isinstance(event, OperatorCommand):
                if event.command == "reply" and event.client_msg_id:
                    msg_keys.append(("console", event.operator, event.client_msg_id))
                if event.dialog_id not in e.state.dialogs:
                    unknown_dialogs.append(event.dialog_id)
        self.known_messages = await e.store.find_messages(msg_keys)
        missing = [k for k in people if k not in e._identities]
        self.identities = {k: e._identities[k] for k in people if k in e._identities}
        if missing:
            self.identities.update(await e.store.find_identities(missing))
        # a new channel identity whose channel-verified phone or e-mail a lead already has is that customer
        for key, event in contacts.items():
            if key not in self.identities:
                found = await e.store.find_leads_by_contact(
                    phone=event.sender.phone, email=event.sender.email
                )
                if len(found) == 1:
                    self.contact_leads[key] = found[0]
        waiting = [ident for k, ident in self.identities.items() if e.state.open_dialog(people[k]) is None]
        self.leads = await e.store.leads_by_id([ident["lead_id"] for ident in waiting])
        self.leads.update({row["id"]: row for row in self.contact_leads.values()})
        if any(line.reopen_within for line in e.lines.values()):
            self.closed_dialogs = await e.store.latest_closed_dialogs([ident["id"] for ident in waiting])
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
        elif isinstance(event, DeliveryStatus):
            self._delivery(event)
        elif isinstance(event, CustomerConsent):
            self._consent(event)

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
        if m.edit_of and (m.channel, m.account, m.edit_of) in self.known_messages:
            self._edit(m, self.known_messages[(m.channel, m.account, m.edit_of)])
            return
        conv = (m.channel, m.account, m.chat_id)
        person = identity_key(m)
        ident = self.identities.get(person)
        if ident is None:
            ident = self._new_customer(m, person)
        elif normalize_phone(
            m.sender.phone
        ):  # a phone the channel verified (a shared contact) fills the lead's
            self.changes.lead_fills.append(
                {"id": ident["lead_id"], "phone": normalize_phone(m.sender.phone), "updated_at": self.now}
            )
        message_id = new_id()  # before any auto-reply, so the transcript keeps the order
        d = e.state.open_dialog(conv)
        preview: dict[str, Any] = {
            "last_message_at": self.now,
            "last_message_text": m.text[:200],
            "last_message_author": "customer",
        }
        new_dialog = False
        if d is None:
            d = self._reopen(ident, preview) or self._open(m, ident, line_id, preview)
            new_dialog = d.id in self.new_dialogs
        else:
            d = replace(d, **preview)
        line = e.lines[d.line_id]
        d = self._customer_replies(d, line, m, new_dialog)
        row: dict[str, Any] = {
            "id": message_id,
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
        self.obs.messages_in.append(m.channel)
        self._console(e.watchers(d), {"type": "message", "dialog_id": d.id, "message": message_view(row)})
        self._receipt(m, row["id"], d.id)
        for kind in self.pending_replies.pop(d.id, ()):
            self._send_auto(d, line, kind)

    def _edit(self, m: InboundMessage, orig: dict[str, Any]) -> None:
        """The customer edited a message: the text is replaced, the earlier one kept in its history."""
        e = self.e
        if orig["text"] != m.text:
            earlier = {"text": orig["text"], "at": iso(orig.get("edited_at") or orig["created_at"])}
            orig.update(text=m.text, edited_at=self.now, edits=[*(orig.get("edits") or []), earlier])
            self.changes.message_updates.append(
                {"id": orig["id"], "text": m.text, "edited_at": self.now, "edits": orig["edits"]}
            )
            d = e.state.dialogs.get(orig["dialog_id"])
            to = e.watchers(d) if d is not None else set(e.admins)
            frame = {"type": "message.edited", "dialog_id": orig["dialog_id"], "message": message_view(orig)}
            self._console(to, frame)
        self._receipt(m, orig["id"], orig["dialog_id"])

    def _open(
        self, m: InboundMessage, ident: dict[str, Any], line_id: str, preview: dict[str, Any]
    ) -> Dialog:
        e = self.e
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
        return self.staged[d.id]

    def _reopen(self, ident: dict[str, Any], preview: dict[str, Any]) -> Dialog | None:
        """The identity's last dialog, reopened when it was closed within its line's `reopen_within`."""
        e = self.e
        row = self.closed_dialogs.get(ident["id"])
        if row is None or row["closed_at"] is None:
            return None
        line = e.lines.get(row["line_id"])
        if line is None or line.reopen_within is None or self.now - row["closed_at"] > line.reopen_within:
            return None
        del self.closed_dialogs[ident["id"]]  # a second message in the batch finds it open
        d = replace(dialog_from_row(row), **preview)
        self._outcome(d, dm.reopen(d, line, e.state.operators_for(line), self.now))
        return self.staged[d.id]

    def _customer_replies(self, d: Dialog, line: LinePolicy, m: InboundMessage, new_dialog: bool) -> Dialog:
        """Decide the auto-replies a customer message earns; they are sent after the message itself."""
        st, kinds = autoreply.customer_wrote(
            _reply_state(d),
            line.templates,
            new_dialog=new_dialog,
            automatic=m.automatic,
            line_open=is_open(line.schedule, self.now),
            next_open=next_open(line.schedule, self.now),
            now=self.now,
        )
        close_at = self.now + line.auto_close_after if line.auto_close_after else None
        d = replace(d, off_hours_key=st.off_hours_key, answer_due=st.answer_due, auto_close_at=close_at)
        self._save(d)
        if kinds:
            self.pending_replies[d.id] = [*self.pending_replies.get(d.id, []), *kinds]
        return d

    def _send_auto(self, d: Dialog, line: LinePolicy, kind: autoreply.Kind) -> None:
        """Store an auto-reply and send it through the outbox like any outbound message."""
        e = self.e
        ctx = autoreply.Context(
            client_name=d.customer_name,
            line_name=line.name,
            operator_name=e.names.get(d.operator or "", ""),
            next_open=next_open(line.schedule, self.now),
            timezone=line.schedule.timezone,
            language=line.language,
            now=self.now,
        )
        text = autoreply.text_of(kind, line.templates, ctx)
        row: dict[str, Any] = {
            "id": new_id(),
            "dialog_id": d.id,
            "channel": d.channel,
            "account": d.account,
            "external_id": None,
            "direction": "out",
            "author_kind": "bot",
            "author_id": kind,
            "author_name": line.name,
            "text": text,
            "visibility": "public",
            "attachments": [],
            "created_at": self.now,
            "edited_at": None,
            "delivery_state": "queued",
            "delivery_error": None,
            "delivery_attempts": 0,
        }
        self.changes.messages.append(row)
        self._event(d, "auto_reply", None, {"kind": kind})
        if self._denied(d):
            self._undeliverable(d, row)
            self._console(e.watchers(d), {"type": "message", "dialog_id": d.id, "message": message_view(row)})
            return
        self.obs.messages_out.append((d.channel, "bot"))
        self.obs.auto_replies.append((line.id, kind))
        out = OutboundMessage(
            new_id(),
            row["id"],
            d.id,
            d.channel,
            d.account,
            d.chat_id,
            text,
            iso(self.now) or "",
            "bot",
            line.name,
        )
        self._emit(outbound_stream(d.channel), conversation_key(d.channel, d.account, d.chat_id), out)
        self._console(e.watchers(d), {"type": "message", "dialog_id": d.id, "message": message_view(row)})

    def _new_customer(self, m: InboundMessage, person: Key) -> dict[str, Any]:
        name = m.sender.display_name or "Customer"
        known = self.contact_leads.get(person)
        if known is not None:
            lead_id = known["id"]
            log.info(ev.IDENTITY_JOINED, lead=lead_id, channel=m.channel)
        else:
            lead_id = new_id()
            self._new_lead(m, lead_id, name)
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
                "external_id": person[2],
                "profile": profile,
                "created_at": self.now,
            }
        )
        self.identities[person] = ident
        self.new_identities[person] = ident
        self.leads.setdefault(lead_id, {"responsible": None})
        return ident

    def _new_lead(self, m: InboundMessage, lead_id: str, name: str) -> None:
        e = self.e
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
        viewer = e.viewer(op)
        kind = "note" if c.command == "reply" and c.visibility == "internal" else c.command
        refusal = command_refusal(
            viewer,
            kind,
            {"operator": d.operator, "offered_to": d.offered_to, "state": d.state, "line_id": d.line_id},
        )
        if refusal:
            self._refuse(c, *refusal)
            return
        ops = e.state.operators_for(line)
        out: Outcome
        if c.command == "take":
            out = dm.take(d, op, line, ops, self.now, takeover=viewer.admin)
        elif c.command == "reply":
            self._reply(c, d, line)
            return
        elif c.command == "skip":
            out = dm.skip(d, op, line, ops, self.now)
        elif c.command == "close":
            out = dm.close(d, op, self.now)
            self.pending_replies[d.id] = list(autoreply.operator_closed(line.templates, by_operator=True))
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
            self.pending_replies.pop(d.id, None)
            self._refuse(c, *out.error)
            return
        self._outcome(d, out, by=op)
        for kind in self.pending_replies.pop(d.id, ()):
            self._send_auto(self.staged.get(d.id, d), line, kind)

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
            "attachments": [
                {"name": a.name, "mime": a.mime, "size": a.size, "ref": a.ref, "stored": True}
                for a in c.attachments
            ],
            "created_at": self.now,
            "edited_at": None,
            "delivery_state": None if internal else "queued",
            "delivery_error": None,
            "delivery_attempts": 0,
        }
        self.changes.messages.append(row)
        if c.client_msg_id:
            self.known_messages[("console", op, c.client_msg_id)] = row
        if not internal:
            st = autoreply.operator_answered(_reply_state(d))
            d = replace(
                d,
                last_message_at=self.now,
                last_message_text=text[:200],
                last_message_author="operator",
                answer_due=st.answer_due,
                no_answer_sent=st.no_answer_sent,
                auto_close_at=self.now + line.auto_close_after if line.auto_close_after else None,
            )
            self._save(d)
        if not internal and self._denied(d):
            self._undeliverable(d, row)
        elif not internal:
            self.obs.messages_out.append((d.channel, "operator"))
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
                c.attachments,
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
        elif t.timer == "auto_close":
            self._outcome(d, dm.auto_close(d, due, self.now))
        elif t.timer == "no_answer":
            st, kinds = autoreply.answer_overdue(
                _reply_state(d), line.templates, due, line_open=is_open(line.schedule, self.now)
            )
            d = replace(d, answer_due=st.answer_due, no_answer_sent=st.no_answer_sent)
            self._save(d)
            for kind in kinds:
                self._send_auto(d, line, kind)

    def _consent(self, c: CustomerConsent) -> None:
        conv = (c.channel, c.account, c.chat_id)
        self.consent[conv] = c.allowed
        self.changes.consents.append(
            {"channel": c.channel, "account": c.account, "external_id": c.chat_id, "allowed": c.allowed}
        )
        d = self.e.state.open_dialog(conv)
        if d is not None:
            self._event(d, "consent", None, {"allowed": c.allowed})

    def _denied(self, d: Dialog) -> bool:
        conv = (d.channel, d.account, d.chat_id)
        return not self.consent.get(conv, conv not in self.e.denied)

    def _undeliverable(self, d: Dialog, row: dict[str, Any]) -> None:
        """The customer denied messages from us: stored, not sent, and the console is told why."""
        reason = "the customer does not accept messages from us in this channel"
        row.update(delivery_state="failed", delivery_error=reason)
        frame = {
            "type": "message.status",
            "dialog_id": d.id,
            "message_id": row["id"],
            "state": "failed",
            "error": reason,
        }
        self._console(self.e.watchers(d), frame)

    def _delivery(self, st: DeliveryStatus) -> None:
        e = self.e
        self.changes.message_updates.append(
            {
                "id": st.message_id,
                "delivery_state": st.state,
                "delivery_error": st.error,
                "delivery_attempts": st.attempts,
                "delivery_ref": st.external_id,
                "delivered_at": self.now if st.state == "sent" else None,
            }
        )
        if st.state == "failed":
            self.obs.failures.append(st.channel)
        d = e.state.dialogs.get(st.dialog_id)
        to = e.watchers(d) if d is not None else set(e.admins)
        frame = {
            "type": "message.status",
            "dialog_id": st.dialog_id,
            "message_id": st.message_id,
            "state": st.state,
            "error": st.error,
        }
        self._console(to, frame)

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
        record_effects(self, before, d, out.effects)
        if any(isinstance(fx, dm.NoAnswer) for fx in out.effects):
            line = self.e.lines[d.line_id]
            st, kinds = autoreply.nobody_took_it(_reply_state(d), line.templates)
            d = replace(d, answer_due=st.answer_due, no_answer_sent=st.no_answer_sent)
            self._save(d)
            for kind in kinds:
                self._send_auto(d, line, kind)

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


def _reply_state(d: Dialog) -> autoreply.ReplyState:
    return autoreply.ReplyState(d.off_hours_key, d.answer_due, d.no_answer_sent)


def identity_key(m: InboundMessage) -> Key:
    """Who wrote: the sender when the channel names one apart from the conversation, else the conversation."""
    return (m.channel, m.account, m.sender_id or m.chat_id)
