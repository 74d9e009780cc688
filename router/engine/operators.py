"""A batch's operator side: console commands, presence, timers and delivery reports."""

from __future__ import annotations

from typing import Any

from crm_core.ids import new_id
from queues.bus import conversation_key, outbound_stream
from queues.messages import (
    DeliveryStatus,
    DialogTimer,
    OperatorCommand,
    OperatorPresence,
    OutboundMessage,
    Typing,
)
from router.app import log_events as ev
from router.app.logs import get
from router.engine.effects import Outcomes
from router.engine.records import dialog_from_row
from router.engine.staging import reply_state
from router.engine.state import ONLINE
from router.protocol.times import iso, parse_iso
from router.protocol.views import message_view
from router.rules import autoreply, guests
from router.rules import dialogs as dm
from router.rules.access import can_view_dialog, command_refusal
from router.rules.dialog import Dialog, LinePolicy, Outcome, evolve
from router.rules.hours import is_open

log = get(__name__)


class OperatorSide(Outcomes):
    """Decisions on what operators do and on what the clock and the channels report."""

    def _command(self, c: OperatorCommand) -> None:
        r = self.r
        op = c.operator
        if c.command == "typing":
            self._operator_typing(c)
            return
        if c.command == "reopen":
            self._operator_reopen(c)
            return
        if c.command == "reply" and c.client_msg_id:
            known = self.known_messages.get(("console", op, c.client_msg_id))
            if known is not None:
                self._ack(c, known["id"], known["dialog_id"])
                return
        d = r.state.dialogs.get(c.dialog_id) or self.staged.get(c.dialog_id)
        if d is None or d.state == dm.CLOSED:
            other = self.other_dialogs.get(c.dialog_id)
            if other is None and d is None:
                self._refuse(c, "not_found", "no such dialog")
            else:
                self._refuse(c, "bad_state", "the dialog is closed")
            return
        line = r.lines[d.line_id]
        viewer = r.viewer(op)
        kind = "note" if c.command == "reply" and c.visibility == "internal" else c.command
        refusal = command_refusal(
            viewer,
            kind,
            {
                "operator": d.operator,
                "offered_to": d.offered_to,
                "state": d.state,
                "line_id": d.line_id,
                "invited": d.invited,
                "guests_reply": d.guests_reply,
            },
        )
        if refusal:
            self._refuse(c, *refusal)
            return
        ops = r.state.operators_for(line)
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
                if r.settings.operator(c.to_operator) is None:
                    self._refuse(c, "unknown_operator", f"no operator {c.to_operator!r}")
                    return
                out = dm.transfer_to_operator(d, op, c.to_operator, self.now, note=c.text)
            else:
                target = r.lines.get(c.to_line or "")
                if target is None:
                    self._refuse(c, "unknown_line", f"no line {c.to_line!r}")
                    return
                out = dm.transfer_to_line(d, op, target, r.state.operators_for(target), self.now, note=c.text)
        elif c.command in ("invite", "leave"):
            guest = c.to_operator or (op if c.command == "leave" else "")
            if r.settings.operator(guest) is None:
                self._refuse(c, "unknown_operator", f"no operator {guest!r}")
                return
            if c.command == "invite":
                out = guests.invite(d, op, guest, replies=c.allow_replies, admin=viewer.admin)
            else:
                out = guests.leave(d, guest, by=op, admin=viewer.admin)
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
        if c.command == "close":  # after the closing text, as Bitrix24 does: not on an auto-close
            self._ask_rating(self.staged.get(d.id, d), line)

    def _operator_reopen(self, c: OperatorCommand) -> None:
        """An operator reopens a closed dialog to write to its customer again, through the channel they last used
        (its rules still apply: a VK customer who denied messages is refused here, not after the reply)."""
        r = self.r
        if c.dialog_id in r.state.dialogs or c.dialog_id in self.staged:
            self._refuse(c, "bad_state", "the dialog is open: answer it")
            return
        row = self.other_dialogs.get(c.dialog_id)
        if row is None:
            self._refuse(c, "not_found", "no such dialog")
            return
        if not can_view_dialog(r.viewer(c.operator), row, lead_responsible=row.get("lead_responsible")):
            self._refuse(c, "forbidden", "this dialog is not yours to reopen")
            return
        if r.state.open_dialog((row["channel"], row["account"], row["chat_id"])) is not None:
            self._refuse(c, "customer_busy", "the customer has an open dialog already: answer there")
            return
        if row["line_id"] not in r.lines:
            self._refuse(c, "bad_state", "the dialog's line is no longer configured")
            return
        d = dialog_from_row(row)
        if self._denied(d):
            self._refuse(c, "consent_denied", "the customer does not accept messages in this channel")
            return
        self._outcome(d, dm.reopen_by(d, c.operator, self.now), by=c.operator)

    def _operator_typing(self, c: OperatorCommand) -> None:
        """The dialog's operator started or stopped typing: the customer's channel shows it (not stored). From
        anyone else it is dropped: an indicator has nothing to refuse."""
        d = self.r.state.dialogs.get(c.dialog_id)
        if d is None or d.state != dm.ASSIGNED or d.operator != c.operator or self._denied(d):
            return
        name = self.r.names.get(c.operator, c.operator)
        event = Typing(
            new_id(), d.channel, d.account, d.chat_id, "operator", c.active, iso(self.now) or "", d.id, name
        )
        key = conversation_key(d.channel, d.account, d.chat_id)
        self._emit(outbound_stream(d.channel), key, event, volatile=True)

    def _reply(self, c: OperatorCommand, d: Dialog, line: LinePolicy) -> None:
        r = self.r
        op = c.operator
        internal = c.visibility == "internal"
        # an invited colleague's answer (their operator allowed it) takes nothing: the dialog stays the operator's;
        # a note between operators takes nothing and tells the customer nothing
        guest = guests.answers_as_guest(d, op)
        if not internal and not guest:
            out = dm.reply(d, op, line, r.state.operators_for(line), self.now)
            if out.error:
                self._refuse(c, *out.error)
                return
            self._outcome(d, out, by=op)
            d = self.staged.get(d.id, d)
        elif not internal and not r.viewer(op).admin and (refusal := guests.guest_answer_refusal(d)):
            self._refuse(c, *refusal)
            return
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
            "author_name": r.names.get(op, op),
            "text": text,
            "visibility": "internal" if internal else "public",
            "attachments": [
                {"name": a.name, "mime": a.mime, "size": a.size, "ref": a.ref, "stored": True}
                for a in c.attachments
            ],
            "created_at": self.now,
            "edited_at": None,
            "delivery_error": None,
            **(
                {"delivery_state": None, "delivery_attempts": 0, "delivered_at": None}
                if internal
                else self._delivery_columns(d, files=bool(c.attachments))
            ),
        }
        self.changes.messages.append(row)
        if c.client_msg_id:
            self.known_messages[("console", op, c.client_msg_id)] = row
        if not internal:
            st = autoreply.operator_answered(reply_state(d))
            d = evolve(
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
        self._console(r.watchers(d), {"type": "message", "dialog_id": d.id, "message": message_view(row)})
        self._sent_on_commit(d, row)
        self._ack(c, row["id"], d.id)

    def _presence(self, p: OperatorPresence) -> None:
        r = self.r
        if r.settings.operator(p.operator) is None:
            return
        if p.seq:  # several web processes: a change published after a newer one is skipped
            if p.seq <= r.presence_seq.get(p.operator, 0):
                return
            r.presence_seq[p.operator] = p.seq
        before = r.state.presence.get(p.operator)
        r.state.presence[p.operator] = p.status
        self._console({p.operator}, {"type": "presence", "status": p.status})
        if before != p.status:
            log.info(ev.PRESENCE_CHANGED, operator=p.operator, status=p.status)
        if p.status == ONLINE and before != ONLINE:
            self.freed = True
        if p.status == "away":  # an operator stepping away passes their offers on at once
            for d in [d for d in r.state.dialogs.values() if p.operator in d.offered_to]:
                line = r.lines[d.line_id]
                self._outcome(
                    d, dm.skip(d, p.operator, line, r.state.operators_for(line), self.now, reason="away")
                )

    def _timer(self, t: DialogTimer) -> None:
        r = self.r
        d = r.state.dialogs.get(t.dialog_id)
        if d is None:
            return
        line = r.lines[d.line_id]
        ops = r.state.operators_for(line)
        due = parse_iso(t.due)
        if t.timer == "offer_expired":
            self._outcome(d, dm.offer_expired(d, due, line, ops, self.now))
        elif t.timer == "queue_retry":
            ops = r.routable(d, line, d.queued_since or self.now)
            self._outcome(d, dm.queue_retry(d, due, line, ops, self.now))
        elif t.timer == "auto_close":
            self._outcome(d, dm.auto_close(d, due, self.now))
        elif t.timer == "no_answer":
            st, kinds = autoreply.answer_overdue(
                reply_state(d), line.templates, due, line_open=is_open(line.schedule, self.now)
            )
            d = evolve(d, answer_due=st.answer_due, no_answer_sent=st.no_answer_sent)
            self._save(d)
            for kind in kinds:
                self._send_auto(d, line, kind)

    def _delivery(self, st: DeliveryStatus) -> None:
        r = self.r
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
        d = r.state.dialogs.get(st.dialog_id)
        to = r.watchers(d) if d is not None else set(r.admins)
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
