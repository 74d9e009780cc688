"""The dialog state machine: offer, take, answer, skip, take time, queue retries, transfers and closing.

Each transition is pure: it gets the dialog, the line's rules, a snapshot of the operators and `now`, and returns
the new dialog with the effects the engine must carry out (or an error and no change). The rules are DOMAIN.md's
"Open lines": a dialog is offered and taken (by the take button or by answering), an offer not taken in the take
time passes on, a dialog nobody took waits in the queue and is offered again, skip passes it on and never back to
the skipper in the same round, a transfer carries the responsible along.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from router.rules.dialog import (
    ASSIGNED,
    CLOSED,
    OFFERED,
    QUEUED,
    Assigned,
    Closed,
    Dialog,
    FirstResponse,
    LinePolicy,
    Offered,
    Outcome,
    Queued,
    ResponsibleChanged,
    Transferred,
    Withdrawn,
)
from router.rules.dialogs import (
    close,
    offer_expired,
    open_dialog,
    operator_available,
    queue_retry,
    reply,
    skip,
    take,
    transfer_to_line,
    transfer_to_operator,
)
from router.rules.distribution import Mode, OperatorState

now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TAKE_TIME = timedelta(minutes=1)
RETRY = timedelta(minutes=2)
WAITED = timedelta(minutes=5)  # how long before `now` the customer wrote
ABV = ("anna", "boris", "vera")


# ---- helpers -----------------------------------------------------------------------------------------


def op(login: str, *, online: bool = True, open: int = 0, max: int = 3, pending: int = 0) -> OperatorState:
    return OperatorState(
        login=login, online=online, open_dialogs=open, max_dialogs=max, pending_offers=pending
    )


def team(*states: OperatorState) -> dict[str, OperatorState]:
    return {s.login: s for s in states}


def everyone_free() -> dict[str, OperatorState]:
    return team(op("anna"), op("boris"), op("vera"))


def nobody_online() -> dict[str, OperatorState]:
    return team(op("anna", online=False), op("boris", online=False), op("vera", online=False))


def line_policy(
    mode: Mode = "even",
    queue: tuple[str, ...] = ABV,
    *,
    id: str = "sales",
    take_time: timedelta = TAKE_TIME,
    retry: timedelta = RETRY,
    sticky: bool = True,
) -> LinePolicy:
    return LinePolicy(
        id=id,
        name=id.title(),
        mode=mode,
        queue=queue,
        offer_timeout=take_time,
        retry_interval=retry,
        sticky=sticky,
    )


def new_dialog(**changes) -> Dialog:
    """A dialog as the engine creates it from a customer's first message, before any routing."""
    base = Dialog(
        id="dlg-1",
        line_id="sales",
        lead_id="lead-1",
        identity_id="tg-777",
        channel="telegram",
        account="sales_bot",
        chat_id="777",
        state=QUEUED,
        created_at=now - WAITED,
    )
    return replace(base, **changes)


def queued(**changes) -> Dialog:
    return new_dialog(**{"queued_since": now - WAITED, "retry_at": now + RETRY, **changes})


def offered(*to: str, deadline: datetime = now + TAKE_TIME, **changes) -> Dialog:
    return new_dialog(
        **{
            "state": OFFERED,
            "offered_to": to,
            "offer_deadline": deadline,
            "queued_since": now - WAITED,
            **changes,
        }
    )


def assigned(operator: str, **changes) -> Dialog:
    return new_dialog(**{"state": ASSIGNED, "operator": operator, "preferred": operator, **changes})


def closed(**changes) -> Dialog:
    return new_dialog(
        **{"state": CLOSED, "operator": "anna", "closed_at": now - timedelta(minutes=1), **changes}
    )


def offers(out: Outcome) -> list[tuple[str, ...]]:
    return [e.operators for e in out.effects if isinstance(e, Offered)]


def assert_refused(out: Outcome, before: Dialog, code: str) -> None:
    assert out.error is not None and out.error[0] == code
    assert out.dialog == before
    assert out.effects == ()


def assert_no_op(out: Outcome, before: Dialog) -> None:
    assert out.error is None
    assert out.dialog == before
    assert out.effects == ()


