"""Who gets a waiting dialog: `choose_operator` by the line's mode, the operators' presence and capacity.

The rules come from DOMAIN.md ("Open lines"): evenly, strictly in order, or to all at once; only online operators
below their maximum of open dialogs; never back to one who skipped or let the offer lapse in this round; a customer
pinned to a personal manager goes to that manager first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.rules.distribution import (
    Choice,
    Mode,
    OperatorState,
    QueueState,
    choose_operator,
    is_eligible,
    load,
)

now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TAKE_TIME = timedelta(minutes=2)
MODES: tuple[Mode, ...] = ("even", "sequential", "all")


# ---- helpers -----------------------------------------------------------------------------------------


def op(
    login: str,
    *,
    online: bool = True,
    open: int = 0,
    max: int = 3,
    pending: int = 0,
    offered_ago: timedelta | None = None,
) -> OperatorState:
    """One operator; `offered_ago` is how long ago they were last offered a dialog (None: never)."""
    return OperatorState(
        login=login,
        online=online,
        open_dialogs=open,
        max_dialogs=max,
        pending_offers=pending,
        last_offered_at=None if offered_ago is None else now - offered_ago,
    )


def team(*states: OperatorState) -> dict[str, OperatorState]:
    return {s.login: s for s in states}


def line_queue(
    *logins: str,
    excluded: tuple[str, ...] = (),
    last: str | None = None,
    preferred: str | None = None,
    take_time: timedelta = TAKE_TIME,
) -> QueueState:
    return QueueState(
        queue=logins,
        offer_timeout=take_time,
        excluded=frozenset(excluded),
        last_offered=last,
        preferred=preferred,
    )


def chosen(queue: QueueState, operators: Mapping[str, OperatorState], mode: Mode) -> tuple[str, ...] | None:
    choice = choose_operator(queue, operators, mode, now)
    return None if choice is None else choice.operators


ABV = ("anna", "boris", "vera")


# ---- evenly ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operators", "queue", "expected"),
    [
        pytest.param(
            team(op("anna", open=2), op("boris", open=0), op("vera", open=1)),
            line_queue(*ABV),
            "boris",
            id="fewest-open-dialogs-wins",
        ),
        pytest.param(
            team(op("anna", open=0, pending=2), op("boris", open=1), op("vera", open=1, pending=1)),
            line_queue(*ABV),
            "boris",
            id="pending-offers-count-as-load",
        ),
        pytest.param(
            team(
                op("anna", open=0, offered_ago=timedelta(hours=2)),
                op("boris", open=1, offered_ago=timedelta(hours=5)),
                op("vera", open=1),
            ),
            line_queue(*ABV),
            "anna",
            id="load-beats-time-since-last-offer",
        ),
        pytest.param(
            team(
                op("anna", open=1, offered_ago=timedelta(minutes=1)),
                op("boris", open=1, offered_ago=timedelta(minutes=30)),
                op("vera", open=1, offered_ago=timedelta(minutes=5)),
            ),
            line_queue(*ABV),
            "boris",
            id="tie-goes-to-the-one-offered-longest-ago",
        ),
        pytest.param(
            team(
                op("anna", open=1, offered_ago=timedelta(minutes=1)),
                op("boris", open=1, offered_ago=timedelta(hours=8)),
                op("vera", open=1, offered_ago=None),
            ),
            line_queue(*ABV),
            "vera",
            id="tie-never-offered-counts-as-longest-ago",
        ),
        pytest.param(
            team(op("anna", open=1), op("boris", open=1), op("vera", open=1)),
            line_queue("vera", "boris", "anna"),
            "vera",
            id="tie-never-offered-then-queue-order",
        ),
        pytest.param(
            team(
                op("anna", offered_ago=timedelta(minutes=3)),
                op("boris", offered_ago=timedelta(minutes=3)),
                op("vera", offered_ago=timedelta(minutes=3)),
            ),
            line_queue("boris", "vera", "anna"),
            "boris",
            id="tie-offered-at-the-same-time-then-queue-order",
        ),
        pytest.param(
            team(op("anna", open=0, online=False), op("boris", open=2), op("vera", open=3, max=3)),
            line_queue(*ABV),
            "boris",
            id="least-loaded-is-offline-next-fairest-online-below-capacity",
        ),
    ],
)
def test_even_offers_to_the_fairest_operator(operators, queue, expected):
    assert chosen(queue, operators, "even") == (expected,)


def test_even_skips_an_operator_who_already_skipped_this_dialog_even_if_least_loaded():
    operators = team(op("anna", open=0), op("boris", open=2), op("vera", open=1))
    assert chosen(line_queue(*ABV, excluded=("anna",)), operators, "even") == ("vera",)


def test_even_ignores_last_offered_which_only_matters_in_sequential_mode():
    operators = team(op("anna", open=0), op("boris", open=1), op("vera", open=1))
    assert chosen(line_queue(*ABV, last="anna"), operators, "even") == ("anna",)


# ---- strictly in order -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operators", "queue", "expected"),
    [
        pytest.param(
            team(op("anna"), op("boris"), op("vera")),
            line_queue(*ABV),
            "anna",
            id="first-round-starts-at-the-top",
        ),
        pytest.param(
            team(op("anna"), op("boris"), op("vera")),
            line_queue(*ABV, last="anna"),
            "boris",
            id="continues-after-last-offered",
        ),
        pytest.param(
            team(op("anna"), op("boris"), op("vera")),
            line_queue(*ABV, last="vera"),
            "anna",
            id="wraps-round-after-the-last-in-queue",
        ),
        pytest.param(
            team(op("anna", open=3), op("boris", open=2), op("vera", open=0)),
            line_queue(*ABV, last="anna"),
            "boris",
            id="order-not-load-decides",
        ),
        pytest.param(
            team(op("anna"), op("boris", online=False), op("vera")),
            line_queue(*ABV, last="anna"),
            "vera",
            id="skips-offline-operator",
        ),
        pytest.param(
            team(op("anna"), op("boris", open=3, max=3), op("vera")),
            line_queue(*ABV, last="anna"),
            "vera",
            id="skips-operator-at-capacity",
        ),
        pytest.param(
            team(op("anna"), op("boris", open=2, pending=1, max=3), op("vera")),
            line_queue(*ABV, last="anna"),
            "vera",
            id="skips-operator-whose-pending-offers-fill-capacity",
        ),
        pytest.param(
            team(op("anna"), op("boris"), op("vera")),
            line_queue(*ABV, last="anna", excluded=("boris",)),
            "vera",
            id="skips-excluded-operator",
        ),
        pytest.param(
            team(op("anna", online=False), op("boris"), op("vera")),
            line_queue(*ABV, last="vera"),
            "boris",
            id="wraps-round-past-offline-operator",
        ),
        pytest.param(
            team(op("anna"), op("boris", online=False), op("vera")),
            line_queue(*ABV, last="vera", excluded=("anna",)),
            "vera",
            id="wraps-all-the-way-back-to-the-last-offered-when-only-they-remain",
        ),
        pytest.param(
            team(op("anna"), op("boris"), op("vera")),
            line_queue(*ABV, last="gleb"),
            "anna",
            id="last-offered-no-longer-in-queue-starts-at-the-top",
        ),
        pytest.param(
            team(op("boris"), op("vera")),
            line_queue(*ABV, last="vera"),
            "boris",
            id="queue-member-without-operator-state-is-skipped",
        ),
    ],
)
def test_sequential_offers_to_the_next_operator_in_order(operators, queue, expected):
    assert chosen(queue, operators, "sequential") == (expected,)


# ---- to all at once ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operators", "queue", "expected"),
    [
        pytest.param(
            team(op("anna"), op("boris"), op("vera")),
            line_queue(*ABV),
            ("anna", "boris", "vera"),
            id="everyone-eligible-at-once-in-queue-order",
        ),
        pytest.param(
            team(op("anna", online=False), op("boris"), op("vera")),
            line_queue(*ABV),
            ("boris", "vera"),
            id="offline-left-out",
        ),
        pytest.param(
            team(op("anna"), op("boris", open=3, max=3), op("vera")),
            line_queue(*ABV),
            ("anna", "vera"),
            id="open-dialogs-at-capacity-left-out",
        ),
        pytest.param(
            team(op("anna", open=2, pending=5, max=3), op("boris"), op("vera")),
            line_queue(*ABV),
            ("anna", "boris", "vera"),
            id="pending-offers-do-not-count-against-capacity",
        ),
        pytest.param(
            team(op("anna"), op("boris"), op("vera")),
            line_queue(*ABV, excluded=("boris",)),
            ("anna", "vera"),
            id="excluded-left-out",
        ),
        pytest.param(
            team(op("anna"), op("boris"), op("vera")),
            line_queue(*ABV, last="boris"),
            ("anna", "boris", "vera"),
            id="last-offered-does-not-rotate-the-order",
        ),
    ],
)
def test_all_offers_to_every_eligible_operator(operators, queue, expected):
    assert chosen(queue, operators, "all") == expected


# ---- capacity, presence, exclusion in every mode -----------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "anna",
    [
        pytest.param(op("anna", open=3, max=3), id="open-equals-max"),
        pytest.param(op("anna", open=5, max=3), id="open-above-max"),
        pytest.param(op("anna", open=0, max=0), id="max-zero"),
    ],
)
def test_operator_at_max_dialogs_never_gets_a_dialog(mode, anna):
    operators = team(anna, op("boris", open=2, offered_ago=timedelta(seconds=1)))
    assert chosen(line_queue("anna", "boris"), operators, mode) == ("boris",)


@pytest.mark.parametrize("mode", MODES)
def test_operator_one_below_max_dialogs_still_gets_a_dialog(mode):
    operators = team(op("anna", open=2, max=3), op("boris", online=False))
    assert chosen(line_queue("anna", "boris"), operators, mode) == ("anna",)


@pytest.mark.parametrize("mode", MODES)
def test_only_online_operators_get_dialogs(mode):
    operators = team(op("anna", online=False), op("boris", online=False, open=0), op("vera", open=2))
    assert chosen(line_queue(*ABV), operators, mode) == ("vera",)


@pytest.mark.parametrize("mode", MODES)
def test_excluded_operators_are_skipped(mode):
    operators = team(op("anna"), op("boris"), op("vera"))
    assert chosen(line_queue(*ABV, excluded=("anna", "boris")), operators, mode) == ("vera",)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("operators", "queue"),
    [
        pytest.param(team(op("anna")), line_queue(), id="empty-queue"),
        pytest.param(
            team(op("anna", online=False), op("boris", online=False)),
            line_queue("anna", "boris"),
            id="all-away",
        ),
        pytest.param(
            team(op("anna", open=3), op("boris", open=4)), line_queue("anna", "boris"), id="all-full"
        ),
        pytest.param(
            team(op("anna"), op("boris")),
            line_queue("anna", "boris", excluded=("anna", "boris")),
            id="all-excluded",
        ),
        pytest.param(team(), line_queue("anna", "boris"), id="no-operator-states"),
        pytest.param(
            team(op("anna", online=False), op("boris", open=3), op("vera")),
            line_queue(*ABV, excluded=("vera",), preferred="anna"),
            id="preferred-away-others-full-or-excluded",
        ),
    ],
)
def test_nobody_eligible_leaves_the_dialog_in_the_queue(mode, operators, queue):
    assert choose_operator(queue, operators, mode, now) is None


@pytest.mark.parametrize("mode", MODES)
def test_pending_offers_fill_capacity_in_even_and_sequential_but_not_in_all(mode):
    operators = team(op("anna", open=1, pending=2, max=3))
    expected = ("anna",) if mode == "all" else None
    assert chosen(line_queue("anna"), operators, mode) == expected


# ---- the lead's responsible (sticky) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "queue"),
    [
        pytest.param("even", line_queue(*ABV, preferred="vera"), id="even-despite-higher-load"),
        pytest.param(
            "sequential", line_queue(*ABV, preferred="vera", last="anna"), id="sequential-out-of-turn"
        ),
        pytest.param("all", line_queue(*ABV, preferred="vera"), id="all-only-the-responsible"),
    ],
)
def test_customer_with_a_responsible_goes_to_that_manager_first(mode, queue):
    operators = team(op("anna", open=0), op("boris", open=0), op("vera", open=2))
    assert chosen(queue, operators, mode) == ("vera",)


@pytest.mark.parametrize("mode", MODES)
def test_responsible_outside_the_line_queue_still_goes_first(mode):
    operators = team(op("anna"), op("boris"), op("gleb"))
    assert chosen(line_queue("anna", "boris", preferred="gleb"), operators, mode) == ("gleb",)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("vera", "excluded"),
    [
        pytest.param(op("vera", online=False), (), id="responsible-offline"),
        pytest.param(op("vera", open=3, max=3), (), id="responsible-full"),
        pytest.param(op("vera"), ("vera",), id="responsible-skipped-this-round"),
        pytest.param(None, (), id="responsible-unknown"),
    ],
)
def test_responsible_is_ignored_when_unable_to_take(mode, vera, excluded):
    operators = team(op("anna", open=1), op("boris", open=0))
    if vera is not None:
        operators["vera"] = vera
    result = chosen(line_queue(*ABV, excluded=excluded, preferred="vera"), operators, mode)
    expected = {"even": ("boris",), "sequential": ("anna",), "all": ("anna", "boris")}[mode]
    assert result == expected


def test_responsible_whose_pending_offers_fill_capacity_is_passed_over_in_even_mode():
    operators = team(op("anna"), op("vera", open=1, pending=2, max=3))
    assert chosen(line_queue("anna", "vera", preferred="vera"), operators, "even") == ("anna",)


# ---- the take time -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "take_time",
    [timedelta(minutes=1), timedelta(seconds=30), timedelta(hours=3)],
    ids=["one-minute", "thirty-seconds", "three-hours"],
)
def test_offer_deadline_is_now_plus_the_line_take_time(mode, take_time):
    operators = team(op("anna"), op("boris"))
    choice = choose_operator(line_queue("anna", "boris", take_time=take_time), operators, mode, now)
    assert choice is not None
    assert choice.deadline == now + take_time


def test_preferred_offer_has_the_same_deadline():
    choice = choose_operator(line_queue("anna", preferred="anna"), team(op("anna")), "even", now)
    assert choice == Choice(("anna",), now + TAKE_TIME)


# ---- properties --------------------------------------------------------------------------------------

POOL = ("anna", "boris", "vera", "gleb", "dina")


@st.composite
def situations(draw, offered_at=None):
    """A random line, team and mode; `offered_at` draws each operator's `last_offered_at`."""
    if offered_at is None:
        offered_at = st.none() | st.integers(0, 24 * 60).map(lambda m: now - timedelta(minutes=m))
    # most logins have a state (a few are unknown to routing); loads are small so that ties are common
    known = [login for login in POOL if draw(st.integers(0, 9)) > 0]
    operators = {
        login: OperatorState(
            login=login,
            online=draw(st.integers(0, 3)) > 0,
            open_dialogs=draw(st.integers(0, 3)),
            max_dialogs=draw(st.integers(0, 6)),
            pending_offers=draw(st.integers(0, 1)),
            last_offered_at=draw(offered_at),
        )
        for login in known
    }
    queue = QueueState(
        queue=tuple(login for login in draw(st.permutations(POOL)) if draw(st.integers(0, 4)) > 0),
        offer_timeout=timedelta(seconds=draw(st.integers(1, 3600))),
        excluded=frozenset(draw(st.lists(st.sampled_from(POOL), unique=True, max_size=2))),
        last_offered=draw(st.none() | st.sampled_from(POOL)),
        preferred=draw(st.none() | st.sampled_from(POOL)),
    )
    mode = draw(st.sampled_from(MODES))
    return queue, operators, mode


