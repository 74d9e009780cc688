"""Resuming after a start, a crash or a partition move: the routing state from the store, the outbox that was
committed but never published, and the messages that were published but never confirmed by their channel."""

from __future__ import annotations

from typing import Any

import orjson

from crm_core.ids import new_id
from crm_core.store import Changes, Store
from queues.bus import Bus, conversation_key, outbound_stream
from queues.messages import Attachment, Event, OutboundMessage, from_dict, loads
from router.app import log_events as ev
from router.app.clock import Clock
from router.app.logs import get
from router.engine.records import dialog_from_row
from router.engine.routing import Routing
from router.engine.staging import OUTBOX_BUNDLE
from router.protocol.times import iso

log = get(__name__)
REPUBLISH_CHUNK = 10_000


def count(owned: frozenset[int] | None) -> str | int:
    """How many partitions a worker owns, for the logs."""
    return "all" if owned is None else len(owned)


class Recovery:
    """Reads back what the store holds for this worker's conversations and publishes what it still owes."""

    def __init__(self, routing: Routing, store: Store, bus: Bus, clock: Clock) -> None:
        self.routing = routing
        self.store = store
        self.bus = bus
        self.clock = clock

    async def load(self) -> None:
        """The routing state of the open dialogs this worker routes, and the conversations that refused us."""
        r = self.routing
        r.denied = await self.store.denied_conversations()
        r.state.clear()
        rows = await self.store.open_dialogs()
        mine = [dialog_from_row(row) for row in rows]
        mine = [d for d in mine if r.mine(conversation_key(d.channel, d.account, d.chat_id))]
        for d in mine:
            r.state.put(d)
        log.info(ev.ENGINE_RESUMED, open_dialogs=len(mine), partitions=count(r.owned))

    async def republish_outbox(self) -> None:
        """Publish the outbox rows of our partitions that were committed but not marked sent."""
        while True:
            rows = await self.store.pending_outbox(REPUBLISH_CHUNK)
            mine = [row for row in rows if self.routing.mine(row["key"])]
            if not mine:
                return
            items: list[tuple[str, str | None, Event]] = []
            for row in mine:
                # a batch's events of one partition: [stream, key, event] each
                if row["stream"] == OUTBOX_BUNDLE:
                    items += [
                        (stream, key, from_dict(event)) for stream, key, event in orjson.loads(row["payload"])
                    ]
                else:
                    items.append((row["stream"], row["key"], loads(row["payload"])))
            await self.bus.publish_many(items)  # in one write (one round trip on Redis)
            await self.store.apply(Changes(outbox_done=[row["id"] for row in mine]))
            log.info(ev.OUTBOX_REPUBLISHED, count=len(mine))
            if len(rows) < REPUBLISH_CHUNK:
                return

    async def resend_undelivered(self) -> None:
        """Send again what a crash left between the outbox's publish and the channel's confirmation (channels
        dedupe by message id)."""
        settled: list[dict[str, Any]] = []
        now = self.clock.now()
        for m in await self.store.undelivered():
            if not self.routing.mine(conversation_key(m["d_channel"], m["d_account"], m["d_chat_id"])):
                continue
            if m["d_channel"] in self.routing.delivered_on_commit:  # stored before it was delivered on commit
                settled.append({"id": m["id"], "delivery_state": "sent", "delivered_at": now})
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
        if settled:
            await self.store.apply(Changes(message_updates=settled))