# ---- a new dialog ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        pytest.param("even", ("boris",), id="even-least-loaded"),
        pytest.param("sequential", ("anna",), id="sequential-first-in-queue"),
        pytest.param("all", ("anna", "boris", "vera"), id="all-everyone"),
    ],
)
def test_new_dialog_is_offered_at_once_by_the_line_mode(mode, expected):
    ops = team(op("anna", open=2), op("boris", open=0), op("vera", open=1))
    out = open_dialog(new_dialog(), line_policy(mode), ops, now)
    assert out.error is None
    assert out.effects == (Offered(expected, now + TAKE_TIME),)
    assert out.dialog.state == OFFERED
    assert out.dialog.offered_to == expected
    assert out.dialog.offer_deadline == now + TAKE_TIME
    assert out.dialog.queued_since == now
    assert out.dialog.retry_at is None


def test_sequential_new_dialog_remembers_whom_the_round_is_at():
    out = open_dialog(new_dialog(), line_policy("sequential"), everyone_free(), now)
    assert out.dialog.last_offered == "anna"


@pytest.mark.parametrize(
    "ops",
    [
        pytest.param(nobody_online(), id="nobody-online"),
        pytest.param(team(op("anna", open=3), op("boris", open=4), op("vera", max=0)), id="all-full"),
        pytest.param(team(), id="nobody-known"),
    ],
)
@pytest.mark.parametrize("mode", ["even", "sequential", "all"])
def test_new_dialog_waits_in_the_line_queue_when_nobody_can_take_it(mode, ops):
    out = open_dialog(new_dialog(), line_policy(mode), ops, now)
    assert out.error is None
    assert out.effects == (Queued("new"),)
    assert out.dialog.state == QUEUED
    assert out.dialog.offered_to == ()
    assert out.dialog.offer_deadline is None
    assert out.dialog.queued_since == now
    assert out.dialog.retry_at == now + RETRY


def test_new_dialog_of_a_customer_with_a_responsible_goes_to_that_manager_first():
    ops = team(op("anna"), op("boris"), op("vera", open=2))
    out = open_dialog(new_dialog(preferred="vera"), line_policy("even"), ops, now)
    assert out.effects == (Offered(("vera",), now + TAKE_TIME),)


def test_new_dialog_on_a_non_sticky_line_ignores_the_responsible():
    ops = team(op("anna", open=1), op("boris"), op("vera", open=2))
    out = open_dialog(new_dialog(preferred="vera"), line_policy("even", sticky=False), ops, now)
    assert out.effects == (Offered(("boris",), now + TAKE_TIME),)


# ---- take --------------------------------------------------------------------------------------------


def test_operator_takes_an_offer_and_becomes_responsible_of_a_lead_without_one():
    ops = team(op("anna", pending=1), op("boris"), op("vera"))
    out = take(offered("anna"), "anna", line_policy("even"), ops, now)
    assert out.error is None
    assert out.dialog.state == ASSIGNED
    assert out.dialog.operator == "anna"
    assert out.dialog.offered_to == ()
    assert out.dialog.offer_deadline is None
    assert out.dialog.preferred == "anna"
    assert out.effects == (Assigned("anna", None, "take"), ResponsibleChanged("anna"))


@pytest.mark.parametrize("responsible", ["vera", "anna"], ids=["someone-else", "the-taker"])
def test_take_keeps_the_responsible_the_lead_already_has(responsible):
    ops = team(op("anna", pending=1), op("boris"), op("vera"))
    out = take(offered("anna", preferred=responsible), "anna", line_policy("even"), ops, now)
    assert out.effects == (Assigned("anna", None, "take"),)
    assert out.dialog.preferred == responsible


def test_all_mode_first_take_wins_and_the_second_operator_gets_bad_state():
    line = line_policy("all")
    first = take(offered(*ABV), "anna", line, everyone_free(), now)
    second = take(first.dialog, "boris", line, everyone_free(), now + timedelta(seconds=1))
    assert first.dialog.operator == "anna"
    assert_refused(second, first.dialog, "bad_state")


def test_all_mode_take_withdraws_the_other_operators_offers():
    out = take(offered(*ABV), "boris", line_policy("all"), everyone_free(), now)
    assert out.effects == (
        Withdrawn(("anna", "vera"), "taken"),
        Assigned("boris", None, "take"),
        ResponsibleChanged("boris"),
    )


def test_taking_again_by_the_operator_who_has_it_changes_nothing():
    d = assigned("anna")
    assert_no_op(take(d, "anna", line_policy(), everyone_free(), now), d)