def check_choice_obeys_the_rules(
    queue: QueueState, operators: Mapping[str, OperatorState], mode: Mode
) -> None:
    choice = choose_operator(queue, operators, mode, now)
    eligible = [
        login
        for login in queue.queue
        if login not in queue.excluded and login in operators and is_eligible(operators[login], mode)
    ]
    pref = queue.preferred
    preferred_can_take = (
        pref is not None and pref not in queue.excluded and is_eligible(operators.get(pref), mode)
    )
    if choice is None:
        assert not eligible and not preferred_can_take
        return
    assert choice.deadline == now + queue.offer_timeout
    assert choice.operators, "a choice names at least one operator"
    assert len(set(choice.operators)) == len(choice.operators)
    for login in choice.operators:
        state = operators[login]
        assert state.online
        assert load(state, mode) < state.max_dialogs
        assert login not in queue.excluded
        assert login in queue.queue or login == pref
    if preferred_can_take:
        assert choice.operators == (pref,)
        return
    if mode == "all":
        assert choice.operators == tuple(eligible)
    elif mode == "even":
        (login,) = choice.operators
        assert load(operators[login], mode) == min(load(operators[o], mode) for o in eligible)
    else:
        (login,) = choice.operators
        start = queue.queue.index(queue.last_offered) + 1 if queue.last_offered in queue.queue else 0
        rotated = queue.queue[start:] + queue.queue[:start]
        assert login == next(o for o in rotated if o in eligible)


@settings(max_examples=400, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations())
def test_chosen_operators_are_online_in_queue_not_excluded_below_capacity_and_fairest(situation):
    """Timestamps as production has them: aware UTC, or None for an operator never offered anything."""
    check_choice_obeys_the_rules(*situation)


@settings(max_examples=400, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations(offered_at=st.integers(0, 24 * 60).map(lambda m: now - timedelta(minutes=m))))
def test_chosen_operators_obey_the_rules_when_everyone_was_offered_before(situation):
    """The same rules with every operator offered at least once, so the never-offered tie-break is not involved."""
    check_choice_obeys_the_rules(*situation)
