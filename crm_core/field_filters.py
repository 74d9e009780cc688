"""Custom field filters of the lists (leads, contacts, deals): a test on a record's JSON `fields` column, the same on
SQLite and PostgreSQL (JSON extraction on both)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func

from crm_core.recognition import fold

# (field id, how, value); how: eq (the value as stored), has (a multiple list holds it), contains (text contains
# it, any case)
FieldTest = tuple[str, str, Any]


def like_pattern(text: str) -> str:
    """A LIKE pattern for "contains" (`%` and `_` as themselves, escaped with a backslash)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def field_clause(column: Any, test: FieldTest) -> ColumnElement[bool]:
    """A custom field test on a JSON `fields` column."""
    key, how, value = test
    if how == "contains":
        return func.lower(column[key].as_string()).like(like_pattern(fold(str(value))), escape="\\")
    if how == "has":  # the JSON text of the list holds the value as a JSON string
        return column[key].as_string().like(like_pattern(f'"{value}"'), escape="\\")
    if isinstance(value, bool):
        return column[key].as_boolean() == value
    if isinstance(value, int | float):
        return column[key].as_float() == float(value)
    return column[key].as_string() == str(value)