def test_operator_takes_a_dialog_waiting_in_the_queue():
    d = queued(excluded=frozenset({"boris"}))
    out = take(d, "boris", line_policy("sequential"), everyone_free(), now)
    assert out.error is None
    assert out.dialog.state == ASSIGNED
    assert out.dialog.operator == "boris"
    assert out.dialog.retry_at is None
    assert out.dialog.queued_since is None
    assert out.dialog.excluded == frozenset()
    assert out.effects == (Assigned("boris", None, "take"), ResponsibleChanged("boris"))


@pytest.mark.parametrize(
    ("mode", "dialog", "anna", "error"),
    [
        pytest.param("even", queued(), op("anna", open=3, max=3), "at_capacity", id="queued-open-at-max"),
        pytest.param(
            "even",
            queued(),
            op("anna", open=2, pending=1, max=3),
            "at_capacity",
            id="queued-other-offer-fills-slot",
        ),
        pytest.param(
            "sequential",
            offered("anna"),
            op("anna", open=2, pending=1, max=3),
            None,
            id="own-offer-reserved-slot-not-counted-twice",
        ),
        pytest.param(
            "even",
            offered("boris"),
            op("anna", open=2, pending=1, max=3),
            "at_capacity",
            id="offer-to-colleague-anna-slot-reserved-elsewhere",
        ),
        pytest.param(
            "all", offered("anna", "boris"), op("anna", open=3, max=3), "at_capacity", id="all-open-at-max"
        ),
        pytest.param(
            "all",
            offered("anna", "boris"),
            op("anna", open=2, pending=4, max=3),
            None,
            id="all-offers-reserve-nothing",
        ),
    ],
)
def test_take_respects_the_maximum_of_open_dialogs(mode, dialog, anna, error):
    ops = team(anna, op("boris"), op("vera"))
    out = take(dialog, "anna", line_policy(mode), ops, now)
    if error is None:
        assert out.error is None
        assert out.dialog.operator == "anna"
    else:
        assert_refused(out, dialog, error)


def test_taking_a_closed_dialog_is_refused():
    d = closed()
    assert_refused(take(d, "boris", line_policy(), everyone_free(), now), d, "bad_state")


# ---- reply -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialog", [offered("anna"), queued()], ids=["offered", "queued"])
def test_answering_a_waiting_dialog_takes_it_and_records_the_first_response(dialog):
    out = reply(dialog, "anna", line_policy("even"), team(op("anna", pending=1), op("boris")), now)
    assert out.error is None
    assert out.dialog.state == ASSIGNED
    assert out.dialog.operator == "anna"
    assert out.dialog.first_response_at == now
    assert out.effects == (
        Assigned("anna", None, "reply"),
        ResponsibleChanged("anna"),
        FirstResponse("anna", WAITED.total_seconds()),
    )


def test_first_response_is_recorded_once_only():
    line, ops = line_policy("even"), team(op("anna", pending=1))
    first = reply(offered("anna"), "anna", line, ops, now)
    second = reply(first.dialog, "anna", line, ops, now + timedelta(minutes=3))
    assert second.error is None
    assert second.effects == ()
    assert second.dialog.first_response_at == now


def test_first_answer_of_the_assigned_operator_records_only_the_first_response():
    out = reply(assigned("anna"), "anna", line_policy(), everyone_free(), now)
    assert out.effects == (FirstResponse("anna", WAITED.total_seconds()),)
    assert out.dialog.first_response_at == now
    assert out.dialog.operator == "anna"


def test_answering_a_closed_dialog_is_refused():
    d = closed()
    assert_refused(reply(d, "anna", line_policy(), everyone_free(), now), d, "bad_state")


def test_answering_a_colleagues_dialog_is_refused_and_records_nothing():
    d = assigned("anna")
    assert_refused(reply(d, "boris", line_policy(), everyone_free(), now), d, "bad_state")


def test_answering_at_capacity_is_refused_and_records_no_first_response():
    d = queued()
    out = reply(d, "anna", line_policy(), team(op("anna", open=3, max=3)), now)
    assert_refused(out, d, "at_capacity")


# ---- skip --------------------------------------------------------------------------------------------


