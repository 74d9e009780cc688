"""Keyset pages: a list ordered by one column (ties by id) whose next page starts after the last row's (value, id),
so page 1,000 costs what page 1 does."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_


def keyset(
    q: Select[Any],
    col: ColumnElement[Any],
    id_col: ColumnElement[Any],
    *,
    after: tuple[Any, str] | None,
    descending: bool,
    limit: int,
) -> Select[Any]:
    """The query ordered by (col, id), the page after `after` (the previous page's last (value, id)), `limit` rows."""
    if after is not None:
        value, last = after
        if descending:
            q = q.where(or_(col < value, and_(col == value, id_col < last)))
        else:
            q = q.where(or_(col > value, and_(col == value, id_col > last)))
    order = (col.desc(), id_col.desc()) if descending else (col.asc(), id_col.asc())
    return q.order_by(*order).limit(limit)
