"""A batch's customer side: messages, edits, new customers and leads, reopening, consent."""

from __future__ import annotations

from typing import Any

from crm_core.ids import new_id
from crm_core.recognition import normalize_email, normalize_phone
from crm_core.store import Key
from queues.bus import conversation_key, outbound_stream
from queues.messages import (
    CustomerConsent,
    CustomerRating,
    InboundMessage,
    Receipt,
    Typing,
)
from router.app import log_events as ev
from router.app.logs import get
from router.engine.effects import Outcomes
from router.engine.records import dialog_from_row
from router.engine.staging import reply_state
from router.protocol.times import iso
from router.protocol.views import message_view
from router.rules import autoreply, ratings
from router.rules import dialogs as dm
from router.rules.dialog import Dialog, LinePolicy, evolve
from router.rules.hours import is_open, next_open

log = get(__name__)


class CustomerSide(Outcomes):
    """Decisions on what customers send."""

    def _customer_typing(self, t: Typing) -> None:
        """A customer started or stopped typing: the consoles following their open dialog show it (not stored)."""
        d = self.r.state.open_dialog((t.channel, t.account, t.chat_id)) if t.who == "customer" else None
        if d is not None:
            frame = {"type": "typing", "dialog_id": d.id, "who": "customer", "active": t.active}
            self._console(self.r.watchers(d), frame, volatile=True)

    def _customer_message(self, m: InboundMessage) -> None:
        r = self.r
        key = (m.channel, m.account, m.external_id)
        line_id = r.channel_lines.get((m.channel, m.account))
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
        # an open dialog's own lead: the cached identity's may be older than a merge (crm_core/merges.py)
        current = r.state.open_dialog(conv)
        lead_id = current.lead_id if current is not None else ident["lead_id"] if ident else None
        if ident is None:
            ident = self._new_customer(m, person)
        elif m.sender.verified and normalize_phone(m.sender.phone):
            # a phone the channel verified (a shared contact) fills the lead's
            self.changes.lead_fills.append(
                {"id": lead_id, "phone": normalize_phone(m.sender.phone), "updated_at": self.now}
            )
        elif not m.sender.verified:  # a returning customer's form: what it gives fills what the lead lacks
            fill = {
                k: v
                for k, v in (
                    ("phone", normalize_phone(m.sender.phone)),
                    ("email", normalize_email(m.sender.email)),
                )
                if v
            }
            if fill:
                self.changes.lead_fills.append({"id": lead_id, **fill, "updated_at": self.now})
        message_id = new_id()  # before any auto-reply, so the transcript keeps the order
        d = current
        preview: dict[str, Any] = {
            "last_message_at": self.now,
            "last_message_text": m.text[:200],
            "last_message_author": "customer",
        }
        new_dialog = False
        if d is None:
            d = self._reopen(ident, preview) or self._open(m, ident, line_id, preview)
            new_dialog = d.id in self.new_dialogs
        line = r.lines[d.line_id]
        d = self._customer_replies(d, line, m, new_dialog, preview)
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
                | ({"stored": True} if a.stored else {})
                for a in m.attachments
            ],
            "created_at": self.now,
            "edited_at": None,
        }
        self.changes.messages.append(row)
        self.known_messages[key] = row
        self.obs.messages_in.append(m.channel)
        self._console(r.watchers(d), {"type": "message", "dialog_id": d.id, "message": message_view(row)})
        self._receipt(m, row["id"], d.id)
        for kind in self.pending_replies.pop(d.id, ()):
            self._send_auto(d, line, kind)

    def _edit(self, m: InboundMessage, orig: dict[str, Any]) -> None:
        """The customer edited a message: the text is replaced, the earlier one kept in its history."""
        r = self.r
        if orig["text"] != m.text:
            earlier = {"text": orig["text"], "at": iso(orig.get("edited_at") or orig["created_at"])}
            orig.update(text=m.text, edited_at=self.now, edits=[*(orig.get("edits") or []), earlier])
            self.changes.message_updates.append(
                {"id": orig["id"], "text": m.text, "edited_at": self.now, "edits": orig["edits"]}
            )
            d = r.state.dialogs.get(orig["dialog_id"])
            to = r.watchers(d) if d is not None else set(r.admins)
            frame = {"type": "message.edited", "dialog_id": orig["dialog_id"], "message": message_view(orig)}
            self._console(to, frame)
        self._receipt(m, orig["id"], orig["dialog_id"])

    def _open(
        self, m: InboundMessage, ident: dict[str, Any], line_id: str, preview: dict[str, Any]
    ) -> Dialog:
        r = self.r
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
        line = r.lines[line_id]
        self.new_dialogs.add(d.id)
        self._outcome(d, dm.open_dialog(d, line, r.routable(d, line, self.now), self.now), new=True)
        log.info(ev.DIALOG_OPENED, dialog=d.id, line=line_id, channel=m.channel)
        return self.staged[d.id]

    def _reopen(self, ident: dict[str, Any], preview: dict[str, Any]) -> Dialog | None:
        """The identity's last dialog, reopened when it was closed within its line's `reopen_within`."""
        r = self.r
        row = self.closed_dialogs.get(ident["id"])
        if row is None or row["closed_at"] is None:
            return None
        line = r.lines.get(row["line_id"])
        if line is None or line.reopen_within is None or self.now - row["closed_at"] > line.reopen_within:
            return None
        del self.closed_dialogs[ident["id"]]  # a second message in the batch finds it open
        rated = self.staged.get(row["id"])  # rated earlier in this batch: that change is kept
        d = evolve(rated or dialog_from_row(row), **preview)
        self._outcome(d, dm.reopen(d, line, r.routable(d, line, self.now), self.now))
        return self.staged[d.id]

    def _customer_replies(
        self, d: Dialog, line: LinePolicy, m: InboundMessage, new_dialog: bool, preview: dict[str, Any]
    ) -> Dialog:
        """Decide the auto-replies a customer message earns; they are sent after the message itself."""
        line_open = is_open(line.schedule, self.now)
        st, kinds = autoreply.customer_wrote(
            reply_state(d),
            line.templates,
            new_dialog=new_dialog,
            automatic=m.automatic,
            line_open=line_open,
            next_open=None if line_open else next_open(line.schedule, self.now),  # only a closed line says it
            now=self.now,
        )
        close_at = self.now + line.auto_close_after if line.auto_close_after else None
        d = evolve(
            d, **preview, off_hours_key=st.off_hours_key, answer_due=st.answer_due, auto_close_at=close_at
        )
        self._save(d)
        if kinds:
            self.pending_replies[d.id] = [*self.pending_replies.get(d.id, []), *kinds]
        return d

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
        r = self.r
        self.changes.leads.append(
            {
                "id": lead_id,
                "name": name,
                "phone": normalize_phone(m.sender.phone),
                "email": normalize_email(m.sender.email),
                "status": r.first_status.get(r.channel_lines.get((m.channel, m.account), ""))
                or r.settings.crm.statuses[0],
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

    def _consent(self, c: CustomerConsent) -> None:
        conv = (c.channel, c.account, c.chat_id)
        self.consent[conv] = c.allowed
        self.changes.consents.append(
            {"channel": c.channel, "account": c.account, "external_id": c.chat_id, "allowed": c.allowed}
        )
        d = self.r.state.open_dialog(conv)
        if d is not None:
            self._event(d, "consent", None, {"allowed": c.allowed})
        # the channel may move its position on only once this is stored, as for a message
        receipt = Receipt(new_id(), c.channel, c.account, c.chat_id, c.event_id, None, d.id if d else None)
        self._emit(outbound_stream(c.channel), conversation_key(c.channel, c.account, c.chat_id), receipt)

    def _rating(self, e: CustomerRating) -> None:
        """The customer rated the answer: stored on the dialog (a re-rating replaces it), logged in its events,
        told to the consoles that follow it; a rating the rules refuse is dropped with a log line."""
        r = self.r
        if not isinstance(e.dialog_id, str):  # a channel's malformed event: dropped, never a dead letter
            log.info(ev.RATING_REFUSED, channel=e.channel, reason="not_found")
            self._rating_receipt(e, "not_found")
            return
        d = r.state.dialogs.get(e.dialog_id) or self.staged.get(e.dialog_id)
        if d is None and (row := self.other_dialogs.get(e.dialog_id)) is not None:
            d = dialog_from_row(row)  # closed: not in the routing state
        line = r.lines.get(d.line_id) if d is not None else None
        policy = line.rating if line is not None else None
        reason = (
            "not_found"
            if d is None
            else ratings.refusal(
                policy,
                score=e.score,
                state=d.state,
                closed_at=d.closed_at,
                dialog_conversation=(d.channel, d.account, d.chat_id),
                rater_conversation=(e.channel, e.account, e.chat_id),
                now=self.now,
                asked=d.id in self.asked
                or any(
                    m["dialog_id"] == d.id and ratings.is_question(m["author_kind"], m["author_id"])
                    for m in self.changes.messages
                ),
            )
        )
        if reason is not None or d is None or policy is None:
            log.info(ev.RATING_REFUSED, dialog=e.dialog_id, channel=e.channel, reason=reason)
            # another's dialog is "not found" to the rater: whether an id exists is nobody else's business
            self._rating_receipt(e, "not_found" if reason == "foreign_dialog" else reason or "rating_off")
            return
        comment = ratings.comment_of(policy, e.comment)
        if d.rating == e.score and d.rating_comment == comment:  # delivered again, or the same rating again
            self._rating_receipt(e, None)
            return
        if ratings.counted(d.rating, e.score):
            self.obs.ratings.append((d.line_id, str(e.score)))
        d = evolve(d, rating=e.score, rating_comment=comment, rated_at=self.now)
        self._save(d)
        self._event(d, "rated", None, {"score": e.score, "scale": policy.scale, "comment": comment})
        frame = {
            "type": "dialog.rated",
            "dialog_id": d.id,
            "scale": policy.scale,
            "rating": e.score,
            "comment": comment,
            "rated_at": iso(self.now),
        }
        self._console(r.watchers(d), frame)  # who may see the dialog now (its line's queue only while queued)
        log.info(ev.DIALOG_RATED, dialog=d.id, line=d.line_id, score=e.score, channel=e.channel)
        self._rating_receipt(e, None)

    def _rating_receipt(self, e: CustomerRating, error: str | None) -> None:
        # the channel moves its position on once the rating is stored (or refused for good), as for a message
        dialog_id = e.dialog_id if isinstance(e.dialog_id, str) else None
        receipt = Receipt(new_id(), e.channel, e.account, e.chat_id, e.event_id, None, dialog_id, error)
        self._emit(outbound_stream(e.channel), conversation_key(e.channel, e.account, e.chat_id), receipt)


def identity_key(m: InboundMessage) -> Key:
    """Who wrote: the sender when the channel names one apart from the conversation, else the conversation."""
    return (m.channel, m.account, m.sender_id or m.chat_id)
