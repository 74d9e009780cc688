"""Shared routing state: presence, open dialogs, load per operator and offer times (the in-memory backend)."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

from router.rules.dialog import ASSIGNED, CLOSED, OFFERED, QUEUED, Dialog, LinePolicy
from router.rules.distribution import OperatorState

ONLINE, AWAY, OFFLINE = "online", "away", "offline"
Conversation = tuple[str, str, str]


def deadlines_of(d: Dialog) -> list[tuple[str, datetime]]:
    """The stored deadlines of a dialog that a timer event must follow up: (timer, when)."""
    out = []
    if d.state == OFFERED and d.offer_deadline is not None:
        out.append(("offer_expired", d.offer_deadline))
    if d.state == QUEUED and d.retry_at is not None:
        out.append(("queue_retry", d.retry_at))
    if d.answer_due is not None:
        out.append(("no_answer", d.answer_due))
    if d.state == ASSIGNED and d.auto_close_at is not None:
        out.append(("auto_close", d.auto_close_at))
    return out


class RoutingState:
    """Open dialogs indexed by conversation and operator, with the load counters routing decides on."""

    def __init__(self, max_dialogs: Mapping[tuple[str, str], int], modes: Mapping[str, str]) -> None:
        self._max = max_dialogs  # (line, login) -> capacity
        self._modes = modes  # line -> mode
        self.presence: dict[str, str] = {}
        self.dialogs: dict[str, Dialog] = {}
        self.by_conversation: dict[Conversation, str] = {}
        self.open_count: Counter[str] = Counter()
        self.offer_count: Counter[str] = Counter()
        self.last_offered_at: dict[str, datetime] = {}
        # (when, dialog id, timer) of every deadline a put introduced, soonest first; an entry whose dialog no
        # longer has that deadline is dropped when it comes up (`due`), and the heap is rebuilt when such
        # entries pile up, so finding what is due never scans every open dialog
        self._timers: list[tuple[datetime, str, str]] = []

    def clear(self) -> None:
        """Forget every dialog (presence is kept: it lives in the operators' connections)."""
        self.dialogs.clear()
        self.by_conversation.clear()
        self.open_count.clear()
        self.offer_count.clear()
        self._timers.clear()

    def due(self, now: datetime) -> list[tuple[Dialog, str, datetime]]:
        """Every deadline that has passed, as (dialog, timer, when), each given out once."""
        out = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            at, dialog_id, timer = heapq.heappop(timers)
            d = self.dialogs.get(dialog_id)
            if d is not None and (timer, at) in deadlines_of(d):
                out.append((d, timer, at))
        return out

    def later(self, items: Iterable[tuple[Dialog, str, datetime]]) -> None:
        """Give deadlines from `due` back (their timer events could not be published): due again next time."""
        for d, timer, at in items:
            heapq.heappush(self._timers, (at, d.id, timer))

    def put(self, d: Dialog, now: datetime | None = None) -> None:
        """Record a dialog's new version, keeping the indexes and counters coherent."""
        old = self.dialogs.get(d.id)
        if old is not None:
            self._unindex(old)
        if d.state == CLOSED:
            self.dialogs.pop(d.id, None)
            conv = (d.channel, d.account, d.chat_id)
            if self.by_conversation.get(conv) == d.id:
                del self.by_conversation[conv]
            return
        self.dialogs[d.id] = d
        self.by_conversation[(d.channel, d.account, d.chat_id)] = d.id
        if d.answer_due or d.offer_deadline or d.retry_at or d.auto_close_at:
            known = deadlines_of(old) if old is not None else ()
            for timer, at in deadlines_of(d):
                if (timer, at) not in known:
                    heapq.heappush(self._timers, (at, d.id, timer))
            if len(self._timers) > 4 * len(self.dialogs) + 1024:
                self._timers = [(at, i, t) for i, x in self.dialogs.items() for t, at in deadlines_of(x)]
                heapq.heapify(self._timers)
        if d.state == ASSIGNED and d.operator:
            self.open_count[d.operator] += 1
        if d.state == OFFERED:
            for login in d.offered_to:
                if self._modes.get(d.line_id) != "all":
                    self.offer_count[login] += 1
                if now is not None and (old is None or login not in old.offered_to):
                    self.last_offered_at[login] = now

    def _unindex(self, d: Dialog) -> None:
        if d.state == ASSIGNED and d.operator:
            self.open_count[d.operator] -= 1
        if d.state == OFFERED and self._modes.get(d.line_id) != "all":
            for login in d.offered_to:
                self.offer_count[login] -= 1

    def open_dialog(self, conv: Conversation) -> Dialog | None:
        """The open dialog of a conversation, if any."""
        dialog_id = self.by_conversation.get(conv)
        return self.dialogs.get(dialog_id) if dialog_id else None

    def queued(self) -> list[Dialog]:
        """Dialogs waiting with nobody offered, oldest first (the backlog order)."""
        waiting = [d for d in self.dialogs.values() if d.state == QUEUED]
        return sorted(waiting, key=lambda d: (d.queued_since or d.created_at, d.id))

    def operators_for(self, line: LinePolicy) -> Mapping[str, OperatorState]:
        """A lazy view of operator states with the line's capacity rules."""
        return _OperatorView(self, line.id)

    def operator_state(self, login: str, line_id: str) -> OperatorState:
        """One operator's routing state as a line sees it."""
        return OperatorState(
            login=login,
            online=self.presence.get(login) == ONLINE,
            open_dialogs=self.open_count[login],
            max_dialogs=self._max.get((line_id, login), self._max.get(("*", login), 10)),
            pending_offers=self.offer_count[login],
            last_offered_at=self.last_offered_at.get(login),
        )


class _OperatorView(Mapping[str, OperatorState]):
    # built on demand: a decision reads only the operators of one queue, not every operator
    def __init__(self, state: RoutingState, line_id: str) -> None:
        self._state = state
        self._line = line_id

    def __getitem__(self, login: str) -> OperatorState:
        if login not in self._state.presence and ("*", login) not in self._state._max:
            raise KeyError(login)
        return self._state.operator_state(login, self._line)

    def __iter__(self) -> Iterator[str]:
        return iter(self._state.presence)

    def __len__(self) -> int:
        return len(self._state.presence)