def test_even_skip_passes_to_the_next_fairest_never_back_to_the_skipper():
    ops = team(op("anna", open=0, pending=1), op("boris", open=2), op("vera", open=1))
    out = skip(offered("anna"), "anna", line_policy("even"), ops, now)
    assert out.effects == (Withdrawn(("anna",), "skipped"), Offered(("vera",), now + TAKE_TIME))
    assert out.dialog.excluded == frozenset({"anna"})
    assert out.dialog.state == OFFERED


def test_sequential_skips_go_round_the_queue_and_never_back_to_a_skipper():
    line, ops = line_policy("sequential"), everyone_free()
    out = open_dialog(new_dialog(), line, ops, now)
    offered_in_turn = offers(out)
    for skipper in ABV:
        out = skip(out.dialog, skipper, line, ops, now)
        offered_in_turn += offers(out)
    assert offered_in_turn == [("anna",), ("boris",), ("vera",)]
    assert out.effects == (Withdrawn(("vera",), "skipped"), Queued("nobody_available"))
    assert out.dialog.state == QUEUED
    assert out.dialog.excluded == frozenset(ABV)
    assert out.dialog.retry_at == now + RETRY


def test_sequential_skip_wraps_round_past_earlier_skippers():
    d = offered("vera", last_offered="vera", excluded=frozenset({"anna"}))
    out = skip(d, "vera", line_policy("sequential"), everyone_free(), now)
    assert offers(out) == [("boris",)]
    assert out.dialog.last_offered == "boris"


def test_all_mode_skip_withdraws_only_that_operators_offer():
    d = offered(*ABV, deadline=now + timedelta(seconds=20))
    out = skip(d, "boris", line_policy("all"), everyone_free(), now)
    assert out.effects == (Withdrawn(("boris",), "skipped"),)
    assert out.dialog.state == OFFERED
    assert out.dialog.offered_to == ("anna", "vera")
    assert out.dialog.offer_deadline == now + timedelta(seconds=20)
    assert out.dialog.excluded == frozenset({"boris"})


def test_all_mode_dialog_skipped_by_everyone_waits_in_the_queue():
    d = offered("vera", excluded=frozenset({"anna", "boris"}))
    out = skip(d, "vera", line_policy("all"), everyone_free(), now)
    assert out.effects == (Withdrawn(("vera",), "skipped"), Queued("nobody_available"))
    assert out.dialog.state == QUEUED


def test_skip_records_the_reason_given():
    out = skip(offered("anna"), "anna", line_policy("even"), everyone_free(), now, reason="away")
    assert out.effects[0] == Withdrawn(("anna",), "away")


@pytest.mark.parametrize(
    "dialog",
    [
        pytest.param(queued(), id="queued"),
        pytest.param(offered("boris"), id="offered-to-a-colleague"),
        pytest.param(assigned("anna"), id="already-taken"),
        pytest.param(closed(), id="closed"),
    ],
)
def test_skip_of_a_dialog_not_offered_to_the_operator_is_refused(dialog):
    assert_refused(skip(dialog, "anna", line_policy("even"), everyone_free(), now), dialog, "not_offered")


# ---- the take time runs out --------------------------------------------------------------------------


def test_sequential_offer_passes_to_next_operator_after_take_time():
    d = offered("anna", deadline=now, last_offered="anna")
    out = offer_expired(d, now, line_policy("sequential"), everyone_free(), now)
    assert out.effects == (Withdrawn(("anna",), "expired"), Offered(("boris",), now + TAKE_TIME))
    assert out.dialog.offered_to == ("boris",)
    assert out.dialog.offer_deadline == now + TAKE_TIME
    assert out.dialog.excluded == frozenset({"anna"})
    assert out.dialog.last_offered == "boris"


def test_even_offer_passes_to_the_next_fairest_after_take_time():
    ops = team(op("anna", pending=1), op("boris", open=2), op("vera", open=1))
    out = offer_expired(offered("anna", deadline=now), now, line_policy("even"), ops, now)
    assert out.effects == (Withdrawn(("anna",), "expired"), Offered(("vera",), now + TAKE_TIME))


