"""The search query's words, the FTS5 expression made of them and the page cursor (crm_core/search.py): user input
is always quoted text, never FTS syntax."""

from __future__ import annotations

import pytest

from crm_core.search import (
    BadSearch,
    decode_cursor,
    encode_cursor,
    fts5_query,
    search_words,
)
from crm_core.search_pg import PgStats


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("где  мой\tЗАКАЗ", ["где", "мой", "ЗАКАЗ"]),
        ('"quoted" * NEAR(a b)', ['"quoted"', "NEAR(a", "b)"]),
        ("*** -- ;", []),
        ("a\x00b", ["ab"]),
        ("x " * 40, ["x"] * 16),
    ],
)
def test_the_words_of_a_query_are_its_pieces_with_a_letter_or_digit(query: str, words: list[str]) -> None:
    assert search_words(query) == words


@pytest.mark.parametrize(
    ("words", "expression"),
    [
        (["заказ"], '"заказ"'),
        (["где", "заказ"], '"где" "заказ"'),
        (['say"hi'], '"say""hi"'),  # a quote inside is doubled
        (["NEAR(a"], '"NEAR(a"'),
        (["a*"], '"a*"'),  # a star is text, never a prefix query
        (search_words("cafe\u0301"), '"caf\u00e9"'),  # composed: the accent is no letter of its own
    ],
)
def test_every_word_is_a_quoted_string_matched_whole(words: list[str], expression: str) -> None:
    assert fts5_query(words) == expression


def test_a_cursor_comes_back_only_to_the_store_kind_that_made_it() -> None:
    assert decode_cursor("sqlite", encode_cursor("sqlite", 12345)) == "12345"
    assert decode_cursor("postgresql", encode_cursor("postgresql", "01JX")) == "01JX"
    for bad in (encode_cursor("postgresql", "01JX"), "!!", "bm9uZQ", encode_cursor("sqlite", "")):
        with pytest.raises(BadSearch):
            decode_cursor("sqlite", bad)


def test_postgresql_windows_only_words_its_statistics_know_as_common() -> None:
    """A query with a word rarer than the statistics' common lexemes is one query (the GIN's few matches); the
    words are compared as PostgreSQL's `simple` parser splits and lower-cases them."""
    stats = PgStats(("A", "M"), tuple(sorted(["заказ", "order", "mail", "e", "delivery"])))
    assert stats.has_common(["Заказ"])
    assert stats.has_common(["order", "DELIVERY"])
    assert stats.has_common(["e-mail"])
    assert not stats.has_common(["order", "стащежуфи"])
    assert not stats.has_common(["5012340"])
    assert not stats.has_common(["deli"])  # a word matches whole, never as the beginning of one
    assert not PgStats(("A",), ()).has_common(["order"])  # no statistics yet
