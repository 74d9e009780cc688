"""router/rules/access.py from tables: who may see a dialog and send which command."""

from __future__ import annotations

import pytest

from router.rules.access import Viewer, can_edit_lead, can_view_dialog, can_view_lead, command_refusal

ANNA = Viewer("anna", admin=False, lines=frozenset({"support"}))
ADMIN = Viewer("root", admin=True, lines=frozenset())


def dialog(state: str, operator: str | None = None, offered: tuple[str, ...] = ()) -> dict[str, object]:
    return {"state": state, "operator": operator, "offered_to": offered, "line_id": "support"}


@pytest.mark.parametrize(
    ("d", "visible"),
    [
        (dialog("queued"), True),  # the queue of her line
        (dialog("offered", offered=("anna",)), True),
        (dialog("offered", offered=("boris",)), False),
        (dialog("assigned", "anna"), True),
        (dialog("assigned", "boris"), False),  # a colleague's dialog
        ({**dialog("queued"), "line_id": "sales"}, False),
    ],
)
def test_who_sees_a_dialog(d: dict[str, object], visible: bool) -> None:
    assert can_view_dialog(ANNA, d) is visible
    assert can_view_dialog(ADMIN, d) is True


@pytest.mark.parametrize(
    ("command", "d", "refusal"),
    [
        ("take", dialog("queued"), None),
        (
            "take",
            dialog("assigned", "boris"),
            None,
        ),  # allowed to try: the state machine refuses it (bad_state)
        (
            "reply",
            dialog("offered", offered=("boris",)),
            None,
        ),  # answering a free dialog of her line takes it
        ("note", dialog("assigned", "anna"), None),
        ("note", dialog("queued"), None),
        # regression: a note into a colleague's dialog she cannot read was accepted
        ("note", dialog("assigned", "boris"), "forbidden"),
        ("note", dialog("offered", offered=("boris",)), "forbidden"),
        ("skip", dialog("offered", offered=("boris",)), "not_offered"),
        ("transfer", dialog("assigned", "boris"), "forbidden"),
        ("close", dialog("assigned", "anna"), None),
    ],
)
def test_which_commands_an_operator_may_send(command: str, d: dict[str, object], refusal: str | None) -> None:
    got = command_refusal(ANNA, command, d)
    assert (got[0] if got else None) == refusal
    assert command_refusal(ADMIN, command, d) is None


def test_a_guest_sees_the_dialog_writes_notes_and_answers_only_when_allowed() -> None:
    vera = Viewer("vera", False, frozenset({"sales"}))
    d: dict[str, object] = {
        "operator": "anna",
        "state": "assigned",
        "line_id": "support",
        "invited": ("vera",),
    }
    assert can_view_dialog(vera, d)
    assert command_refusal(vera, "note", d) is None
    assert command_refusal(vera, "leave", d) is None
    assert command_refusal(vera, "reply", d) == ("forbidden", "this dialog is not yours to act on")
    assert command_refusal(vera, "reply", {**d, "guests_reply": True}) is None
    for not_theirs in ("close", "transfer", "invite", "skip"):
        assert command_refusal(vera, not_theirs, {**d, "guests_reply": True}) is not None
    gone = {**d, "invited": ()}
    assert not can_view_dialog(vera, gone) and command_refusal(vera, "note", gone) is not None


def test_a_guest_reads_the_lead_card_and_its_operator_edits_it() -> None:
    vera = Viewer("vera", False, frozenset({"sales"}))
    lead: dict[str, object] = {"responsible": None}
    open_dialog: dict[str, object] = {
        "operator": "anna",
        "state": "assigned",
        "line_id": "support",
        "invited": ("vera",),
    }
    assert can_view_lead(vera, lead, [open_dialog])
    assert not can_edit_lead(vera, lead, [open_dialog])
    assert can_edit_lead(ANNA, lead, [open_dialog])
    assert can_edit_lead(ADMIN, lead, [])
    assert can_edit_lead(
        vera, {"responsible": "vera"}, []
    )  # her own lead, whoever's dialog she is a guest in
    # the queue of her line: whoever may take the dialog fills the card in
    assert can_edit_lead(ANNA, lead, [{**open_dialog, "state": "queued", "operator": None}])
    assert not can_edit_lead(ANNA, lead, [{**open_dialog, "state": "closed"}])