def test_sequential_offer_lapsed_by_everyone_waits_in_the_queue_for_the_retry():
    line, ops = line_policy("sequential"), everyone_free()
    out = open_dialog(new_dialog(), line, ops, now)
    clock = now
    offered_in_turn = offers(out)
    for _ in ABV:
        clock = out.dialog.offer_deadline
        out = offer_expired(out.dialog, clock, line, ops, clock)
        offered_in_turn += offers(out)
    assert offered_in_turn == [("anna",), ("boris",), ("vera",)]
    assert clock == now + 3 * TAKE_TIME
    assert out.effects == (Withdrawn(("vera",), "expired"), Queued("nobody_available"))
    assert out.dialog.state == QUEUED
    assert out.dialog.retry_at == clock + RETRY
    assert out.dialog.queued_since == now


def test_all_mode_offer_lapsed_by_everyone_is_withdrawn_from_all_and_queued():
    out = offer_expired(offered(*ABV, deadline=now), now, line_policy("all"), everyone_free(), now)
    assert out.effects == (Withdrawn(ABV, "expired"), Queued("nobody_available"))
    assert out.dialog.state == QUEUED
    assert out.dialog.retry_at == now + RETRY


@pytest.mark.parametrize(
    ("dialog", "due"),
    [
        pytest.param(offered("anna", deadline=now + TAKE_TIME), now, id="offer-renewed-meanwhile"),
        pytest.param(assigned("anna"), now, id="taken-meanwhile"),
        pytest.param(queued(), now, id="queued-meanwhile"),
        pytest.param(closed(), now, id="closed-meanwhile"),
    ],
)
def test_stale_offer_expiry_changes_nothing(dialog, due):
    assert_no_op(offer_expired(dialog, due, line_policy("sequential"), everyone_free(), now), dialog)


# ---- the periodic queue retry ------------------------------------------------------------------------


def test_queue_retry_starts_a_new_round_that_offers_even_to_those_who_skipped():
    d = queued(retry_at=now, excluded=frozenset(ABV), last_offered="vera")
    out = queue_retry(d, now, line_policy("sequential"), everyone_free(), now)
    assert out.effects == (Offered(("anna",), now + TAKE_TIME),)
    assert out.dialog.state == OFFERED
    assert out.dialog.excluded == frozenset()
    assert out.dialog.retry_at is None


def test_queue_retry_with_nobody_available_reschedules_quietly():
    d = queued(retry_at=now, excluded=frozenset({"anna"}))
    out = queue_retry(d, now, line_policy("even"), nobody_online(), now)
    assert out.effects == ()
    assert out.dialog.state == QUEUED
    assert out.dialog.retry_at == now + RETRY
    assert out.dialog.excluded == frozenset()


@pytest.mark.parametrize(
    ("dialog", "due"),
    [
        pytest.param(queued(retry_at=now + RETRY), now, id="rescheduled-meanwhile"),
        pytest.param(offered("anna", retry_at=None), now, id="offered-meanwhile"),
        pytest.param(assigned("anna"), now, id="taken-meanwhile"),
        pytest.param(closed(), now, id="closed-meanwhile"),
    ],
)
def test_stale_queue_retry_changes_nothing(dialog, due):
    assert_no_op(queue_retry(dialog, due, line_policy("even"), everyone_free(), now), dialog)


def test_failed_routing_attempt_on_a_queued_dialog_keeps_its_retry_time():
    d = queued(retry_at=now + timedelta(seconds=30))
    out = operator_available(d, line_policy("even"), nobody_online(), now)
    assert out.effects == ()
    assert out.dialog.state == QUEUED
    assert out.dialog.retry_at == now + timedelta(seconds=30)


# ---- an operator becomes available -------------------------------------------------------------------


def test_queued_dialog_is_offered_when_an_operator_comes_online():
    ops = team(op("anna", online=False), op("boris"), op("vera", online=False))
    out = operator_available(queued(), line_policy("even"), ops, now)
    assert out.effects == (Offered(("boris",), now + TAKE_TIME),)
    assert out.dialog.state == OFFERED
    assert out.dialog.retry_at is None
    assert out.dialog.queued_since == now - WAITED


def test_queued_dialog_is_offered_when_an_operator_frees_capacity():
    ops = team(op("anna", open=2, max=3), op("boris", open=3, max=3), op("vera", online=False))
    out = operator_available(queued(), line_policy("sequential"), ops, now)
    assert offers(out) == [("anna",)]


