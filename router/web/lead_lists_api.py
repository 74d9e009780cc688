"""Leads as a list to work from (GET /api/leads/list: filters, sorting, keyset pages) and handing many leads to
another responsible at once (POST /api/leads/hand-over, admins: a leaving employee's clients)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from aiohttp import web

from crm_core.lead_lists import NOBODY, SORTS, LeadFilter
from crm_core.store import Store
from router.app.clock import Clock
from router.protocol.views import lead_view
from router.rules.access import Viewer
from router.rules.deals import needs_reminder
from router.web.field_query import field_tests
from router.web.gate import Gate
from router.web.http import ApiError, json_response, query_time
from router.web.paging import next_cursor, page_ask

HAND_OVER_MAX = 10_000


def lead_filter(gate: Gate, v: Viewer, q: Mapping[str, str], now: datetime) -> LeadFilter:
    """The filter of a list (or its export) from the query: status=S1,S2, responsible=LOGIN|none, source, line,
    channel, created_from/_to, changed_from/_to, q (words), f.<field>=value (custom fields), stale=1 (leads in a
    working status unchanged for crm.remind_after_days). An operator's are always their own leads."""
    crm = gate.settings.crm
    statuses = tuple(s for s in q.get("status", "").split(",") if s)
    unknown = set(statuses) - set(gate.settings.crm.statuses)
    if unknown:
        raise ApiError(400, "unknown_status", f"no status {', '.join(sorted(unknown))}")
    responsible = q.get("responsible") or None
    if not v.admin:
        responsible = v.login  # an operator works from their own leads
    elif responsible == "none":
        responsible = NOBODY
    changed_to = query_time(q, "changed_to")
    if q.get("stale") == "1" and crm.remind_after_days:
        statuses = statuses or tuple(s.id for s in crm.pipeline if s.kind == "work")
        idle = now - timedelta(days=crm.remind_after_days)
        changed_to = min(changed_to, idle) if changed_to else idle
    return LeadFilter(
        statuses=statuses,
        responsible=responsible,
        source=q.get("source") or None,
        line=q.get("line") or None,
        channel=q.get("channel") or None,
        created_from=query_time(q, "created_from"),
        created_to=query_time(q, "created_to"),
        changed_from=query_time(q, "changed_from"),
        changed_to=changed_to,
        query=q.get("q", "")[:200],
        fields=field_tests(crm.fields.lead, q),
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
            lead_filter(self.gate, v, q, self.clock.now()),
            sort=ask.sort,
            descending=ask.descending,
            after=ask.after,
            limit=ask.limit + 1,
        )
        nxt = next_cursor(ask, rows, SORTS[ask.sort].key)
        crm, now = self.gate.settings.crm, self.clock.now()
        working = {s.id for s in crm.pipeline if s.kind == "work"}
        leads = [
            {
                **lead_view(r),
                # the responsible's reminder: a lead in a working status nobody touched for the configured days
                "stale": r["status"] in working
                and needs_reminder(r["updated_at"], False, now, crm.remind_after_days),
            }
            for r in rows[: ask.limit]
        ]
        return json_response({"leads": leads, "next": nxt})

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
