"""PURE: the dialog state machine. Each transition takes a dialog, the line, operators and `now`,
and returns the new dialog with the effects to perform (or an error), never doing I/O itself."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from router.rules.dialog import (
    ASSIGNED,
    CLOSED,
    OFFERED,
    QUEUED,
    Assigned,
    Closed,
    Dialog,
    Effect,
    FirstResponse,
    LinePolicy,
    NoAnswer,
    Offered,
    Outcome,
    Queued,
    Reopened,
    ResponsibleChanged,
    Transferred,
    Withdrawn,
    evolve,
)
from router.rules.distribution import OperatorState, QueueState, choose_operator, load
from router.rules.hours import is_open, next_open


def _fail(d: Dialog, code: str, message: str) -> Outcome:
    """The dialog unchanged, and why (the web and the console show the code and the message)."""
    return Outcome(d, (), (code, message))


# ---- transitions -------------------------------------------------------------------------------


def route(
    d: Dialog, line: LinePolicy, ops: Mapping[str, OperatorState], now: datetime, *, reset: bool = False
) -> Outcome:
    """Offer a waiting dialog by the line's mode, or leave it queued until an operator can take it
    (or, outside business hours, until the line opens)."""
    excluded = frozenset() if reset else d.excluded
    if not is_open(line.schedule, now):
        opens = next_open(line.schedule, now)
        nd = evolve(
            d,
            state=QUEUED,
            offered_to=(),
            offer_deadline=None,
            excluded=excluded,
            queued_since=d.queued_since or now,
            retry_at=opens or now + line.retry_interval,
        )
        return Outcome(nd, () if d.state == QUEUED else (Queued("off_hours"),))
    queue = QueueState(
        queue=line.queue,
        offer_timeout=line.offer_timeout,
        excluded=excluded,
        last_offered=d.last_offered,
        preferred=d.preferred if line.sticky else None,
    )
    choice = choose_operator(queue, ops, line.mode, now)
    if choice is None:
        exhausted = bool(excluded)  # this round's operators were all offered it, and none took it
        if exhausted and line.on_no_answer == "requeue" and not reset:
            return route(d, line, ops, now, reset=True)
        nd = evolve(
            d,
            state=QUEUED,
            offered_to=(),
            offer_deadline=None,
            excluded=excluded,
            queued_since=d.queued_since or now,
            # a dialog that already waits keeps its retry time: a failed attempt must not postpone it
            retry_at=d.retry_at if d.state == QUEUED and d.retry_at else now + line.retry_interval,
        )
        effects: tuple[Effect, ...] = () if d.state == QUEUED else (Queued("nobody_available"),)
        if exhausted and line.on_no_answer == "auto_reply":
            effects = (*effects, NoAnswer())
        return Outcome(nd, effects)
    nd = evolve(
        d,
        state=OFFERED,
        offered_to=choice.operators,
        offer_deadline=choice.deadline,
        excluded=excluded,
        last_offered=choice.operators[-1] if line.mode == "sequential" else d.last_offered,
        queued_since=d.queued_since or now,
        retry_at=None,
    )
    return Outcome(nd, (Offered(choice.operators, choice.deadline),))


def open_dialog(d: Dialog, line: LinePolicy, ops: Mapping[str, OperatorState], now: datetime) -> Outcome:
    """A new dialog's first routing: offered at once, or announced to the line's queue."""
    out = route(evolve(d, state=QUEUED, queued_since=now), line, ops, now)
    if out.dialog.state == QUEUED:
        reason = "off_hours" if not is_open(line.schedule, now) else "new"
        return Outcome(out.dialog, (Queued(reason),))
    return out


def reopen(d: Dialog, line: LinePolicy, ops: Mapping[str, OperatorState], now: datetime) -> Outcome:
    """The customer wrote soon after the close: the same dialog comes back, to whoever had it first."""
    if d.state != CLOSED:
        return Outcome(d)
    back = evolve(
        d,
        state=QUEUED,
        closed_at=None,
        operator=None,
        preferred=d.operator or d.preferred,
        excluded=frozenset(),
        last_offered=None,
        queued_since=now,
        retry_at=None,
        first_response_at=None,
    )
    out = route(back, line, ops, now)
    if out.dialog.state == QUEUED:
        return Outcome(out.dialog, (Reopened(), Queued("reopened")))
    return Outcome(out.dialog, (Reopened(), *out.effects))


def reopen_by(d: Dialog, operator: str, now: datetime) -> Outcome:
    """An operator writes again to a customer whose dialog is closed (from the lead card or the closed list): the
    same dialog comes back, theirs at once (no offer round: they chose to reach out, over their capacity too)."""
    if d.state != CLOSED:
        return _fail(d, "bad_state", "the dialog is open: answer it")
    back = evolve(
        d,
        state=ASSIGNED,
        closed_at=None,
        operator=operator,
        offered_to=(),
        offer_deadline=None,
        excluded=frozenset(),
        last_offered=None,
        queued_since=None,
        retry_at=None,
        preferred=operator,
        last_message_at=now,
    )
    return Outcome(back, (Reopened(), Assigned(operator, None, "reopen")))


def auto_close(d: Dialog, due: datetime, now: datetime) -> Outcome:
    """Close a conversation that went silent for the line's `auto_close_after` after an operator had it;
    a dialog still waiting for an operator is never closed this way (it would drop an unanswered customer)."""
    if d.state != ASSIGNED or d.auto_close_at != due:
        return Outcome(d)  # stale (someone wrote meanwhile), or nobody has answered yet
    return close(d, None, now)


def take(
    d: Dialog,
    operator: str,
    line: LinePolicy,
    ops: Mapping[str, OperatorState],
    now: datetime,
    *,
    how: str = "take",
    takeover: bool = False,
) -> Outcome:
    """The operator takes the dialog (from an offer or from the queue); first take wins, unless an admin
    takes over a dialog another operator has."""
    if d.state == CLOSED:
        return _fail(d, "bad_state", "the dialog is closed")
    if d.state == ASSIGNED:
        if d.operator == operator:
            return Outcome(d)
        if not takeover:
            return _fail(d, "bad_state", f"the dialog is already taken by {d.operator}")
        nd = evolve(d, operator=operator)
        return Outcome(nd, (Assigned(operator, d.operator, "takeover"),))
    op = ops.get(operator)
    # an offer to this operator already reserved their slot, so it must not count against them twice
    reserved = 1 if operator in d.offered_to and line.mode != "all" else 0
    if op is not None and load(op, line.mode) - reserved >= op.max_dialogs:
        return _fail(d, "at_capacity", f"{operator} already has {op.open_dialogs} open dialogs")
    others = tuple(o for o in d.offered_to if o != operator)
    nd = evolve(
        d,
        state=ASSIGNED,
        operator=operator,
        offered_to=(),
        offer_deadline=None,
        excluded=frozenset(),
        retry_at=None,
        queued_since=None,
        preferred=d.preferred or operator,
    )
    effects: list[Effect] = []
    if others:
        effects.append(Withdrawn(others, "taken"))
    effects.append(Assigned(operator, None, how))
    if d.preferred is None:
        effects.append(ResponsibleChanged(operator))
    return Outcome(nd, tuple(effects))


def reply(
    d: Dialog, operator: str, line: LinePolicy, ops: Mapping[str, OperatorState], now: datetime
) -> Outcome:
    """An operator answers; answering a dialog offered to them (or queued) takes it."""
    if d.state == CLOSED:
        return _fail(d, "bad_state", "the dialog is closed")
    effects: tuple[Effect, ...] = ()
    if d.state != ASSIGNED or d.operator != operator:
        out = take(d, operator, line, ops, now, how="reply")
        if out.error:
            return out
        d, effects = out.dialog, out.effects
    if d.first_response_at is None:
        waited = (now - (d.created_at)).total_seconds()
        d = evolve(d, first_response_at=now)
        effects = (*effects, FirstResponse(operator, max(waited, 0.0)))
    return Outcome(d, effects)


def skip(
    d: Dialog,
    operator: str,
    line: LinePolicy,
    ops: Mapping[str, OperatorState],
    now: datetime,
    *,
    reason: str = "skipped",
) -> Outcome:
    """Decline an offer: it passes on, never back to this operator until the next round."""
    if d.state != OFFERED or operator not in d.offered_to:
        return _fail(d, "not_offered", "the dialog is not offered to you")
    remaining = tuple(o for o in d.offered_to if o != operator)
    nd = evolve(d, excluded=d.excluded | {operator}, offered_to=remaining)
    withdrawn = Withdrawn((operator,), reason)
    if remaining:  # `all` mode: the others keep their offer
        return Outcome(nd, (withdrawn,))
    out = route(nd, line, ops, now)
    return Outcome(out.dialog, (withdrawn, *out.effects))


def offer_expired(
    d: Dialog, due: datetime, line: LinePolicy, ops: Mapping[str, OperatorState], now: datetime
) -> Outcome:
    """The take time ran out: the offer passes on to whom the mode picks next."""
    if d.state != OFFERED or d.offer_deadline != due:
        return Outcome(d)  # a stale timer: the offer was taken, skipped or renewed meanwhile
    nd = evolve(d, excluded=d.excluded | set(d.offered_to), offered_to=())
    out = route(nd, line, ops, now)
    return Outcome(out.dialog, (Withdrawn(d.offered_to, "expired"), *out.effects))


def queue_retry(
    d: Dialog, due: datetime, line: LinePolicy, ops: Mapping[str, OperatorState], now: datetime
) -> Outcome:
    """The periodic retry of a queued dialog: a new round in which everyone may be offered it again."""
    if d.state != QUEUED or d.retry_at != due:
        return Outcome(d)
    return route(evolve(d, retry_at=None), line, ops, now, reset=True)


def operator_available(
    d: Dialog, line: LinePolicy, ops: Mapping[str, OperatorState], now: datetime
) -> Outcome:
    """Someone came online or freed capacity: a queued dialog is offered; in `all` mode the offer widens."""
    if d.state == QUEUED:
        return route(d, line, ops, now)
    sticky_offer = line.sticky and d.preferred is not None and d.offered_to == (d.preferred,)
    # the responsible's exclusive first chance is not widened; it passes on only when it lapses
    if d.state == OFFERED and line.mode == "all" and d.offer_deadline is not None and not sticky_offer:
        queue = QueueState(line.queue, line.offer_timeout, d.excluded | set(d.offered_to))
        choice = choose_operator(queue, ops, "all", now)
        if choice is not None:
            nd = evolve(d, offered_to=d.offered_to + choice.operators)
            return Outcome(nd, (Offered(choice.operators, d.offer_deadline),))
    return Outcome(d)


def transfer_to_operator(d: Dialog, by: str, to: str, now: datetime, note: str | None = None) -> Outcome:
    """Hand the dialog with its history (and an optional note) to a colleague, who becomes the lead's
    responsible."""
    if d.state == CLOSED:
        return _fail(d, "bad_state", "the dialog is closed")
    if d.state == ASSIGNED and d.operator == to:
        return _fail(d, "bad_state", f"the dialog is already with {to}")
    nd = evolve(
        d,
        state=ASSIGNED,
        operator=to,
        offered_to=(),
        offer_deadline=None,
        excluded=frozenset(),
        retry_at=None,
        queued_since=None,
        preferred=to,
    )
    effects: list[Effect] = []
    if d.offered_to:
        effects.append(Withdrawn(d.offered_to, "transferred"))
    effects += [
        Transferred(by, d.operator, to, None, note),
        Assigned(to, d.operator, "transfer"),
        ResponsibleChanged(to),
    ]
    return Outcome(nd, tuple(effects))


def transfer_to_line(
    d: Dialog,
    by: str,
    line: LinePolicy,
    ops: Mapping[str, OperatorState],
    now: datetime,
    note: str | None = None,
) -> Outcome:
    """Move the dialog (with an optional note) to another line's queue; whoever takes it there becomes the
    responsible."""
    if d.state == CLOSED:
        return _fail(d, "bad_state", "the dialog is closed")
    if d.line_id == line.id and d.state != ASSIGNED:
        return _fail(d, "bad_state", f"the dialog already waits in {line.id}")
    moved = evolve(
        d,
        line_id=line.id,
        state=QUEUED,
        operator=None,
        offered_to=(),
        offer_deadline=None,
        excluded=frozenset({by}),  # not straight back to the operator who passed it on
        last_offered=None,
        preferred=None,
        queued_since=now,
        retry_at=None,
    )
    effects: list[Effect] = []
    if d.offered_to:
        effects.append(Withdrawn(d.offered_to, "transferred"))
    effects.append(Transferred(by, d.operator, None, line.id, note))
    out = route(moved, line, ops, now)
    if out.dialog.state == QUEUED:
        return Outcome(out.dialog, (*effects, Queued("transferred")))
    return Outcome(out.dialog, (*effects, *out.effects))


def close(d: Dialog, by: str | None, now: datetime) -> Outcome:
    """Close the dialog; closing a closed dialog changes nothing."""
    if d.state == CLOSED:
        return Outcome(d)
    nd = evolve(
        d,
        state=CLOSED,
        closed_at=now,
        offered_to=(),
        offer_deadline=None,
        retry_at=None,
        answer_due=None,
        auto_close_at=None,
    )
    effects: list[Effect] = []
    if d.offered_to:
        effects.append(Withdrawn(d.offered_to, "closed"))
    effects.append(Closed(by))
    return Outcome(nd, tuple(effects))