def test_all_mode_offer_widens_to_a_newly_online_operator_with_the_same_deadline():
    deadline = now + timedelta(seconds=40)
    d = offered("anna", "boris", deadline=deadline)
    out = operator_available(d, line_policy("all"), everyone_free(), now)
    assert out.effects == (Offered(("vera",), deadline),)
    assert out.dialog.offered_to == ("anna", "boris", "vera")
    assert out.dialog.offer_deadline == deadline


def test_all_mode_widening_passes_over_operators_who_declined():
    d = offered("anna", excluded=frozenset({"boris"}))
    out = operator_available(d, line_policy("all"), everyone_free(), now)
    assert out.effects == (Offered(("vera",), now + TAKE_TIME),)


def test_all_mode_offer_with_nobody_new_stays_as_it_is():
    d = offered("anna", "boris")
    ops = team(op("anna"), op("boris"), op("vera", online=False))
    assert_no_op(operator_available(d, line_policy("all"), ops, now), d)


def test_all_mode_offer_to_the_responsible_is_not_widened_when_a_colleague_comes_online():
    # the responsible goes first: while their take time runs, nobody else is offered the dialog
    line = line_policy("all")
    before = team(op("anna"), op("boris", online=False), op("vera"))
    first = open_dialog(new_dialog(preferred="vera"), line, before, now)
    assert first.dialog.offered_to == ("vera",)
    after = team(op("anna"), op("boris"), op("vera"))  # boris comes online
    out = operator_available(first.dialog, line, after, now + timedelta(seconds=5))
    assert out.effects == ()
    assert out.dialog.offered_to == ("vera",)


@pytest.mark.parametrize("mode", ["even", "sequential"])
def test_offer_in_even_or_sequential_mode_is_not_touched_when_someone_comes_online(mode):
    d = offered("anna")
    assert_no_op(operator_available(d, line_policy(mode), everyone_free(), now), d)


# ---- transfer to a colleague -------------------------------------------------------------------------


def test_transfer_to_a_colleague_assigns_it_and_makes_them_responsible():
    out = transfer_to_operator(assigned("anna"), "anna", "boris", now)
    assert out.error is None
    assert out.dialog.state == ASSIGNED
    assert out.dialog.operator == "boris"
    assert out.dialog.preferred == "boris"
    assert out.effects == (
        Transferred("anna", "anna", "boris", None),
        Assigned("boris", "anna", "transfer"),
        ResponsibleChanged("boris"),
    )


def test_transfer_of_an_offered_dialog_withdraws_the_pending_offers():
    out = transfer_to_operator(offered("anna", "boris"), "admin", "vera", now)
    assert out.effects == (
        Withdrawn(("anna", "boris"), "transferred"),
        Transferred("admin", None, "vera", None),
        Assigned("vera", None, "transfer"),
        ResponsibleChanged("vera"),
    )
    assert out.dialog.offered_to == ()
    assert out.dialog.offer_deadline is None
    assert out.dialog.operator == "vera"


def test_transfer_of_a_queued_dialog_takes_it_out_of_the_queue():
    out = transfer_to_operator(queued(excluded=frozenset({"anna"})), "admin", "boris", now)
    assert out.dialog.state == ASSIGNED
    assert out.dialog.retry_at is None
    assert out.dialog.queued_since is None
    assert out.dialog.excluded == frozenset()


def test_transfer_to_the_operator_who_already_has_it_is_refused():
    d = assigned("anna")
    assert_refused(transfer_to_operator(d, "admin", "anna", now), d, "bad_state")


def test_transfer_of_a_closed_dialog_to_a_colleague_is_refused():
    d = closed()
    assert_refused(transfer_to_operator(d, "anna", "boris", now), d, "bad_state")


# ---- transfer to another line ------------------------------------------------------------------------


SUPPORT_TAKE_TIME = timedelta(minutes=5)
SUPPORT_RETRY = timedelta(minutes=10)


def support(mode: Mode = "sequential", queue: tuple[str, ...] = ("boris", "vera")) -> LinePolicy:
    return line_policy(mode, queue, id="support", take_time=SUPPORT_TAKE_TIME, retry=SUPPORT_RETRY)


def test_transfer_to_another_line_offers_it_by_that_lines_rules():
    out = transfer_to_line(assigned("anna"), "anna", support("sequential"), everyone_free(), now)
    assert out.error is None
    assert out.effects == (
        Transferred("anna", "anna", None, "support"),
        Offered(("boris",), now + SUPPORT_TAKE_TIME),
    )
    assert out.dialog.line_id == "support"
    assert out.dialog.operator is None
    assert out.dialog.state == OFFERED
    assert out.dialog.last_offered == "boris"


