"""The pure part of the cross-worker queue order: who waits ahead of a dialog, and when it must wait."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from router.rules.dialog import ASSIGNED, OFFERED, QUEUED, Dialog, LinePolicy
from router.rules.distribution import OperatorState
from router.rules.fairness import (
    Taken,
    Waiting,
    free_slots,
    held_back_by,
    lost,
    resync,
    waiting_ahead,
    waiting_changes,
)
from router.rules.hours import always_open

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def line(mode: str = "even") -> LinePolicy:
    return LinePolicy(
        id="support",
        name="Support",
        mode=mode,  # type: ignore[arg-type]
        queue=("anna", "boris"),
        offer_timeout=timedelta(seconds=60),
        retry_interval=timedelta(seconds=120),
        schedule=always_open(),
    )


def op(
    login: str, open_dialogs: int, max_dialogs: int = 2, online: bool = True, offers: int = 0
) -> OperatorState:
    return OperatorState(login, online, open_dialogs, max_dialogs, offers)


def dialog(dialog_id: str, state: str = QUEUED) -> Dialog:
    return Dialog(
        id=dialog_id,
        lead_id="l",
        identity_id="i",
        line_id="support",
        channel="widget",
        account="support",
        chat_id=dialog_id,
        state=state,
        created_at=T0,
    )


def w(seconds: float, dialog_id: str) -> Waiting:
    return Waiting(T0 + timedelta(seconds=seconds), dialog_id, "support")


def test_free_slots_count_online_operators_of_the_line_below_capacity() -> None:
    ops = {"anna": op("anna", 1), "boris": op("boris", 0, online=False), "vera": op("vera", 0)}
    assert free_slots(line(), ops) == 1  # boris is away, vera is not in the line's queue
    ops["anna"] = op("anna", 1, offers=1)
    assert free_slots(line(), ops) == 0  # an outstanding offer holds a slot (every mode but `all`)
    assert free_slots(line("all"), ops) == 1


def test_waiting_ahead_counts_older_entries_but_not_placed_or_own_placed_ones() -> None:
    entries = [
        w(1, "x"),
        w(2, "placed"),
        w(3, "mine-assigned"),
        w(4, "mine-waiting"),
        w(5, "me"),
        w(6, "later"),
    ]
    own = {"mine-assigned": dialog("mine-assigned", ASSIGNED), "mine-waiting": dialog("mine-waiting")}
    since = T0 + timedelta(seconds=5, microseconds=700)  # the order keeps ms: 5.0007 s is 5.000 s
    assert waiting_ahead(entries, since, "me", own, {"placed"}, 10) == ["x", "mine-waiting"]
    assert waiting_ahead(entries, since, "me", own, {"placed"}, 1) == ["x"]  # only as far as it needs
    assert waiting_ahead(entries, T0, "new", own, set(), 10) == []


def test_a_dialog_waits_only_when_older_ones_would_take_every_free_slot() -> None:
    ops = {"anna": op("anna", 1), "boris": op("boris", 2)}  # one free slot
    older = [w(1, "x")]
    assert held_back_by(line(), ops, older, T0 + timedelta(seconds=2), "me", {}, set()) == ["x"]
    assert held_back_by(line(), ops, older, T0 + timedelta(seconds=2), "me", {}, {"x"}) == []  # passed over
    assert held_back_by(line(), ops, older, T0, "me", {}, set()) == []  # it is the older one
    ops["boris"] = op("boris", 1)  # two free slots: one for x, one for me
    assert held_back_by(line(), ops, older, T0 + timedelta(seconds=2), "me", {}, set()) == []
    assert held_back_by(line("all"), ops, older, T0 + timedelta(seconds=2), "me", {}, set()) == []


def test_taken_shows_every_operator_unable_to_take() -> None:
    ops = {"anna": op("anna", 0)}
    taken = Taken(ops)
    assert list(taken) == ["anna"] and len(taken) == 1
    assert taken["anna"] == evolve_op(ops["anna"])


def evolve_op(o: OperatorState) -> OperatorState:
    return OperatorState(o.login, False, o.open_dialogs, o.max_dialogs, o.pending_offers, o.last_offered_at)


def test_a_committed_batch_adds_what_started_waiting_and_removes_what_was_placed_or_moved() -> None:
    now = T0 + timedelta(minutes=1)
    waiting = replace(dialog("a"), queued_since=T0)
    before = {"a": waiting, "b": replace(dialog("b"), queued_since=T0), "c": dialog("c", ASSIGNED)}
    after = {
        "a": replace(waiting, state=OFFERED),  # placed: out
        "b": replace(before["b"], line_id="sales"),  # moved to another line: out of one, into the other
        "c": replace(dialog("c"), queued_since=now),  # back in the queue: in
        "d": dialog("d"),  # new and waiting: in (since now: it has no queued_since yet)
        "e": dialog("e", ASSIGNED),  # new and placed at once: nothing
    }
    add, remove = waiting_changes(before, after, now)
    assert remove == [Waiting(T0, "a", "support"), Waiting(T0, "b", "support")]
    assert [(w.dialog_id, w.line_id, w.since) for w in add] == [
        ("b", "sales", T0),
        ("c", "support", now),
        ("d", "support", now),
    ]
    assert waiting_changes(before, {"b": before["b"]}, now) == ([], [])  # still waiting as it was


def test_resync_puts_back_every_own_waiting_dialog_and_drops_own_entries_that_no_longer_wait() -> None:
    own = {"a": replace(dialog("a"), queued_since=T0), "b": dialog("b", ASSIGNED)}
    seen = {"support": [w(0, "a"), w(1, "b"), w(2, "others")]}
    waiting, stale = resync(own, seen, T0)
    assert waiting == [Waiting(T0, "a", "support")]
    assert stale == [w(1, "b")]  # another worker's entry is not ours to drop


def test_the_sweep_drops_entries_whose_dialog_is_gone_or_ours_and_no_longer_waiting() -> None:
    entries = [
        w(1, "deleted"),
        w(2, "ours-closed"),
        w(3, "theirs-closed"),
        w(4, "ours-waiting"),
        w(5, "theirs"),
    ]
    rows = {
        "ours-closed": {"state": "closed"},
        "theirs-closed": {"state": "closed"},  # its worker may not have written the removal yet
        "ours-waiting": {"state": QUEUED},
        "theirs": {"state": QUEUED},
    }
    got = lost(entries, rows, mine={"ours-closed", "ours-waiting"})
    assert [x.dialog_id for x in got] == ["deleted", "ours-closed"]
