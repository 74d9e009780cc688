"""Leads in and out of CSV files in the console: POST /api/leads/import (admins; a dry run first, its progress
streamed) and GET /api/leads/export (the leads the viewer may export, filtered as their list is)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from crm_core import csv_leads
from crm_core.csv_leads import CsvProblem
from crm_core.lead_import_plan import ON_DUPLICATE
from crm_core.store import Store
from router.app.clock import Clock
from router.web.csv_http import start_csv
from router.web.gate import Gate
from router.web.http import ApiError, multipart_file
from router.web.lead_lists_api import lead_filter

IMPORT_MAX_BYTES = 64 * 1024 * 1024  # about a million leads
CHUNK = 2_000  # rows per transaction and per progress line


class LeadFileRoutes:
    """POST /api/leads/import, GET /api/leads/export."""

    def __init__(self, gate: Gate, store: Store, clock: Clock) -> None:
        self.gate = gate
        self.store = store
        self.clock = clock

    def register(self, app: web.Application) -> None:
        """Mount the routes."""
        app.router.add_post("/api/leads/import", self.import_leads)
        app.router.add_get("/api/leads/export", self.export_leads)

    async def import_leads(self, request: web.Request) -> web.StreamResponse:
        """POST /api/leads/import?dry_run=&on_duplicate=&encoding=&separator=&map= (multipart `file`): the answer is
        NDJSON: the columns as mapped, progress lines, then the report (docs/protocol.md)."""
        v = self.gate.viewer(await self.gate.operator(request))
        if not v.admin:
            raise ApiError(403, "forbidden", "only an admin imports leads")
        q = request.query
        on_duplicate = q.get("on_duplicate", "skip")
        if on_duplicate not in ON_DUPLICATE:
            raise ApiError(400, "bad_field", f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}")
        mapping: Any = {}
        if raw := q.get("map"):
            try:
                mapping = orjson.loads(raw)
            except orjson.JSONDecodeError:
                mapping = None
            if not isinstance(mapping, dict) or not all(isinstance(x, str) for x in mapping.values()):
                raise ApiError(400, "bad_field", "map must be a JSON object of column header → field")
        data = (await multipart_file(request, IMPORT_MAX_BYTES)).data
        settings = self.gate.settings
        try:
            text, encoding = await asyncio.to_thread(csv_leads.decode, data, q.get("encoding") or None)
            header, columns, rows = csv_leads.rows(
                text,
                separator=q.get("separator") or None,
                mapping=mapping,
                statuses=settings.crm.statuses,
                operators=[o.login for o in settings.operators],
            )
        except CsvProblem as exc:
            raise ApiError(400, "bad_file", str(exc)) from None
        total = csv_leads.data_lines(text)
        resp = web.StreamResponse(
            headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-store"}
        )
        await resp.prepare(request)

        async def line(obj: dict[str, Any]) -> None:
            await resp.write(orjson.dumps(obj) + b"\n")

        await line(
            {
                "type": "columns",
                "encoding": encoding,
                "header": header,
                "columns": {str(i): f for i, f in columns.items()},
                "total": total,
            }
        )
        report = await self.store.import_leads(
            rows,
            on_duplicate=on_duplicate,
            dry_run=q.get("dry_run") in ("1", "true"),
            status=settings.crm.statuses[0],
            now=self.clock.now(),
            progress=lambda done: line({"type": "progress", "done": done, "total": total}),
            chunk_size=CHUNK,
        )
        await line({"type": "report", **report.view()})
        await resp.write_eof()
        return resp

    async def export_leads(self, request: web.Request) -> web.StreamResponse:
        """GET /api/leads/export?(the filters of GET /api/leads/list)&separator=&encoding= — a CSV of the leads
        that list shows: an operator's own leads only, an admin's any."""
        v = self.gate.viewer(await self.gate.operator(request))
        q = request.query
        f = lead_filter(self.gate, v, q, self.clock.now())
        custom = [field.id for field in self.gate.settings.crm.fields.lead]
        out = await start_csv(request, "leads.csv")
        await out.write(next(csv_leads.export_lines([], separator=out.separator, custom=custom)))
        async for page in self.store.export_leads(f):
            await out.write(
                "".join(csv_leads.export_lines(page, separator=out.separator, header=False, custom=custom))
            )
        await out.resp.write_eof()
        return out.resp