def test_transfer_to_an_all_mode_line_offers_it_to_everyone_there():
    out = transfer_to_line(assigned("anna"), "anna", support("all"), everyone_free(), now)
    assert offers(out) == [("boris", "vera")]


def test_transfer_to_line_never_offers_it_straight_back_to_the_transferring_operator():
    ops = team(op("anna", open=0), op("boris", open=2), op("vera", open=1))
    out = transfer_to_line(assigned("anna", preferred="anna"), "anna", support("even", ABV), ops, now)
    assert offers(out) == [("vera",)]
    assert "anna" in out.dialog.excluded


def test_transfer_to_line_with_nobody_available_queues_it_as_transferred():
    out = transfer_to_line(assigned("anna"), "anna", support(), nobody_online(), now)
    assert out.effects == (Transferred("anna", "anna", None, "support"), Queued("transferred"))
    assert out.dialog.state == QUEUED
    assert out.dialog.line_id == "support"
    assert out.dialog.queued_since == now
    assert out.dialog.retry_at == now + SUPPORT_RETRY


def test_transfer_to_line_withdraws_the_offers_on_the_old_line():
    out = transfer_to_line(offered("anna", "boris"), "admin", support(), everyone_free(), now)
    assert out.effects[0] == Withdrawn(("anna", "boris"), "transferred")
    assert out.effects[1] == Transferred("admin", None, None, "support")


def test_whoever_takes_a_dialog_transferred_to_a_line_becomes_the_responsible():
    line = support("sequential")
    moved = transfer_to_line(assigned("anna", preferred="anna"), "anna", line, everyone_free(), now)
    out = take(moved.dialog, "boris", line, team(op("boris", pending=1)), now)
    assert ResponsibleChanged("boris") in out.effects
    assert out.dialog.preferred == "boris"


def test_transfer_to_its_own_line_returns_an_assigned_dialog_to_the_queue_for_someone_else():
    out = transfer_to_line(assigned("anna"), "anna", line_policy("sequential"), everyone_free(), now)
    assert out.error is None
    assert offers(out) == [("boris",)]
    assert out.dialog.operator is None


@pytest.mark.parametrize("dialog", [queued(), offered("anna")], ids=["queued", "offered"])
def test_transfer_to_the_line_it_already_waits_in_is_refused(dialog):
    assert_refused(
        transfer_to_line(dialog, "admin", line_policy(), everyone_free(), now), dialog, "bad_state"
    )


def test_transfer_of_a_closed_dialog_to_a_line_is_refused():
    d = closed()
    assert_refused(transfer_to_line(d, "anna", support(), everyone_free(), now), d, "bad_state")


# ---- close -------------------------------------------------------------------------------------------


def test_closing_an_assigned_dialog():
    out = close(assigned("anna"), "anna", now)
    assert out.error is None
    assert out.effects == (Closed("anna"),)
    assert out.dialog.state == CLOSED
    assert out.dialog.closed_at == now


def test_closing_an_offered_dialog_withdraws_the_offers():
    out = close(offered("anna", "boris"), None, now)
    assert out.effects == (Withdrawn(("anna", "boris"), "closed"), Closed(None))
    assert out.dialog.offered_to == ()
    assert out.dialog.offer_deadline is None


def test_closing_a_queued_dialog_cancels_its_retry():
    out = close(queued(), "admin", now)
    assert out.effects == (Closed("admin"),)
    assert out.dialog.retry_at is None


def test_closing_twice_is_a_no_op_with_no_effects():
    first = close(assigned("anna"), "anna", now)
    second = close(first.dialog, "boris", now + timedelta(minutes=1))
    assert_no_op(second, first.dialog)
    assert second.dialog.closed_at == now


def test_auto_close_never_drops_a_dialog_still_waiting_for_an_operator():
    from datetime import UTC, datetime

    from router.rules.dialog import ASSIGNED, CLOSED, QUEUED, Dialog
    from router.rules.dialogs import auto_close

    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    waiting = Dialog("d1", "support", "l1", "i1", "widget", "support", "v1", QUEUED, now, auto_close_at=now)
    assert auto_close(waiting, now, now).dialog.state == QUEUED
    talking = Dialog(
        "d2",
        "support",
        "l1",
        "i1",
        "widget",
        "support",
        "v2",
        ASSIGNED,
        now,
        operator="anna",
        auto_close_at=now,
    )
    assert auto_close(talking, now, now).dialog.state == CLOSED


