"""The pure rules of quick answers: which ones an operator may use, how a search matches, placeholders filled."""

from __future__ import annotations

from crm_core.recognition import fold
from router.rules.quick_answers import QuickAnswer, fill, matches, shared_id, usable


def qa(
    title: str, text: str = "", shortcut: str | None = None, scope: str = "line", line: str = "support"
) -> QuickAnswer:
    return QuickAnswer(f"{scope}:{title}", scope, title, text, shortcut, line if scope == "line" else None)


def test_a_search_matches_every_word_in_the_title_the_shortcut_or_the_text_in_any_script_and_case() -> None:
    greeting = qa("Приветствие", "Здравствуйте! Чем могу помочь?", "privet")
    assert matches(greeting, "ПРИВЕТ", fold)
    assert matches(greeting, "здравствуйте помочь", fold)  # every word, anywhere
    assert matches(greeting, "PRIV", fold)  # the shortcut
    assert not matches(greeting, "здравствуйте доставка", fold)
    assert matches(qa("Ёлка", "Новогодняя ёлка"), "елка", fold)  # ё folds to е, as people type it
    assert matches(qa("Café hours"), "cafe", fold)
    assert matches(greeting, "   ", fold)  # an empty search matches everything


def test_usable_answers_are_the_operators_own_first_then_their_lines_each_by_title() -> None:
    shared = {
        "support": [qa("Доставка"), qa("Greeting")],
        "sales": [qa("Discount", line="sales")],
    }
    personal = [qa("Thanks", scope="personal"), qa("Bye", scope="personal")]
    got = usable(shared, personal, ["support"])
    assert [(a.scope, a.title) for a in got] == [
        ("personal", "Bye"),
        ("personal", "Thanks"),
        ("line", "Greeting"),
        ("line", "Доставка"),
    ]
    assert [a.title for a in usable(shared, personal, ["sales"], "disc", fold)] == ["Discount"]
    assert usable(shared, [], ["nowhere"]) == []
    assert shared_id("support", 2) == "line:support:2"


def test_placeholders_are_filled_and_a_missing_name_leaves_no_gap_before_punctuation() -> None:
    values = {"customer.name": "Иван", "operator.name": "Anna", "line.name": "Support"}
    assert fill("Hello {customer.name}, this is {operator.name} of {line.name}.", values) == (
        "Hello Иван, this is Anna of Support."
    )
    unknown = {**values, "customer.name": None}
    assert fill("Hello {customer.name}! I am {operator.name}.", unknown) == "Hello! I am Anna."
    assert fill("{customer.name} hi", unknown) == " hi"
    # not a placeholder, or a typo of one: left as typed, and spacing the author chose is kept
    assert (
        fill("Delivery takes {days} days : {customer.Name}", values)
        == "Delivery takes {days} days : {customer.Name}"
    )
    assert fill("Price : 5, {line.name}", values) == "Price : 5, Support"
