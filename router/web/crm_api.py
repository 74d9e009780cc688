"""A lead's conversion, contacts, companies and saved list filters over REST (docs/protocol.md, "Deals")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from crm_core import csv_leads
from crm_core.conversion import ConversionRefused
from crm_core.deals import open_key
from crm_core.lead_lists import NOBODY
from crm_core.recognition import one_line
from crm_core.store import Store
from router.app.clock import Clock
from router.protocol.deal_views import company_view, contact_view
from router.rules.access import Viewer, can_edit_lead, can_view_lead
from router.web.csv_http import start_csv
from router.web.deals_api import DealRoutes
from router.web.field_query import custom_values, field_tests
from router.web.gate import Gate
from router.web.http import ApiError, json_response
from router.web.paging import next_cursor, page_ask

ENTITIES = ("leads", "contacts", "deals")
FILTERS_MAX = 50  # saved filters per operator and list


class CrmRoutes:
    """POST /api/leads/{id}/convert, /api/contacts…, /api/companies, /api/filters…"""

    def __init__(self, gate: Gate, store: Store, clock: Clock, deals: DealRoutes) -> None:
        self.gate = gate
        self.crm = gate.settings.crm
        self.store = store
        self.clock = clock
        self.deals = deals

    def register(self, app: web.Application) -> None:
        """Mount the routes."""
        r = app.router
        r.add_post("/api/leads/{id}/convert", self.convert)
        r.add_get("/api/contacts/list", self.list_contacts)
        r.add_get("/api/contacts/export", self.export_contacts)
        r.add_get("/api/contacts/{id}", self.contact)
        r.add_patch("/api/contacts/{id}", self.patch_contact)
        r.add_get("/api/companies", self.companies)
        r.add_get("/api/filters", self.filters)
        r.add_post("/api/filters", self.save_filter)
        r.add_delete("/api/filters/{id}", self.delete_filter)

    async def convert(self, request: web.Request) -> web.Response:
        """POST /api/leads/{id}/convert {company, deal: {title, pipeline, amount, currency, request, fields} | null}:
        the lead becomes a contact (with the company, found or made by name) and a deal holding its dialogs; the
        lead's status turns to the first won one. {contact, company, deal}."""
        v = self.gate.viewer(await self.gate.operator(request))
        lead = await self.store.get_lead(request.match_info["id"])
        if lead is None:
            raise ApiError(404, "not_found", "no such lead")
        if not can_edit_lead(v, lead, lead.get("dialogs", [])):
            raise ApiError(403, "forbidden", "you may not change this lead")
        body = await self.gate.body(request)
        if set(body) - {"company", "deal"}:
            raise ApiError(
                400, "bad_field", f"cannot set {', '.join(sorted(set(body) - {'company', 'deal'}))}"
            )
        company = body.get("company")
        if company is not None and (not isinstance(company, str) or len(company) > 200):
            raise ApiError(400, "bad_field", "company: a name of at most 200 characters")
        asked = body.get("deal", {})
        deal: dict[str, Any] | None = None
        if asked is not None:
            if not isinstance(asked, dict) or set(asked) - {
                "title",
                "pipeline",
                "amount",
                "currency",
                "request",
                "fields",
            }:
                raise ApiError(
                    400, "bad_field", "deal: {title, pipeline, amount, currency, request, fields} or null"
                )
            pipeline = self.deals.pipeline_of(asked.get("pipeline"))
            deal = {
                "pipeline": pipeline.id,
                "stage": pipeline.stages[0].id,
                "currency": pipeline.currency,
                "title": lead.get("name") or "",
                **self.deals.deal_values(asked, {}),
                "source": "conversion",
                "open_key": open_key(lead["id"], pipeline.id),
            }
        won = next((s.id for s in self.crm.pipeline if s.kind == "won"), lead["status"])
        try:
            made = await self.store.convert_lead(
                lead["id"],
                status=won,
                deal=deal,
                company=one_line(company) if company else None,
                by=v.login,
                now=self.clock.now(),
            )
        except ConversionRefused as exc:
            raise ApiError(409 if exc.code == "merged_already" else 404, exc.code, exc.message) from None
        return json_response(made, status=201)

    async def _visible_contact(self, request: web.Request) -> tuple[Any, dict[str, Any]]:
        v = self.gate.viewer(await self.gate.operator(request))
        row = await self.store.get_contact(request.match_info["id"])
        if row is None:
            raise ApiError(404, "not_found", "no such contact")
        lead = await self.store.get_lead(row["lead_id"])
        dialogs = (lead or {}).get("dialogs", [])
        if not (v.admin or row.get("responsible") == v.login or can_view_lead(v, lead or {}, dialogs)):
            raise ApiError(403, "forbidden", "this contact is not visible to you")
        row["editable"] = (
            v.admin or row.get("responsible") == v.login or can_edit_lead(v, lead or {}, dialogs)
        )
        return v, row

    async def contact(self, request: web.Request) -> web.Response:
        """GET /api/contacts/{id}: the customer's name, phones, e-mails, company, custom fields and deals."""
        _, row = await self._visible_contact(request)
        return json_response({**contact_view(row), "editable": row["editable"]})

    async def patch_contact(self, request: web.Request) -> web.Response:
        """PATCH /api/contacts/{id} {company, fields, responsible} (the name, phones and e-mails are the lead's:
        PATCH /api/leads/{lead_id})."""
        v, row = await self._visible_contact(request)
        if not row["editable"]:
            raise ApiError(403, "forbidden", "you may read this contact, not change it")
        body = await self.gate.body(request)
        if set(body) - {"company", "fields", "responsible"}:
            raise ApiError(400, "bad_field", "a contact changes its company, fields or responsible")
        values: dict[str, Any] = {}
        if "fields" in body:
            values["fields"] = custom_values(self.crm.fields.contact, body["fields"], row.get("fields") or {})
        if "responsible" in body:
            values["responsible"] = self.deals.responsible_of(v, body, row)
        company = body.get("company")
        if company is not None and (not isinstance(company, str) or len(company) > 200):
            raise ApiError(400, "bad_field", 'company: a name of at most 200 characters ("": none)')
        await self.store.update_contact(row["id"], values, company=company, now=self.clock.now())
        _, row = await self._visible_contact(request)
        return json_response({**contact_view(row), "editable": row["editable"]})

    async def list_contacts(self, request: web.Request) -> web.Response:
        """GET /api/contacts/list?q=&responsible=&f.<field>=&sort=updated|created&order=&limit=&cursor= — an
        operator's own contacts, an admin's any."""
        v = self.gate.viewer(await self.gate.operator(request))
        q = request.query
        ask = page_ask(q, "contacts", ("updated", "created"), times=("updated", "created"))
        rows = await self.store.list_contacts(
            **self._contact_filter(v, q),
            sort=ask.sort,
            descending=ask.descending,
            after=ask.after,
            limit=ask.limit + 1,
        )
        nxt = next_cursor(ask, rows, f"{ask.sort}_at")
        return json_response({"contacts": [contact_view(r) for r in rows[: ask.limit]], "next": nxt})

    def _contact_filter(self, v: Viewer, q: Mapping[str, str]) -> dict[str, Any]:
        """q (words), responsible=LOGIN|none (an operator's own contacts always), f.<field>=value."""
        responsible = (
            (NOBODY if q.get("responsible") == "none" else q.get("responsible") or None)
            if v.admin
            else v.login
        )
        return {
            "query": q.get("q", "")[:200],
            "responsible": responsible,
            "fields": field_tests(self.crm.fields.contact, q),
        }

    async def export_contacts(self, request: web.Request) -> web.StreamResponse:
        """GET /api/contacts/export?(the filters of GET /api/contacts/list)&separator=&encoding=: a CSV file."""
        v = self.gate.viewer(await self.gate.operator(request))
        filters = self._contact_filter(v, request.query)
        custom = [field.id for field in self.crm.fields.contact]
        out = await start_csv(request, "contacts.csv")
        head = ("id", "name", "phone", "email", "company", "responsible", "created_at", "updated_at", *custom)
        await out.write(next(csv_leads.csv_lines([head], separator=out.separator)))
        async for page in self.store.export_contacts(**filters):
            rows = (
                [
                    c["id"],
                    c["name"],
                    c["phone"] or "",
                    c["email"] or "",
                    c["company_name"] or "",
                    c["responsible"] or "",
                    c["created_at"].isoformat(),
                    c["updated_at"].isoformat(),
                    *(csv_leads.custom_cell((c["fields"] or {}).get(key)) for key in custom),
                ]
                for c in page
            )
            await out.write("".join(csv_leads.csv_lines(rows, separator=out.separator)))
        await out.resp.write_eof()
        return out.resp

    async def companies(self, request: web.Request) -> web.Response:
        """GET /api/companies?query=: companies whose name starts so (the card's company field)."""
        await self.gate.operator(request)
        rows = await self.store.find_companies(request.query.get("query", "")[:200])
        return json_response({"companies": [company_view(r) for r in rows]})

    async def filters(self, request: web.Request) -> web.Response:
        """GET /api/filters?entity=leads|contacts|deals: the operator's saved filters of that list."""
        login = await self.gate.operator(request)
        entity = request.query.get("entity", "")
        if entity not in ENTITIES:
            raise ApiError(400, "bad_field", f"entity is one of {', '.join(ENTITIES)}")
        rows = await self.store.saved_filters_of(login, entity)
        return json_response(
            {"filters": [{"id": r["id"], "name": r["name"], "query": r["query"]} for r in rows]}
        )

    async def save_filter(self, request: web.Request) -> web.Response:
        """POST /api/filters {entity, name, query: {parameter: value}}: save a list's filter ("my open deals")."""
        login = await self.gate.operator(request)
        body = await self.gate.body(request)
        entity, name, query = body.get("entity"), body.get("name"), body.get("query")
        if entity not in ENTITIES:
            raise ApiError(400, "bad_field", f"entity is one of {', '.join(ENTITIES)}")
        if not isinstance(name, str) or not one_line(name) or len(name) > 100:
            raise ApiError(400, "bad_field", "name: 1 to 100 characters")
        if (
            not isinstance(query, dict)
            or len(query) > 40
            or not all(isinstance(k, str) and isinstance(x, str) and len(x) <= 500 for k, x in query.items())
        ):
            raise ApiError(400, "bad_field", "query: the list's parameters, each a string")
        if len(await self.store.saved_filters_of(login, entity)) >= FILTERS_MAX:
            raise ApiError(409, "too_many", f"at most {FILTERS_MAX} saved filters per list")
        filter_id = await self.store.save_filter(login, entity, one_line(name), query, now=self.clock.now())
        return json_response({"id": filter_id, "name": one_line(name), "query": query}, status=201)

    async def delete_filter(self, request: web.Request) -> web.Response:
        """DELETE /api/filters/{id}: one of the operator's own saved filters."""
        login = await self.gate.operator(request)
        if not await self.store.delete_filter(login, request.match_info["id"]):
            raise ApiError(404, "not_found", "no such filter of yours")
        return json_response({"deleted": True})
