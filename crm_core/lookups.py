"""Selects by many keys at once, shaped so each backend searches its indexes: a batch's identities and messages
by (channel, account, external_id), rows by a list of ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from crm_core.models import dialogs

Key = tuple[str, str, str]

_KEY_COLUMNS = ("channel", "account", "external_id")


def select_by_keys(kind: str, table: Table, cols: Sequence[Any], keys: list[Key]) -> Select[Any]:
    """SELECT cols of the table's rows whose unique (channel, account, external_id) is one of the keys."""
    if kind != "postgresql":
        # SQLite runs a row-value IN as a scan of the whole table; grouped by (channel, account) with
        # `external_id IN (…)` each group is a search on the unique index
        groups: dict[tuple[str, str], list[str]] = {}
        for channel, account, external_id in keys:
            groups.setdefault((channel, account), []).append(external_id)
        c = table.c
        return select(*cols).where(
            or_(
                *(
                    and_(c.channel == ch, c.account == ac, c.external_id.in_(ids))
                    for (ch, ac), ids in groups.items()
                )
            )
        )
    # A batch's keys share (channel, account): PostgreSQL would match the IN list of tuples as a filter over
    # every row of that pair (the index condition holds the two shared columns only). The keys as three
    # arrays unnested and joined give one unique-index probe per key (on a table small next to the batch the
    # planner may hash it whole instead, which is as cheap there), and one prepared statement for every
    # batch size. The arrays carry the columns' own types, so keys are bound (NUL dropped, cut to the
    # column's length) exactly as the stored values were.
    k = (
        func.unnest(
            *(
                bindparam(f"key_{c}", [key[i] for key in keys], type_=ARRAY(table.c[c].type))
                for i, c in enumerate(_KEY_COLUMNS)
            )
        )
        .table_valued(*_KEY_COLUMNS)
        .render_derived(name="k")
    )
    on = and_(*(table.c[c] == k.c[c] for c in _KEY_COLUMNS))
    return select(*cols).select_from(k).join(table, on)


def in_ids(kind: str, col: ColumnElement[Any], ids: list[str]) -> ColumnElement[bool]:
    """`col IN ids`; on PostgreSQL `col = ANY(:array)`, one prepared statement for every number of ids."""
    if kind != "postgresql":
        return col.in_(ids)
    return col == any_(bindparam(None, ids, type_=ARRAY(col.type)))


def dialog_list_has(kind: str, column: str, login: str) -> ColumnElement[bool]:
    """Whether a dialog's JSON list column (`offered_to`, `invited`) holds the login."""
    if kind == "postgresql":
        return cast(dialogs.c[column], JSONB).contains([login])
    return exists(
        select(literal_column("1"))
        .select_from(text(f"json_each(dialogs.{column})"))
        .where(literal_column("json_each.value") == bindparam(None, login))
    )
