"""Quick answers (canned responses): which ones an operator may use in a dialog, how a search matches them, and
their placeholders filled in for a dialog. Pure: the web side loads the personal ones and the dialog."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

PLACEHOLDERS = ("customer.name", "operator.name", "line.name")
_PLACEHOLDER = re.compile(r"\{(customer\.name|operator\.name|line\.name)\}")
SHORTCUT = re.compile(r"^[\w-]{1,30}$")
TITLE_MAX = 100


@dataclass(frozen=True, slots=True)
class QuickAnswer:
    """One quick answer: shared by a line's operators (from the YAML) or an operator's own (from the store)."""

    id: str
    scope: str  # "line" | "personal"
    title: str
    text: str
    shortcut: str | None = None
    line_id: str | None = None
    owner: str | None = None  # the operator of a personal one


def shared_id(line_id: str, index: int) -> str:
    """The stable id of a line's shared answer: its line and its place in the YAML list."""
    return f"line:{line_id}:{index}"


Fold = Callable[[str], str]


def matches(qa: QuickAnswer, query: str, fold: Fold = str.casefold) -> bool:
    """Whether every word of the query is in the title, the shortcut or the text, as `fold` compares text (the
    web side passes the store's own, crm_core.recognition.fold, so every search folds alike)."""
    haystack = fold(f"{qa.title}\n{qa.shortcut or ''}\n{qa.text}")
    return all(word in haystack for word in fold(query).split())


def usable(
    shared: Mapping[str, Iterable[QuickAnswer]],
    personal: Iterable[QuickAnswer],
    lines: Iterable[str],
    query: str = "",
    fold: Fold = str.casefold,
) -> list[QuickAnswer]:
    """The answers an operator may use on `lines` (shared ones of those lines, and their own), matching the
    query: personal ones first, then shared; each group by title."""
    chosen = [qa for line in lines for qa in shared.get(line, ())]
    own = sorted(personal, key=lambda qa: (fold(qa.title), qa.id))
    chosen.sort(key=lambda qa: (fold(qa.title), qa.id))
    return [qa for qa in own + chosen if not query.strip() or matches(qa, query, fold)]


def fill(text: str, values: Mapping[str, str | None]) -> str:
    """The text with `{customer.name}`, `{operator.name}` and `{line.name}` replaced by `values`. An unknown
    value becomes empty and takes the blank before it when punctuation follows ("Hello {customer.name}!" →
    "Hello!"); other braces stay as typed."""
    marked = _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or _EMPTY, text)
    if _EMPTY not in marked:
        return marked
    return re.sub(rf"[ \t]*{_EMPTY}(?=[,.!?;:])", "", marked).replace(_EMPTY, "")


_EMPTY = "\x00"  # a placeholder without a value, until the blank before it is decided
