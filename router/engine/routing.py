"""What a router worker knows while it routes: the lines and operators from the config, the routing state of its
conversations, the identities it has seen, and who may see what. Every batch reads and updates it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from crm_core.store import Key
from queues.bus import INBOUND
from router.app.blocks import channel_blocks
from router.app.settings import Settings
from router.engine.order import QueueOrder
from router.engine.state import RoutingState
from router.rules.access import Viewer
from router.rules.autoreply import Templates
from router.rules.dialog import QUEUED, Dialog, LinePolicy
from router.rules.distribution import OperatorState
from router.rules.ratings import RatingPolicy

IDENTITY_CACHE = 50_000


def line_policies(settings: Settings) -> dict[str, LinePolicy]:
    """Each line's routing rules, as the pure decisions take them."""
    return {
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
            rating=(
                None
                if ln.rating is None
                else RatingPolicy(ln.rating.scale, ln.rating.comment, ln.rating.question)
            ),
        )
        for ln in settings.lines
    }


class Routing:
    """The config as routing reads it, the routing state, and the caches a batch reads (identities, consent)."""

    def __init__(
        self,
        settings: Settings,
        partition: Callable[[str, str], int],
        *,
        order: QueueOrder | None = None,
        delivered_on_commit: frozenset[str] = frozenset(),
    ) -> None:
        self.settings = settings
        # channels whose connectors deliver what is stored (the widget): their messages are stored `sent`, and
        # no delivery status comes back through the engine unless the delivery failed
        self.delivered_on_commit = delivered_on_commit
        self.partition = partition  # (stream, bus key) -> partition: which worker owns a conversation
        # several workers: the partitions of the inbound stream this worker routes (None: all of them), and the
        # lines' shared queue order it routes against
        self.owned: frozenset[int] | None = None if order is None else frozenset()
        self.order = order
        self.lines = line_policies(settings)
        self.line_names = {ln.id: ln.name for ln in settings.lines}
        self.channel_lines = {(str(b["type"]), account): ln.id for ln, account, b in channel_blocks(settings)}
        # a new customer's lead status: the first of their line's own statuses, else the first of all
        self.first_status = {
            ln.id: settings.crm.lead_pipeline(ln.crm.statuses)[0].id for ln in settings.lines
        }
        self.admins = frozenset(o.login for o in settings.operators if o.role == "admin")
        self.names = {o.login: o.name for o in settings.operators}
        self.capacity = settings.capacities()
        self.state = RoutingState(self.capacity, {ln.id: ln.distribution.mode for ln in settings.lines})
        for o in settings.operators:
            self.state.presence.setdefault(o.login, "offline")
        self.identities: OrderedDict[Key, dict[str, Any]] = OrderedDict()
        self.denied: set[Key] = set()  # conversations whose customer denied messages from us
        # the number of each operator's last applied presence change (events carry it with several web processes)
        self.presence_seq: dict[str, int] = {}

    def mine(self, key: str | None) -> bool:
        """Whether this worker routes the conversation (or operator) of a bus key."""
        return self.owned is None or key is None or self.partition(INBOUND, key) in self.owned

    def mode_of(self, line_id: str) -> str:
        """A line's distribution mode (a line gone from the config routes evenly)."""
        line = self.lines.get(line_id)
        return line.mode if line else "even"

    def remember_identity(self, key: Key, ident: dict[str, Any]) -> None:
        """Keep a stored identity for the next batches, the least recently stored ones dropped first."""
        self.identities[key] = ident
        self.identities.move_to_end(key)
        while len(self.identities) > IDENTITY_CACHE:
            self.identities.popitem(last=False)

    def routable(self, d: Dialog, line: LinePolicy, since: datetime) -> Mapping[str, OperatorState]:
        """The line's operators as a waiting (or new) dialog that started waiting at `since` may see them. Several
        workers: nobody, when dialogs that have waited longer at any worker would take every free slot."""
        ops = self.state.operators_for(line)
        if self.order is None:
            return ops
        return self.order.routable(d, line, since, ops, self.state.dialogs)

    def viewer(self, login: str) -> Viewer:
        """The access profile of an operator."""
        return Viewer(login, login in self.admins, frozenset(self.settings.lines_of(login)))

    def watchers(self, d: Dialog) -> set[str]:
        """Operators whose consoles follow the dialog: its operator, those offered it, admins; the line if queued."""
        out = set(self.admins)
        if d.operator:
            out.add(d.operator)
        out.update(d.offered_to)
        out.update(d.invited)
        if d.state == QUEUED:
            out.update(self.lines[d.line_id].queue)
        return out
