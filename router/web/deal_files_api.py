"""GET /api/deals/export: the deals a list shows (its filters), as a CSV file streamed a page at a time, with a column
per custom field; an operator's own deals only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crm_core import csv_leads
from crm_core.store import Store
from router.app.clock import Clock
from router.protocol.deal_views import amount_text
from router.web.csv_http import start_csv
from router.web.deals_api import DealRoutes
from router.web.gate import Gate

HEADER = (
    "id",
    "title",
    "pipeline",
    "stage",
    "amount",
    "currency",
    "customer",
    "responsible",
    "line",
    "source",
    "request",
    "created_at",
    "updated_at",
    "closed_at",
    "won",
)


def _cells(d: dict[str, Any], custom: list[str]) -> list[Any]:
    when = [
        x.isoformat() if x is not None else "" for x in (d["created_at"], d["updated_at"], d["closed_at"])
    ]
    return [
        d["id"],
        d["title"],
        d["pipeline"],
        d["stage"],
        amount_text(d["amount"]) or "",
        d["currency"],
        d.get("customer_name") or "",
        d["responsible"] or "",
        d["line_id"] or "",
        d["source"] or "",
        d["request"],
        *when,
        "" if d["won"] is None else str(d["won"]).lower(),
        *(csv_leads.custom_cell((d["fields"] or {}).get(key)) for key in custom),
    ]


class DealFileRoutes:
    """GET /api/deals/export (mounted before /api/deals/{id})."""

    def __init__(self, gate: Gate, store: Store, clock: Clock, deals: DealRoutes) -> None:
        self.gate = gate
        self.store = store
        self.clock = clock
        self.deals = deals

    def register(self, app: web.Application) -> None:
        """Mount the route."""
        app.router.add_get("/api/deals/export", self.export)

    async def export(self, request: web.Request) -> web.StreamResponse:
        """GET /api/deals/export?(the filters of GET /api/deals/list)&separator=&encoding="""
        v = self.gate.viewer(await self.gate.operator(request))
        f = self.deals.deal_filter(v, request.query)
        custom = [field.id for field in self.gate.settings.crm.fields.deal]
        out = await start_csv(request, "deals.csv")
        await out.write(next(csv_leads.csv_lines([(*HEADER, *custom)], separator=out.separator)))
        async for page in self.store.export_deals(f):
            await out.write(
                "".join(csv_leads.csv_lines((_cells(d, custom) for d in page), separator=out.separator))
            )
        await out.resp.write_eof()
        return out.resp
