"""One batch's unit of work: prefetch what it reads, decide each event (pure), stage the writes and the outbox."""

from __future__ import annotations

from collections.abc import Iterable

from crm_core.store import Key
from queues.bus import conversation_key
from queues.messages import (
    CustomerConsent,
    CustomerRating,
    DeliveryStatus,
    DialogTimer,
    Event,
    InboundMessage,
    OperatorCommand,
    OperatorPresence,
    Typing,
)
from router.app.logs import get
from router.engine.customers import CustomerSide, identity_key
from router.engine.operators import OperatorSide
from router.engine.records import dialog_changes, dialog_row
from router.rules import dialogs as dm

log = get(__name__)


class BatchWork(CustomerSide, OperatorSide):
    """The decisions and writes of one batch of events."""

    async def prefetch(self, events: Iterable[Event], *, optimistic: bool = False) -> None:
        """Load in a few queries what the batch's decisions read: known messages, identities, leads.

        `optimistic`: take every message as new without asking the store (a redelivery is rare: a crash, a
        partition moving, a browser resending); the messages' unique keys still refuse a stored one, the
        commit fails with DuplicateKey, and the batch is decided again with the lookup. Messages an edit
        refers to are always looked up."""
        r = self.r
        msg_keys: list[Key] = []
        people: dict[Key, Key] = {}  # identity key -> the conversation it writes in
        contacts: dict[Key, InboundMessage] = {}
        unknown_dialogs: list[str] = []
        rated: set[str] = set()
        for event in events:
            if isinstance(event, InboundMessage):
                if not optimistic:
                    msg_keys.append((event.channel, event.account, event.external_id))
                if event.edit_of:
                    msg_keys.append((event.channel, event.account, event.edit_of))
                people[identity_key(event)] = (event.channel, event.account, event.chat_id)
                if (event.sender.phone or event.sender.email) and event.sender.verified:
                    contacts[identity_key(event)] = event
            elif isinstance(event, OperatorCommand):
                if event.command == "reply" and event.client_msg_id and not optimistic:
                    msg_keys.append(("console", event.operator, event.client_msg_id))
                if event.dialog_id not in r.state.dialogs and event.command != "typing":
                    unknown_dialogs.append(event.dialog_id)
            elif isinstance(event, CustomerRating) and isinstance(event.dialog_id, str):
                rated.add(event.dialog_id)
                if event.dialog_id not in r.state.dialogs:
                    unknown_dialogs.append(event.dialog_id)  # usually closed: rated after the closing
        self.known_messages = await self.store.find_messages(msg_keys)
        # a customer without an open dialog is read again: a merge (crm_core/merges.py) or its undo may have moved
        # their identity to another lead since it was cached; an open dialog's lead is its own (a merge bumps it)
        missing = [k for k in people if k not in r.identities or r.state.open_dialog(people[k]) is None]
        fresh = set(missing)
        self.identities = {k: r.identities[k] for k in people if k not in fresh}
        if missing:
            self.identities.update(await self.store.find_identities(missing))
        # a new channel identity whose channel-verified phone or e-mail a lead already has is that customer
        for key, event in contacts.items():
            if key not in self.identities:
                found = await self.store.find_leads_by_contact(
                    phone=event.sender.phone, email=event.sender.email
                )
                if len(found) == 1:
                    self.contact_leads[key] = found[0]
        waiting = [ident for k, ident in self.identities.items() if r.state.open_dialog(people[k]) is None]
        self.leads = await self.store.leads_by_id([ident["lead_id"] for ident in waiting])
        self.leads.update({row["id"]: row for row in self.contact_leads.values()})
        if any(line.reopen_within for line in r.lines.values()):
            self.closed_dialogs = await self.store.latest_closed_dialogs([ident["id"] for ident in waiting])
        if rated:  # a rating counts only where the question was asked: one query for the batch's ratings
            self.asked = await self.store.rating_questions(sorted(rated))
        if unknown_dialogs:  # one query for the batch: a channel's ratings may name many closed dialogs
            closed = await self.store.get_dialogs(sorted(set(unknown_dialogs)))
            self.other_dialogs.update({i: closed.get(i) for i in set(unknown_dialogs)})

    # ---- dispatch ---------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Decide one event, staging its writes and outbox."""
        self.origin = self._origin(event)
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
        elif isinstance(event, CustomerRating):
            self._rating(event)
        elif isinstance(event, Typing):
            self._customer_typing(event)

    def settle(self) -> None:
        """When capacity was freed or someone came online, offer the backlog, oldest first."""
        if not self.freed:
            return
        r = self.r
        for d in r.state.queued():
            line = r.lines[d.line_id]
            self.origin = conversation_key(d.channel, d.account, d.chat_id)
            ops = r.routable(d, line, d.queued_since or self.now)  # older dialogs at other workers go first
            self._outcome(d, dm.operator_available(d, line, ops, self.now))
        for d in list(r.state.dialogs.values()):
            if d.state == dm.OFFERED and r.lines[d.line_id].mode == "all":
                line = r.lines[d.line_id]
                self.origin = conversation_key(d.channel, d.account, d.chat_id)
                self._outcome(d, dm.operator_available(d, line, r.state.operators_for(line), self.now))

    def _origin(self, event: Event) -> str | None:
        """The bus key of the conversation an event concerns (its partition's owner decides it)."""
        if isinstance(event, InboundMessage | CustomerConsent | CustomerRating | Typing):
            return conversation_key(event.channel, event.account, event.chat_id)
        if isinstance(event, OperatorPresence):
            return f"operator:{event.operator}"
        dialog_id = getattr(event, "dialog_id", None)
        d = self.r.state.dialogs.get(dialog_id) if dialog_id else None
        if d is None and dialog_id:
            row = self.other_dialogs.get(dialog_id)
            return conversation_key(row["channel"], row["account"], row["chat_id"]) if row else None
        return None if d is None else conversation_key(d.channel, d.account, d.chat_id)

    def finish(self) -> None:
        """Turn the staged dialogs into inserts and updates. An update expects the version the dialog has in
        memory and bumps it there: the store refuses it if another worker wrote the dialog meanwhile."""
        state = self.r.state.dialogs
        for dialog_id, d in self.staged.items():
            if dialog_id in self.new_dialogs:
                self.changes.dialogs_new.append(dialog_row(d, self.now))
                continue
            before = self.prior.get(dialog_id)
            self.changes.dialogs_changed[dialog_id] = (
                dialog_row(d, self.now) if before is None else dialog_changes(d, before, self.now)
            )
            current = state.get(dialog_id)
            if current is not None:  # not closed: the next write of it expects the bumped version
                state[dialog_id] = dm.evolve(current, version=d.version + 1)

    # ---- customers ----------------------------------------------------------------------------------
