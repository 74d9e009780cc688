"""Leads as a list to work from (GET /api/leads/list: filters, sorting, keyset pages) and handing many leads to
another responsible at once (POST /api/leads/hand-over, admins: a leaving employee's clients)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime

import orjson
from aiohttp import web

from crm_core.lead_lists import NOBODY, SORTS, LeadFilter
from crm_core.search import BadSearch, decode_cursor, encode_cursor
from crm_core.store import Store
from router.app.clock import Clock
from router.protocol.views import lead_view
from router.rules.access import Viewer
from router.web.gate import Gate
from router.web.http import ApiError, json_response, query_time

LIMIT_MAX = 200
HAND_OVER_MAX = 10_000


def lead_filter(gate: Gate, v: Viewer, q: Mapping[str, str]) -> LeadFilter:
    """The filter of a list (or its export) from the query: status=S1,S2, responsible=LOGIN|none, source, line,
    channel, created_from/_to, changed_from/_to, q (words). An operator's are always their own leads."""
    statuses = tuple(s for s in q.get("status", "").split(",") if s)
    unknown = set(statuses) - set(gate.settings.crm.statuses)
    if unknown:
        raise ApiError(400, "unknown_status", f"no status {', '.join(sorted(unknown))}")
    responsible = q.get("responsible") or None
    if not v.admin:
        responsible = v.login  # an operator works from their own leads
    elif responsible == "none":
        responsible = NOBODY
    return LeadFilter(
        statuses=statuses,
        responsible=responsible,
        source=q.get("source") or None,
        line=q.get("line") or None,
        channel=q.get("channel") or None,
        created_from=query_time(q, "created_from"),
        created_to=query_time(q, "created_to"),
        changed_from=query_time(q, "changed_from"),
        changed_to=query_time(q, "changed_to"),
        query=q.get("q", "")[:200],
    )


class LeadListRoutes:
    """GET /api/leads/list, POST /api/leads/hand-over."""

    def __init__(self, gate: Gate, store: Store, clock: Clock) -> None:
        self.gate = gate
        self.store = store
        self.clock = clock

    def register(self, app: web.Application) -> None:
        """Mount the routes (before /api/leads/{id}: `list` is no lead)."""
        app.router.add_get("/api/leads/list", self.list_leads)
        app.router.add_post("/api/leads/hand-over", self.hand_over)

    async def list_leads(self, request: web.Request) -> web.Response:
        """GET /api/leads/list?status=&responsible=&source=&line=&channel=&created_from=&created_to=&changed_from=
        &changed_to=&q=&sort=updated|created|name&order=desc|asc&limit=&cursor= — an operator's own leads, an
        admin's any."""
        v = self.gate.viewer(await self.gate.operator(request))
        q = request.query
        sort = q.get("sort", "updated")
        order = q.get("order", "asc" if sort == "name" else "desc")
        if sort not in SORTS or order not in ("asc", "desc"):
            raise ApiError(400, "bad_field", f"sort is one of {', '.join(SORTS)}, order asc or desc")
        raw_limit = q.get("limit", "50")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= LIMIT_MAX:
            raise ApiError(400, "bad_field", f"limit is 1 to {LIMIT_MAX}")
        f = lead_filter(self.gate, v, q)
        after = None
        kind = f"leads.{sort}.{order}"
        if cursor := q.get("cursor"):
            try:
                value, last = orjson.loads(decode_cursor(kind, cursor, limit=600))
            except (BadSearch, orjson.JSONDecodeError, ValueError, TypeError):
                raise ApiError(400, "bad_field", "cursor is not one this list gave") from None
            if sort != "name":
                with contextlib.suppress(TypeError, ValueError):
                    value = datetime.fromisoformat(value)
            after = (value, last)
        limit = int(raw_limit)
        rows = await self.store.list_leads(
            f, sort=sort, descending=order == "desc", after=after, limit=limit + 1
        )
        page = rows[:limit]
        nxt = None
        if len(rows) > limit:
            last_row = page[-1]
            value = last_row[SORTS[sort].key]
            # the time whole (iso() keeps milliseconds: a page would start again inside the last one's millisecond)
            shown = value.isoformat() if sort != "name" else value
            nxt = encode_cursor(kind, orjson.dumps([shown, last_row["id"]]).decode())
        return json_response({"leads": [lead_view(r) for r in page], "next": nxt})

    async def hand_over(self, request: web.Request) -> web.Response:
        """POST /api/leads/hand-over {ids, responsible} (admins): the leads' responsible changed at once."""
        v = self.gate.viewer(await self.gate.operator(request))
        if not v.admin:
            raise ApiError(403, "forbidden", "only an admin hands leads over in bulk")
        body = await self.gate.body(request)
        ids, to = body.get("ids"), body.get("responsible")
        if (
            not isinstance(ids, list)
            or not ids
            or len(ids) > HAND_OVER_MAX
            or not all(isinstance(i, str) for i in ids)
        ):
            raise ApiError(400, "bad_field", f"ids: a list of 1 to {HAND_OVER_MAX} lead ids")
        if to is not None and (not isinstance(to, str) or self.gate.settings.operator(to) is None):
            raise ApiError(400, "unknown_operator", "responsible must be an operator's login or null")
        changed = await self.store.hand_over(ids, to, by=v.login, now=self.clock.now())
        return json_response({"changed": changed})
