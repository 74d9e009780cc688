"""What an import decides for each row (crm_core/lead_import_plan.py), the rows of a lead's history
(crm_core/lead_history.py) and whose consoles show a lead (router/rules/access.py `lead_audience`): pure, from
tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_core.csv_leads import LeadRow
from crm_core.lead_history import history_of
from crm_core.lead_import_plan import ImportState, fill_lead, keys_of, plan_chunk
from router.rules.access import lead_audience

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
IVAN = LeadRow(2, "Иван Петров", ("+79160000001",), ("ivan@example.com",))
IVAN_AGAIN = LeadRow(3, "Петров Иван", ("+79160000001", "+74950000002"))
NAMED = LeadRow(4, "Анна Смирнова")
LONE = LeadRow(5, "Анна")


def test_a_row_is_matched_by_its_emails_and_phones_else_its_full_name() -> None:
    assert keys_of(IVAN) == ["email ivan@example.com", "phone +79160000001"]
    assert keys_of(NAMED) == ["name анна смирнова"]
    assert keys_of(LONE) == []  # one word: nobody's duplicate, always a new lead


@pytest.mark.parametrize(
    ("mode", "found", "outcomes", "fills"),
    [
        # nothing stored: the first Ivan is made, the second is his repeat in the file, left out in every mode but create
        ("skip", {}, [("created", 2), ("duplicates", 3), ("created", 4), ("created", 5)], {}),
        ("update", {}, [("created", 2), ("duplicates", 3), ("created", 4), ("created", 5)], {}),
        ("create", {}, [("created", 2), ("created", 3), ("created", 4), ("created", 5)], {}),
        # Ivan's phone and Anna's name stored: skip leaves them out, update fills the stored leads
        (
            "skip",
            {"phone +79160000001": "L1", "name анна смирнова": "L2"},
            [("duplicates", 2), ("duplicates", 3), ("duplicates", 4), ("created", 5)],
            {},
        ),
        (
            "update",
            {"phone +79160000001": "L1", "name анна смирнова": "L2"},
            [("created", 5)],
            {"L1": [2, 3], "L2": [4]},
        ),
    ],
)
def test_each_row_is_made_left_out_or_fills_a_stored_lead(mode, found, outcomes, fills) -> None:  # type: ignore[no-untyped-def]
    state = ImportState()
    plan = plan_chunk([IVAN, IVAN_AGAIN, NAMED, LONE], found, state, on_duplicate=mode, status="new", now=NOW)
    assert plan.outcomes == outcomes
    assert {k: [r.line for r in v] for k, v in plan.fills.items()} == fills
    made = [r for r in plan.new_leads]
    assert len(made) == sum(1 for o, _ in outcomes if o == "created") and state.made == {
        r["id"] for r in made
    }
    # every contact of a made lead, its own phone and e-mail first
    for lead in made:
        mine = [c for c in plan.new_contacts if c["lead_id"] == lead["id"]]
        assert [c["value"] for c in mine if c["position"] == 0] == [
            v for v in (lead["phone"], lead["email"]) if v
        ]
    # the next chunk knows the keys met here
    assert state.seen["phone +79160000001"] in {*state.made, "L1"}


def test_a_fill_adds_what_the_lead_lacks_in_the_rows_order() -> None:
    lead = {
        "id": "L1",
        "name": "",
        "phone": "+79160000001",
        "email": None,
        "responsible": None,
        "source": "widget",
    }
    rows = [
        IVAN,
        IVAN_AGAIN,
        LeadRow(6, "Иван", ("+79160000001",), (), {"responsible": "anna", "source": "fair"}),
        LeadRow(7, "Иван", ("+79160000001",), (), {"responsible": "boris"}),
    ]
    fill = fill_lead(lead, {"phones": ["+79160000001"], "emails": []}, rows)
    assert [(a["kind"], a["value"], a["position"]) for a in fill.adds] == [
        ("email", "ivan@example.com", 0),
        ("phone", "+74950000002", 1),
    ]
    assert fill.values["email"] == "ivan@example.com" and fill.values["responsible"] == "anna"
    assert fill.values["name"] == "Иван Петров" and "source" not in fill.values  # a filled field is kept
    assert fill.outcomes == [("updated", 2), ("updated", 3), ("updated", 6), ("unchanged", 7)]


def test_history_rows_are_the_changes_only_with_the_words_where_they_belong() -> None:
    before = {"status": "new", "responsible": "anna"}
    rows = history_of(
        "L1", before, {"status": "lost", "responsible": "anna"}, by="boris", at=NOW, reason="spam"
    )
    assert [(r["kind"], r["from_value"], r["to_value"], r["by"], r["reason"]) for r in rows] == [
        ("status", "new", "lost", "boris", "spam")
    ]
    both = history_of(
        "L1",
        before,
        {"status": "won", "responsible": None},
        by="admin",
        at=NOW,
        reason="merge",
        reason_on=("status", "responsible"),
    )
    assert [(r["kind"], r["reason"]) for r in both] == [("status", "merge"), ("responsible", "merge")]
    assert history_of("L1", before, {"name": "x"}, by=None, at=NOW) == []


def test_whose_consoles_show_a_lead() -> None:
    lead = {
        "responsible": "anna",
        "dialogs": [
            {"state": "assigned", "operator": "boris", "offered_to": []},
            {"state": "offered", "operator": None, "offered_to": ["vera"]},
            {"state": "closed", "operator": "gleb", "offered_to": []},
        ],
    }
    merged = {
        "responsible": None,
        "open_dialogs": [{"state": "queued", "operator": None, "offered_to": ["dina"]}],
    }
    assert lead_audience(["admin"], [lead, merged]) == {"admin", "anna", "boris", "vera", "dina"}
