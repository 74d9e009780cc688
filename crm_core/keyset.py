"""Keyset pages: a list ordered by one column (ties by id) whose next page starts after the last row's (value, id),
so page 1,000 costs what page 1 does. The comparison is a row value, `(col, id) > (value, last)`: one range of the
sort's index on both stores (SQLite reads an OR of the two conditions as two index searches merged and sorted, a
whole-table sort for a page deep in a big list)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, tuple_


def keyset(
    q: Select[Any],
    col: ColumnElement[Any],
    id_col: ColumnElement[Any],
    *,
    after: tuple[Any, str] | None,
    descending: bool,
    limit: int,
) -> Select[Any]:
    """The query ordered by (col, id), the page after `after` (the previous page's last (value, id)), `limit` rows.
    `col` must not be NULL in the rows asked for (a nullable sort asks for its NULL rows apart: `null_tail`)."""
    if after is not None:
        value, last = after
        here = tuple_(col, id_col)
        q = q.where(here < tuple_(value, last) if descending else here > tuple_(value, last))
    order = (col.desc(), id_col.desc()) if descending else (col.asc(), id_col.asc())
    return q.order_by(*order).limit(limit)


def null_tail(
    q: Select[Any],
    col: ColumnElement[Any],
    id_col: ColumnElement[Any],
    *,
    after: str | None,
    descending: bool,
    limit: int,
) -> Select[Any]:
    """The rows whose sort value is NULL, after every other (on both stores alike), by id; `after`: the last id."""
    q = q.where(col.is_(None))
    if after is not None:
        q = q.where(id_col < after if descending else id_col > after)
    return q.order_by(id_col.desc() if descending else id_col.asc()).limit(limit)
