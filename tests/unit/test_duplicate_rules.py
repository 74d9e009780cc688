"""Duplicate control's pure rules (router/rules/duplicates.py) and the full-name key (crm_core/recognition.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_core.recognition import name_key
from router.rules.duplicates import Member, arrange, matches, merge_warnings, merged_fields

T1 = datetime(2026, 12, 1, tzinfo=UTC)
T2 = datetime(2026, 12, 5, tzinfo=UTC)


def lead(i: str, **kw):  # type: ignore[no-untyped-def]
    base = {"id": i, "name": "", "responsible": None, "source": None, "status": "new", "updated_at": T1}
    return {**base, "phones": [], "emails": [], **kw}


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Иван Петров", "иван петров"),
        ("Петров  Иван", "иван петров"),
        ("ПЕТРОВ Иван", "иван петров"),
        ("Пётр Ёлкин", "елкин петр"),
        ("Иван", None),  # one word matches too many people
        ("Visitor AB12", None),  # made up by the widget
        ("user123 Petrov", None),  # an account name
        ("Anna-Maria O'Neil", "anna maria neil o"),
        ("", None),
    ],
)
def test_the_full_name_key(name: str, key: str | None) -> None:
    assert name_key(name) == key


def test_the_main_record_is_mergeable_then_most_linked_then_newest_then_most_complete() -> None:
    a = Member(lead("a"), dialogs=1, messages=9)
    b = Member(lead("b"), dialogs=3, messages=1)
    c = Member(lead("c", updated_at=T2), dialogs=3, messages=1)
    d = Member(lead("d", phones=[{"value": "+1"}], updated_at=T2), dialogs=3, messages=1)
    locked = Member(lead("z"), dialogs=50, messages=500, editable=False)
    [group] = arrange("phone", "+1", [a, b, c, locked, d], set())
    assert group.main is d and [o.id for o, _ in group.others] == ["c", "b", "a", "z"]


def test_pairs_marked_not_duplicates_may_still_pair_with_others() -> None:
    a, b, c = (Member(lead(i), dialogs=n) for i, n in (("a", 3), ("b", 2), ("c", 1)))
    groups = arrange("name", "k", [a, b, c], {frozenset(("a", "b")), frozenset(("a", "c"))})
    assert [(g.main.id, [o.id for o, _ in g.others]) for g in groups] == [("b", ["c"])]
    assert arrange("name", "k", [a, b], {frozenset(("a", "b"))}) == []


def test_what_matched() -> None:
    x = lead(
        "x", name_key="иван петров", phones=[{"value": "+1"}, {"value": "+2"}], emails=[{"value": "a@b.c"}]
    )
    y = lead("y", name_key="иван петров", phones=[{"value": "+2"}, {"value": "+1"}])
    assert matches(x, y) == {"name": 1, "phone": 2, "email": 0}


def test_a_merge_keeps_the_main_records_values_fills_its_empty_ones_and_takes_what_is_chosen() -> None:
    main = lead("m", name="Иван Петров", responsible=None, source="widget")
    dup1 = lead("d1", name="Петров И.", responsible="anna", source="telegram", status="won")
    dup2 = lead("d2", name="", responsible="boris")
    assert merged_fields(main, [dup1, dup2], {}) == {"responsible": "anna"}
    assert merged_fields(main, [dup1, dup2], {"name": "d1", "status": "d1"}) == {
        "name": "Петров И.",
        "status": "won",
        "responsible": "anna",
    }
    with pytest.raises(ValueError, match="not a field"):
        merged_fields(main, [dup1], {"phone": "d1"})
    with pytest.raises(ValueError, match="not one of the records"):
        merged_fields(main, [dup1], {"name": "x"})
    fields = merged_fields(main, [dup1, dup2], {})
    assert merge_warnings(main, [dup1, dup2], fields) == [
        {"code": "takes_from_operator", "lead_id": "d2", "operator": "boris"}
    ]
