"""The console's leads: search, the lead card, and its edits (who may hand a lead over)."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from crm_core.contacts import LIST_OF, clean_contacts
from crm_core.ids import new_id
from crm_core.recognition import one_line
from crm_core.store import Store
from queues.bus import CONSOLE
from queues.messages import ConsoleEvent
from router.app.clock import Clock
from router.protocol.views import lead_card_view, lead_view
from router.rules.access import Viewer, can_edit_lead, can_view_lead, lead_audience
from router.web.field_query import custom_values
from router.web.gate import Gate
from router.web.http import ApiError, json_response

CONTACTS_MAX = 20  # phones (e-mails) of one lead


class LeadRoutes:
    """GET /api/leads, GET and PATCH /api/leads/{id}."""

    def __init__(self, gate: Gate, store: Store, clock: Clock) -> None:
        self.gate = gate
        self.settings = gate.settings
        self.store = store
        self.clock = clock
        self.line_names = {ln.id: ln.name for ln in gate.settings.lines}

    def register(self, app: web.Application) -> None:
        """Mount the routes."""
        r = app.router
        r.add_get("/api/leads", self.leads)
        r.add_post("/api/leads", self.create_lead)
        r.add_get("/api/leads/{id}", self.lead)
        r.add_patch("/api/leads/{id}", self.patch_lead)

    async def _visible_lead(self, request: web.Request) -> tuple[Viewer, dict[str, Any]]:
        v = self.gate.viewer(await self.gate.operator(request))
        row = await self.store.get_lead(request.match_info["id"])
        if row is None:
            raise ApiError(404, "not_found", "no such lead")
        if not can_view_lead(v, row, row.get("dialogs", [])):
            raise ApiError(403, "forbidden", "this lead is not visible to you")
        return v, row

    async def leads(self, request: web.Request) -> web.Response:
        """GET /api/leads?query= — an operator finds the leads they are responsible for; an admin finds all."""
        v = self.gate.viewer(await self.gate.operator(request))
        query = request.query.get("query", "")[:200]
        rows = await self.store.search_leads(query, responsible=None if v.admin else v.login)
        return json_response({"leads": [lead_view(r) for r in rows]})

    async def create_lead(self, request: web.Request) -> web.Response:
        """POST /api/leads {name, phones, emails, status, responsible, fields, force}: a lead made by hand; likely
        duplicates refuse it (409 likely_duplicates, with them) unless `force` is true."""
        v = self.gate.viewer(await self.gate.operator(request))
        body = await self.gate.body(request)
        unknown = set(body) - {"name", "phones", "emails", "status", "responsible", "force", "fields"}
        if unknown:
            raise ApiError(400, "bad_field", f"cannot set {', '.join(sorted(unknown))}")
        name = body.get("name")
        if not isinstance(name, str) or not one_line(name) or len(name) > 200:
            raise ApiError(400, "bad_field", "name is required: a string of at most 200 characters")
        contacts = _contact_changes({k: body.get(k) or [] for k in ("phones", "emails")}, {})
        status = body.get("status", self.settings.crm.statuses[0])
        if status not in self.settings.crm.statuses:
            raise ApiError(
                400, "unknown_status", f"status must be one of {', '.join(self.settings.crm.statuses)}"
            )
        # an operator's lead is theirs (else they could not see it); an admin may give it to anyone or no one
        responsible = body.get("responsible", v.login) if v.admin else v.login
        if responsible is not None and self.settings.operator(responsible) is None:
            raise ApiError(400, "unknown_operator", "responsible must be an operator's login or null")
        if body.get("force") is not True:
            found = await self.store.likely_duplicates(
                name=name,
                phones=[c["value"] for c in contacts["phone"]],
                emails=[c["value"] for c in contacts["email"]],
            )
            if found:
                raise ApiError(
                    409,
                    "likely_duplicates",
                    "leads with this name, phone or e-mail exist already",
                    duplicates=[lead_view(r) for r in found if can_view_lead(v, r, r["open_dialogs"])],
                    hidden=sum(1 for r in found if not can_view_lead(v, r, r["open_dialogs"])),
                )
        lead_id = await self.store.create_lead(
            {
                "name": name,
                "status": status,
                "responsible": responsible,
                "source": "console",
                "fields": custom_values(self.settings.crm.fields.lead, body.get("fields") or {}, {}) or None,
            },
            phones=contacts["phone"],
            emails=contacts["email"],
            now=self.clock.now(),
        )
        row = await self.store.get_lead(lead_id)
        assert row is not None
        return json_response(self._card(v, row), status=201)

    async def lead(self, request: web.Request) -> web.Response:
        """GET /api/leads/{id}: with identities, dialogs and transcripts, and whether the viewer may edit it."""
        v, row = await self._visible_lead(request)
        return json_response(self._card(v, row))

    def _card(self, v: Viewer, row: dict[str, Any]) -> dict[str, Any]:
        return {
            **lead_card_view(row, self.line_names),
            "editable": can_edit_lead(v, row, row.get("dialogs", [])),
        }

    async def patch_lead(self, request: web.Request) -> web.Response:
        """PATCH /api/leads/{id}: name, phones, emails (lists replacing the lead's; phone, email: its first one),
        status (with the `reason` in words, journaled), responsible, fields (custom: merged into the lead's)."""
        v, current = await self._visible_lead(request)
        if not can_edit_lead(v, current, current.get("dialogs", [])):
            raise ApiError(
                403, "forbidden", "a guest of this customer's dialog reads the card; its operator edits it"
            )
        body = await self.gate.body(request)
        fields: dict[str, Any] = {}
        unknown = set(body) - {
            "name",
            "phone",
            "email",
            "phones",
            "emails",
            "status",
            "responsible",
            "reason",
            "fields",
        }
        if unknown:
            raise ApiError(400, "bad_field", f"cannot change {', '.join(sorted(unknown))}")
        if "fields" in body:
            fields["fields"] = custom_values(
                self.settings.crm.fields.lead, body["fields"], current.get("fields") or {}
            )
        if "name" in body:
            if not isinstance(body["name"], str) or len(body["name"]) > 200:
                raise ApiError(400, "bad_field", "name must be a string of at most 200 characters")
            fields["name"] = one_line(body["name"])
        contacts = _contact_changes(body, current)
        if "status" in body:
            if body["status"] not in self.settings.crm.statuses:
                raise ApiError(
                    400, "unknown_status", f"status must be one of {', '.join(self.settings.crm.statuses)}"
                )
            fields["status"] = body["status"]
        reason = body.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 500 or "status" not in body):
            raise ApiError(400, "bad_field", "reason: the words of a status change, at most 500 characters")
        if "responsible" in body:
            resp = body["responsible"]
            if resp is not None and (not isinstance(resp, str) or self.settings.operator(resp) is None):
                raise ApiError(400, "unknown_operator", "responsible must be an operator's login or null")
            # docs/protocol.md: only an admin or the lead's current responsible may change it (a lead nobody
            # owns is handed out by an admin or by the routing of its dialogs, not claimed by whoever sees it)
            if not v.admin and resp != current.get("responsible") and current.get("responsible") != v.login:
                raise ApiError(
                    403, "forbidden", "only an admin or the responsible operator can hand a lead over"
                )
            fields["responsible"] = resp
        lead_id = request.match_info["id"]
        if current.get("merged_into"):
            raise ApiError(409, "merged_already", "this lead was merged into another: change that one")
        now = self.clock.now()
        if contacts:
            await self.store.set_contacts(
                lead_id, phones=contacts.get("phone"), emails=contacts.get("email"), now=now
            )
        if not await self.store.update_lead(
            lead_id, fields, now, by=v.login, reason=one_line(reason) if reason else None
        ):
            raise ApiError(404, "not_found", "no such lead")
        row = await self.store.get_lead(lead_id)
        assert row is not None
        await tell_consoles(self.gate, row, [current])
        return json_response(self._card(v, row))


async def tell_consoles(gate: Gate, lead: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Every console that shows the lead or the records it was made of (a merge, an undo, an edit's before and
    after: router/rules/access.py `lead_audience`) learns its new name, status and contacts."""
    admins = [o.login for o in gate.settings.operators if o.role == "admin"]
    frame = {"type": "lead.updated", "lead": lead_view(lead)}
    event = ConsoleEvent(new_id(), tuple(sorted(lead_audience(admins, [lead, *records]))), frame)
    with contextlib.suppress(Exception):  # the change is stored: a console that misses it sees it on refresh
        await gate.hub.bus.publish(CONSOLE, [event])


def _contact_changes(body: dict[str, Any], current: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """The lead's new phones and e-mails a PATCH asks for (normalised), by kind; a 400 for a bad value."""
    out: dict[str, list[dict[str, str]]] = {}
    for kind, many in LIST_OF.items():
        try:
            if many in body:
                if kind in body:
                    raise ApiError(400, "bad_field", f"send {many} or {kind}, not both")
                if not isinstance(body[many], list) or len(body[many]) > CONTACTS_MAX:
                    raise ApiError(400, "bad_field", f"{many} must be a list of at most {CONTACTS_MAX}")
                out[kind] = clean_contacts(kind, body[many])
            elif kind in body:  # the first one replaced (or removed), the others kept
                value = body[kind]
                first = [] if value in (None, "") else clean_contacts(kind, [value])
                others = list(current.get(many) or ())[1:]
                out[kind] = first + [c for c in others if c["value"] not in {f["value"] for f in first}]
        except (ValueError, AttributeError) as exc:
            raise ApiError(
                400, "bad_field", str(exc) if isinstance(exc, ValueError) else f"bad {many}"
            ) from None
    return out
