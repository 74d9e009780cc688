"""Leads as a list to work from (GET /api/leads/list: filters, sorting, keyset pages) and handing many leads to
another responsible at once (POST /api/leads/hand-over, admins: a leaving employee's clients)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from crm_core.lead_lists import NOBODY, SORTS, LeadFilter
from crm_core.store import Store
from router.app.clock import Clock
from router.protocol.views import lead_view
from router.rules.access import Viewer
from router.web.gate import Gate
from router.web.http import ApiError, json_response, query_time
from router.web.paging import next_cursor, page_ask

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
        ask = page_ask(q, "leads", SORTS, times=("updated", "created"), ascending=("name",))
        rows = await self.store.list_leads(
            lead_filter(self.gate, v, q),
            sort=ask.sort,
            descending=ask.descending,
            after=ask.after,
            limit=ask.limit + 1,
        )
        nxt = next_cursor(ask, rows, SORTS[ask.sort].key)
        return json_response({"leads": [lead_view(r) for r in rows[: ask.limit]], "next": nxt})

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
