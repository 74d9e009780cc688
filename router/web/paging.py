"""A list's page parameters (sort, order, limit, cursor) and the cursor of its next page: one reading for the
lists of leads, deals and contacts. A cursor is signed with its list and sort (crm_core.search), so a client cannot
hand one list's cursor to another."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from crm_core.search import BadSearch, decode_cursor, encode_cursor
from router.web.http import ApiError

LIMIT_MAX = 200


@dataclass(frozen=True)
class PageAsk:
    """What page of a list the client asks for."""

    sort: str
    descending: bool
    limit: int
    after: tuple[Any, str] | None
    kind: str  # what the cursor is signed with


def page_ask(
    q: Mapping[str, str],
    entity: str,
    sorts: Collection[str],
    *,
    times: Collection[str],
    ascending: Collection[str] = (),
) -> PageAsk:
    """sort=, order=asc|desc (a sort in `ascending` defaults to asc), limit=1..LIMIT_MAX, cursor= (a 400 for any
    bad one); a cursor's value is a time for the sorts in `times`."""
    sort = q.get("sort", next(iter(sorts)))
    order = q.get("order", "asc" if sort in ascending else "desc")
    if sort not in sorts or order not in ("asc", "desc"):
        raise ApiError(400, "bad_field", f"sort is one of {', '.join(sorts)}, order asc or desc")
    raw_limit = q.get("limit", "50")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= LIMIT_MAX:
        raise ApiError(400, "bad_field", f"limit is 1 to {LIMIT_MAX}")
    kind = f"{entity}.{sort}.{order}"
    after = None
    if cursor := q.get("cursor"):
        try:
            value, last = orjson.loads(decode_cursor(kind, cursor, limit=600))
            if not isinstance(last, str):
                raise TypeError(last)
        except (BadSearch, orjson.JSONDecodeError, ValueError, TypeError):
            raise ApiError(400, "bad_field", "cursor is not one this list gave") from None
        if sort in times and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = datetime.fromisoformat(value)
        after = (value, last)
    return PageAsk(sort, order == "desc", int(raw_limit), after, kind)


def next_cursor(ask: PageAsk, rows: list[dict[str, Any]], key: str) -> str | None:
    """The next page's cursor when the store gave more rows than asked for (it is asked for limit + 1)."""
    if len(rows) <= ask.limit:
        return None
    last = rows[ask.limit - 1]
    value = last[key]
    # the time whole (iso() keeps milliseconds: a page would start again inside the last one's millisecond)
    shown = value.isoformat() if isinstance(value, datetime) else value
    return encode_cursor(ask.kind, orjson.dumps([shown, last["id"]]).decode())
