"""What a batch stages: dialogs, rows, dialog events, console frames and outbox entries, and auto-replies."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from crm_core.ids import new_id
from crm_core.store import Changes, Key, Store
from queues.bus import CONSOLE, INBOUND, conversation_key, outbound_stream
from queues.messages import (
    ConsoleEvent,
    Event,
    OutboundMessage,
    dumps,
)
from router.app.logs import get
from router.app.metrics import Observations
from router.engine.routing import Routing
from router.protocol.times import iso
from router.protocol.views import message_view
from router.rules import autoreply, ratings
from router.rules import dialogs as dm
from router.rules.dialog import Dialog, LinePolicy, evolve
from router.rules.hours import next_open

log = get(__name__)
OUTBOX_BUNDLE = "*"  # the `stream` of an outbox row that holds several events, each with its own stream
# the origin of an event published after the commit but kept in no outbox row (typing: lost, it only hides an
# indicator; republished after a crash, it would show one that is long over)
VOLATILE = "\x00volatile"


class Staging:
    """The state of one batch and the helpers every decision stages its results with."""

    def __init__(self, routing: Routing, store: Store, now: datetime, *, encode: bool = True) -> None:
        self.r = routing
        self.store = store
        # a durable bus takes the events encoded, and so does the outbox; the in-process bus takes the objects
        self.encode = encode
        self.now = now
        self.changes = Changes()
        self.published: list[tuple[str, str | None, Event]] = []
        self.encoded: list[bytes] = []  # each published event's `dumps`, made once for the outbox and the bus
        self.origins: list[str | None] = []  # the conversation (bus key) each was emitted for: its outbox row
        self.origin: str | None = None  # the conversation of the event (or dialog) being decided
        self.outbox_ids: list[str] = []
        self.known_messages: dict[Key, dict[str, Any]] = {}
        self.identities: dict[Key, dict[str, Any]] = {}
        self.new_identities: dict[Key, dict[str, Any]] = {}
        self.leads: dict[str, dict[str, Any]] = {}
        self.other_dialogs: dict[str, dict[str, Any] | None] = {}
        self.staged: dict[str, Dialog] = {}
        self.new_dialogs: set[str] = set()
        self.closed_dialogs: dict[str, dict[str, Any]] = {}  # identity -> its latest closed dialog
        self.asked: set[str] = set()  # the dialogs the batch's ratings name that hold the rating question
        self.pending_replies: dict[str, list[autoreply.Kind]] = {}
        self.obs = Observations()
        self.consent: dict[Key, bool] = {}
        self.contact_leads: dict[
            Key, dict[str, Any]
        ] = {}  # identity key -> the lead its verified contact names
        self.freed = False
        self.lead_views: dict[str, list[dict[str, Any]]] = {}  # lead id -> the dialog views of its frames
        self.lead_frames: list[int] = []  # indexes (in `published`) of the console frames holding them
        self.prior: dict[
            str, Dialog | None
        ] = {}  # each dialog the batch touched, as it was before (None: new)

    def revert(self) -> None:
        """Put the routing state back as it was before the batch (its commit failed)."""
        state = self.r.state
        for dialog_id, before in reversed(list(self.prior.items())):
            if before is not None:
                state.put(before)
            elif (now := state.dialogs.get(dialog_id)) is not None:
                state.put(evolve(now, state=dm.CLOSED))  # drops it and its conversation's index
        self.prior.clear()

    # ---- loading ----------------------------------------------------------------------------------

    def _save(self, d: Dialog) -> None:
        if d.id not in self.prior:
            self.prior[d.id] = self.r.state.dialogs.get(d.id)
        self.staged[d.id] = d
        self.r.state.put(d, self.now)

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

    def _console(self, recipients: Iterable[str], frame: dict[str, Any], *, volatile: bool = False) -> None:
        to = tuple(sorted(recipients))
        if to:
            self._emit(CONSOLE, None, ConsoleEvent(new_id(), to, frame), volatile=volatile)

    def _emit(self, stream: str, key: str | None, event: Event, *, volatile: bool = False) -> None:
        self.published.append((stream, key, event))
        if self.encode:
            self.encoded.append(dumps(event))
        self.origins.append(VOLATILE if volatile else self.origin)

    def outbox(self) -> None:
        """The outbox rows of what the batch publishes: one per conversation partition it was decided for (a row's
        key is one of those conversations, so the partition's owner republishes it after a crash), holding that
        part's events in order as a JSON array of [stream, key, event]."""
        parts: dict[int | None, tuple[str | None, list[bytes]]] = {}
        partition = self.r.partition
        for (stream, key, _), data, origin in zip(self.published, self.encoded, self.origins, strict=True):
            if origin == VOLATILE:
                continue
            p = None if origin is None else partition(INBOUND, origin)
            parts.setdefault(p, (origin, []))[1].append(orjson.dumps([stream, key, orjson.Fragment(data)]))
        for origin, items in parts.values():
            outbox_id = new_id()
            self.changes.outbox.append(
                {
                    "id": outbox_id,
                    "stream": OUTBOX_BUNDLE,
                    "key": origin,
                    "payload": (b"[" + b",".join(items) + b"]").decode(),
                    "created_at": self.now,
                }
            )
            self.outbox_ids.append(outbox_id)

    def _denied(self, d: Dialog) -> bool:
        conv = (d.channel, d.account, d.chat_id)
        return not self.consent.get(conv, conv not in self.r.denied)

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
        self._console(self.r.watchers(d), frame)

    def _sent_on_commit(self, d: Dialog, row: dict[str, Any]) -> None:
        """A message stored `sent` (its channel delivers what is stored): its `message.status` goes out with it, as
        the delivery status of any other channel would (docs/protocol.md), without a second pass of the engine."""
        if row.get("delivery_state") == "sent":
            frame = {
                "type": "message.status",
                "dialog_id": d.id,
                "message_id": row["id"],
                "state": "sent",
                "error": None,
            }
            self._console(self.r.watchers(d), frame)

    def _delivery_columns(self, d: Dialog, files: bool = False) -> dict[str, Any]:
        """The delivery columns of an outbound message stored now: `sent` where the channel delivers what is stored
        (router/engine/delivery.py, `delivered_on_commit`), else `queued` until its delivery status comes back. A
        message with files waits for its status everywhere: a file may turn out to be gone, and what was not
        delivered is never reported sent."""
        if d.channel in self.r.delivered_on_commit and not files:
            return {"delivery_state": "sent", "delivery_attempts": 1, "delivered_at": self.now}
        return {"delivery_state": "queued", "delivery_attempts": 0, "delivered_at": None}

    def _send_auto(self, d: Dialog, line: LinePolicy, kind: autoreply.Kind) -> None:
        """Store an auto-reply and send it through the outbox like any outbound message."""
        r = self.r
        ctx = autoreply.Context(
            client_name=d.customer_name,
            line_name=line.name,
            operator_name=r.names.get(d.operator or "", ""),
            next_open=next_open(line.schedule, self.now),
            timezone=line.schedule.timezone,
            language=line.language,
            now=self.now,
        )
        text = autoreply.text_of(kind, line.templates, ctx)
        self._send_bot(d, line, kind, text)

    def _ask_rating(self, d: Dialog, line: LinePolicy) -> None:
        """Ask the customer to rate the answer (after the closing text): a bot message the channel shows with
        its buttons; its author id names the scale (and whether a comment is taken) so history can show it again."""
        policy = line.rating
        if policy is None:
            return
        author_id = f"rating:{policy.scale}" + (":comment" if policy.comment else "")
        text = ratings.question_text(policy, line.language)
        self._send_bot(
            d, line, "rating", text, author_id=author_id, ask_rating=policy.scale, ask_comment=policy.comment
        )

    def _send_bot(
        self,
        d: Dialog,
        line: LinePolicy,
        kind: str,
        text: str,
        *,
        author_id: str | None = None,
        ask_rating: str | None = None,
        ask_comment: bool = False,
    ) -> None:
        """Store a message of the line's bot and send it through the outbox like any outbound message (a customer
        who denied messages gets none: it is stored undeliverable)."""
        r = self.r
        row: dict[str, Any] = {
            "id": new_id(),
            "dialog_id": d.id,
            "channel": d.channel,
            "account": d.account,
            "external_id": None,
            "direction": "out",
            "author_kind": "bot",
            "author_id": author_id or kind,
            "author_name": line.name,
            "text": text,
            "visibility": "public",
            "attachments": [],
            "created_at": self.now,
            "edited_at": None,
            "delivery_error": None,
            **self._delivery_columns(d),
        }
        self.changes.messages.append(row)
        self._event(d, "auto_reply", None, {"kind": kind})
        if self._denied(d):
            self._undeliverable(d, row)
            self._console(r.watchers(d), {"type": "message", "dialog_id": d.id, "message": message_view(row)})
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
            ask_rating=ask_rating,
            ask_comment=ask_comment,
        )
        self._emit(outbound_stream(d.channel), conversation_key(d.channel, d.account, d.chat_id), out)
        self._console(r.watchers(d), {"type": "message", "dialog_id": d.id, "message": message_view(row)})
        self._sent_on_commit(d, row)


def reply_state(d: Dialog) -> autoreply.ReplyState:
    """The auto-reply state a dialog carries."""
    return autoreply.ReplyState(d.off_hours_key, d.answer_due, d.no_answer_sent)