def test_an_operator_reopening_a_closed_dialog_gets_it_at_once_and_an_open_one_is_refused() -> None:
    from router.rules.dialog import Reopened
    from router.rules.dialogs import reopen_by

    closed = new_dialog(
        state=CLOSED, operator="boris", closed_at=now - timedelta(days=2), excluded=frozenset({"vera"})
    )
    out = reopen_by(closed, "anna", now)
    assert out.error is None
    d = out.dialog
    assert (d.state, d.operator, d.closed_at, d.offered_to, d.excluded) == (
        ASSIGNED,
        "anna",
        None,
        (),
        frozenset(),
    )
    assert d.preferred == "anna" and d.last_message_at == now
    assert out.effects == (Reopened(), Assigned("anna", None, "reopen"))
    for open_one in (queued(), offered("anna"), new_dialog(state=ASSIGNED, operator="boris")):
        refused = reopen_by(open_one, "anna", now)
        assert refused.error is not None and refused.error[0] == "bad_state"
        assert refused.dialog == open_one and refused.effects == ()


def test_the_operator_invites_guests_who_leave_or_are_taken_out_and_the_dialog_stays_theirs() -> None:
    from router.rules.dialog import Invited, Left
    from router.rules.guests import invite, leave

    mine = new_dialog(state=ASSIGNED, operator="anna")
    out = invite(mine, "anna", "boris", replies=False)
    assert out.error is None and out.effects == (Invited("boris", "anna", False),)
    d = out.dialog
    assert (d.operator, d.invited, d.guests_reply) == ("anna", ("boris",), False)
    assert invite(d, "anna", "boris", replies=False) == Outcome(d)  # again: nothing changes
    allowed = invite(d, "anna", "boris", replies=True)
    assert allowed.dialog.guests_reply is True and allowed.effects == (Invited("boris", "anna", True),)
    both = invite(allowed.dialog, "anna", "vera", replies=True).dialog
    assert both.invited == ("boris", "vera")
    # refused: not the operator (unless an admin), the operator themselves, a dialog nobody has
    assert invite(d, "boris", "vera", replies=False).error[0] == "forbidden"
    assert invite(d, "admin", "vera", replies=False, admin=True).error is None
    assert invite(d, "anna", "anna", replies=False).error[0] == "bad_field"
    assert invite(queued(), "anna", "boris", replies=False).error[0] == "bad_state"

    gone = leave(both, "vera", by="vera")
    assert gone.dialog.invited == ("boris",) and gone.effects == (Left("vera", "vera"),)
    assert gone.dialog.guests_reply is True
    out_by_owner = leave(gone.dialog, "boris", by="anna")
    assert (
        out_by_owner.dialog.invited == () and out_by_owner.dialog.guests_reply is False
    )  # nobody left to answer
    assert leave(both, "boris", by="vera").error[0] == "forbidden"  # one guest does not take out another
    assert leave(d, "vera", by="anna").error[0] == "not_invited"


def test_a_guest_answers_only_an_assigned_dialog_whose_operator_allowed_it() -> None:
    from router.rules.guests import answers_as_guest, guest_answer_refusal

    notes_only = assigned("anna", invited=("boris",))
    allowed = assigned("anna", invited=("boris",), guests_reply=True)
    assert answers_as_guest(notes_only, "boris") and not answers_as_guest(notes_only, "anna")
    assert not answers_as_guest(allowed, "vera")  # not invited: not a guest's answer
    assert guest_answer_refusal(allowed) is None
    assert guest_answer_refusal(notes_only) == (
        "forbidden",
        "answering the customer is not allowed to guests of this dialog",
    )
    # back in the queue after a transfer, the operator's permission no longer stands
    requeued = queued(invited=("boris",), guests_reply=True)
    assert guest_answer_refusal(requeued) is not None and guest_answer_refusal(requeued)[0] == "forbidden"
    assert guest_answer_refusal(closed(invited=("boris",), guests_reply=True)) == (
        "bad_state",
        "the dialog is closed",
    )
