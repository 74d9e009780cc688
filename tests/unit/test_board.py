"""The supervisor's board, decided from data: waits, loads against capacity, presence, dialogs by line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from router.rules.board import Recent, Seat, board, waiting_seconds

now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def dialog(id_: str, state: str, line: str = "support", **more):
    return {"id": id_, "state": state, "line_id": line, "created_at": now - timedelta(minutes=30), **more}


def test_waits_count_while_nobody_answers_the_customer() -> None:
    assert waiting_seconds(dialog("q", "queued", queued_since=now - timedelta(seconds=90)), now) == 90
    assert waiting_seconds(dialog("o", "offered"), now) == 1800  # never queued: since it opened
    unanswered = dialog(
        "a", "assigned", last_message_author="customer", last_message_at=now - timedelta(seconds=20)
    )
    assert waiting_seconds(unanswered, now) == 20
    answered = dialog(
        "b", "assigned", last_message_author="operator", last_message_at=now - timedelta(seconds=5)
    )
    assert waiting_seconds(answered, now) is None


def test_the_board_has_every_operator_line_and_open_dialog_longest_wait_first() -> None:
    seats = [
        Seat("anna", "Anna", "operator", ("support",), {"support": 3}),
        Seat("boris", "Boris", "operator", ("support", "sales"), {"support": 5, "sales": 2}),
        Seat("admin", "Alice", "admin", (), {}),
    ]
    rows = [
        dialog(
            "a1",
            "assigned",
            operator="anna",
            last_message_author="customer",
            last_message_at=now - timedelta(seconds=40),
        ),
        dialog("a2", "assigned", operator="anna", last_message_author="operator", last_message_at=now),
        dialog("o1", "offered", offered_to=("boris",), queued_since=now - timedelta(seconds=10)),
        dialog("q1", "queued", line="sales", queued_since=now - timedelta(minutes=3), lead_name="Иван"),
        dialog("c1", "closed", operator="anna"),
    ]
    out = board(
        rows, seats, {"anna": "online", "boris": "away"}, {"support": "Support", "sales": "Sales"}, now
    )
    ops = {o["login"]: o for o in out["operators"]}
    assert (ops["anna"]["open_dialogs"], ops["anna"]["capacity"], ops["anna"]["presence"]) == (2, 3, "online")
    assert ops["anna"]["longest_wait_seconds"] == 40 and ops["anna"]["dialogs"] == ["a1", "a2"]
    assert (ops["boris"]["open_dialogs"], ops["boris"]["offers"], ops["boris"]["capacity"]) == (0, 1, 5)
    assert ops["boris"]["presence"] == "away" and ops["admin"]["presence"] == "offline"
    lines = {ln["id"]: ln for ln in out["lines"]}
    assert (lines["support"]["queued"], lines["support"]["offered"], lines["support"]["assigned"]) == (
        0,
        1,
        2,
    )
    assert lines["sales"]["queued"] == 1 and lines["sales"]["longest_wait_seconds"] == 180
    assert [d["id"] for d in out["dialogs"]] == ["q1", "a1", "o1", "a2"]  # the closed one is not on the board
    assert out["dialogs"][0]["customer_name"] == "Иван" and out["dialogs"][-1]["waiting_seconds"] is None


def test_an_operator_in_no_queue_has_no_capacity() -> None:
    out = board([], [Seat("admin", "Alice", "admin", (), {})], {}, {}, now)
    assert out["operators"][0]["capacity"] is None and out["operators"][0]["open_dialogs"] == 0


def test_the_last_days_closed_dialogs_and_ratings_per_operator_and_line() -> None:
    seats = [
        Seat("anna", "Anna", "operator", ("support", "sales"), {"support": 3, "sales": 3}),
        Seat("boris", "Boris", "operator", ("support",), {"support": 3}),
    ]
    rows = (
        {"line_id": "support", "operator": "anna", "rating": 5, "dialogs": 2},
        {"line_id": "support", "operator": "anna", "rating": 3, "dialogs": 1},
        {"line_id": "support", "operator": "anna", "rating": None, "dialogs": 4},
        {"line_id": "support", "operator": "boris", "rating": 4, "dialogs": 1},
        {"line_id": "sales", "operator": "anna", "rating": 0, "dialogs": 1},  # a dislike
        {"line_id": "sales", "operator": "anna", "rating": 1, "dialogs": 3},  # likes
        {"line_id": "sales", "operator": None, "rating": None, "dialogs": 2},  # closed while waiting
    )
    recent = Recent(rows, {"support": "five", "sales": "like", "vip": None})
    lines = {"support": "Support", "sales": "Sales", "vip": "VIP"}
    out = board([dialog("g", "assigned", operator="anna", invited=["boris"])], seats, {}, lines, now, recent)
    ops = {o["login"]: o for o in out["operators"]}
    # anna: 7 closed in support, 4 in sales; 3 + 4 rated; positive: two 5s (a 3 is not) and three likes
    assert ops["anna"]["recent"] == {"closed": 11, "rated": 7, "positive": 5}
    assert ops["boris"]["recent"] == {"closed": 1, "rated": 1, "positive": 1}
    by_line = {ln["id"]: ln for ln in out["lines"]}
    assert by_line["support"]["recent"] == {"closed": 8, "rated": 4, "positive": 3}
    assert (by_line["support"]["rating_scale"], by_line["support"]["rating_average"]) == ("five", 4.25)
    assert by_line["sales"]["recent"] == {"closed": 6, "rated": 4, "positive": 3}
    assert by_line["sales"]["rating_average"] == 0.75  # the share of likes
    assert (by_line["vip"]["rating_scale"], by_line["vip"]["rating_average"]) == (None, None)
    assert by_line["vip"]["recent"] == {"closed": 0, "rated": 0, "positive": 0}
    assert out["dialogs"][0]["invited"] == ["boris"]


def test_a_queue_longer_than_the_list_is_counted_whole_and_its_first_wait_counts() -> None:
    seats = [Seat("anna", "Anna", "operator", ("support",), {"support": 4})]
    listed = [dialog("q1", "queued", queued_since=now - timedelta(minutes=50))]  # the longest-waiting one
    queue = {"support": (1200, now - timedelta(hours=2))}  # the store's count, and the first still in it
    got = board(listed, seats, {}, {"support": "Support", "sales": "Sales"}, now, queue=queue)
    by_line = {ln["id"]: ln for ln in got["lines"]}
    assert by_line["support"]["queued"] == 1200 and by_line["support"]["longest_wait_seconds"] == 7200
    assert by_line["sales"]["queued"] == 0 and by_line["sales"]["longest_wait_seconds"] is None
    assert got["queued_not_listed"] == 1199 and [d["id"] for d in got["dialogs"]] == ["q1"]
    # without the figures the board counts what it lists
    assert board(listed, seats, {}, {"support": "Support"}, now)["queued_not_listed"] == 0
