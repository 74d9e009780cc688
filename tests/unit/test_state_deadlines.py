"""router/engine/state.py: the deadlines of the open dialogs, due in time order, each given out once, without scanning
every dialog on every tick."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from router.engine.state import RoutingState
from router.rules.dialog import ASSIGNED, CLOSED, OFFERED, QUEUED, Dialog

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def dialog(dialog_id: str, state: str, **fields: object) -> Dialog:
    return Dialog(
        dialog_id, "site", "lead", "ident", "widget", "site", f"chat-{dialog_id}", state, T0, **fields
    )  # type: ignore[arg-type]


def routing() -> RoutingState:
    return RoutingState({("*", "anna"): 10}, {"site": "even"})


def test_a_deadline_is_due_once_it_has_passed_and_only_once() -> None:
    s = routing()
    d = dialog("d1", OFFERED, offered_to=("anna",), offer_deadline=T0 + timedelta(seconds=30))
    s.put(d)
    assert s.due(T0 + timedelta(seconds=29)) == []
    assert s.due(T0 + timedelta(seconds=30)) == [(d, "offer_expired", T0 + timedelta(seconds=30))]
    assert s.due(T0 + timedelta(seconds=31)) == []


def test_deadlines_come_soonest_first_across_dialogs_and_kinds() -> None:
    s = routing()
    a = dialog(
        "a",
        ASSIGNED,
        operator="anna",
        auto_close_at=T0 + timedelta(hours=2),
        answer_due=T0 + timedelta(minutes=5),
    )
    b = dialog("b", QUEUED, retry_at=T0 + timedelta(minutes=1))
    s.put(a)
    s.put(b)
    got = [(d.id, timer) for d, timer, _ in s.due(T0 + timedelta(hours=3))]
    assert got == [("b", "queue_retry"), ("a", "no_answer"), ("a", "auto_close")]


def test_a_moved_or_cleared_deadline_is_not_due_any_more() -> None:
    s = routing()
    d = dialog("d1", ASSIGNED, operator="anna", answer_due=T0 + timedelta(minutes=5))
    s.put(d)
    moved = replace(d, answer_due=T0 + timedelta(minutes=10))
    s.put(moved)
    assert s.due(T0 + timedelta(minutes=6)) == []  # the old one is dropped when it comes up
    assert s.due(T0 + timedelta(minutes=10)) == [(moved, "no_answer", T0 + timedelta(minutes=10))]
    s.put(replace(moved, answer_due=T0 + timedelta(minutes=20)))
    s.put(replace(moved, state=CLOSED))
    assert s.due(T0 + timedelta(hours=1)) == []  # closed: nothing of it is due


def test_deadlines_given_back_are_due_again() -> None:
    s = routing()
    d = dialog("d1", QUEUED, retry_at=T0)
    s.put(d)
    due = s.due(T0)
    assert len(due) == 1
    s.later(due)  # its timer event could not be published
    assert s.due(T0) == due


def test_stale_entries_do_not_pile_up() -> None:
    s = routing()
    d = dialog("d1", ASSIGNED, operator="anna")
    for minute in range(10_000):  # every message moves the auto-close time
        d = replace(d, auto_close_at=T0 + timedelta(days=1, minutes=minute))
        s.put(d)
    assert len(s._timers) <= 4 * len(s.dialogs) + 1025
    assert [timer for _, timer, _ in s.due(T0 + timedelta(days=30))] == ["auto_close"]
