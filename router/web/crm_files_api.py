"""Custom fields of type `file` on leads, contacts and deals: uploaded into the field (POST, multipart `file`) and
read back (GET), by whoever may change (read) the record. The body lives in the attachment store like an operator's
upload; the field keeps {ref, name, mime, size}. Not tracked as a reply's upload, so the upload sweeper leaves it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from crm_core.deals import DealConflict
from crm_core.store import Store
from router.app.clock import Clock
from router.rules.access import Viewer, can_edit_lead, can_view_lead
from router.web.files import Files, send_file
from router.web.gate import Gate
from router.web.http import ApiError, json_response, multipart_file

ENTITIES = ("leads", "contacts", "deals")


@dataclass
class Record:
    """A record holding file fields, as the viewer may reach it."""

    row: dict[str, Any]
    fields: dict[str, Any]
    editable: bool
    write: Callable[[dict[str, Any]], Awaitable[None]]


class CrmFileRoutes:
    """POST and GET /api/{leads|contacts|deals}/{id}/fields/{field}/file."""

    def __init__(self, gate: Gate, store: Store, files: Files | None, clock: Clock) -> None:
        self.gate = gate
        self.store = store
        self.files = files
        self.clock = clock

    def register(self, app: web.Application) -> None:
        """Mount the routes."""
        for entity in ENTITIES:
            path = f"/api/{entity}/{{id}}/fields/{{field}}/file"
            app.router.add_post(path, self.upload)
            app.router.add_get(path, self.download)

    def _spec(self, entity: str, field: str) -> None:
        specs = self.gate.settings.crm.fields.of(entity.rstrip("s"))
        if not any(s.id == field and s.type == "file" for s in specs):
            raise ApiError(404, "not_found", f"no file field {field} on {entity}")

    async def _reach(self, request: web.Request) -> tuple[str, Record]:
        """The file field a request names, and its record as the viewer may reach it."""
        v = self.gate.viewer(await self.gate.operator(request))  # a login first, whatever the path names
        entity = request.path.split("/")[2]
        field = request.match_info["field"]
        self._spec(entity, field)
        return field, await self._record(v, entity, request.match_info["id"])

    async def _record(self, v: Viewer, entity: str, record_id: str) -> Record:
        now = self.clock.now
        if entity == "deals":
            deal = await self.store.get_deal(record_id)
            if deal is None or not can_view_lead(v, deal, deal["dialogs"]):
                raise ApiError(404, "not_found", "no such deal of yours")

            async def write_deal(fields: dict[str, Any]) -> None:
                await self.store.update_deal(
                    record_id, {"fields": fields}, version=deal["updated_at"], by=v.login, now=now()
                )

            return Record(deal, deal.get("fields") or {}, can_edit_lead(v, deal, deal["dialogs"]), write_deal)
        if entity == "leads":
            lead = await self.store.get_lead(record_id)
            if lead is None or not can_view_lead(v, lead, lead.get("dialogs", [])):
                raise ApiError(404, "not_found", "no such lead of yours")

            async def write_lead(fields: dict[str, Any]) -> None:
                await self.store.update_lead(record_id, {"fields": fields}, now(), by=v.login)

            return Record(
                lead, lead.get("fields") or {}, can_edit_lead(v, lead, lead.get("dialogs", [])), write_lead
            )
        contact = await self.store.get_contact(record_id)
        lead = await self.store.get_lead(contact["lead_id"]) if contact else None
        dialogs = (lead or {}).get("dialogs", [])
        mine = contact is not None and (v.admin or contact.get("responsible") == v.login)
        if contact is None or not (mine or can_view_lead(v, lead or {}, dialogs)):
            raise ApiError(404, "not_found", "no such contact of yours")

        async def write_contact(fields: dict[str, Any]) -> None:
            await self.store.update_contact(record_id, {"fields": fields}, company=None, now=now())

        editable = mine or can_edit_lead(v, lead or {}, dialogs)
        return Record(contact, contact.get("fields") or {}, editable, write_contact)

    async def upload(self, request: web.Request) -> web.Response:
        """POST …/fields/{field}/file (multipart `file`): the file becomes the field's value → {field: value}."""
        field, rec = await self._reach(request)
        if not rec.editable:
            raise ApiError(403, "forbidden", "you may read this record, not change it")
        if self.files is None:
            raise ApiError(503, "unavailable", "this process keeps no files")
        upload = await multipart_file(request, self.gate.settings.limits.max_attachment_bytes)
        ref = await self.files.store.put(upload.data, name=upload.name, mime=upload.mime)
        value = {"ref": ref, "name": upload.name[:255], "mime": upload.mime, "size": len(upload.data)}
        try:
            await rec.write({**rec.fields, field: value})
        except DealConflict:
            raise ApiError(409, "changed", "the deal changed meanwhile: upload again") from None
        return json_response({field: value}, status=201)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """GET …/fields/{field}/file: the field's file, downloaded (never rendered as a page of ours)."""
        field, rec = await self._reach(request)
        meta = rec.fields.get(field)
        if not isinstance(meta, dict) or not meta.get("ref") or self.files is None:
            raise ApiError(404, "not_found", "the field holds no file")
        body = await self.files.open("", "", {**meta, "stored": True})
        if body is None:
            raise ApiError(404, "not_found", "the file is gone")
        return await send_file(request, str(meta.get("name") or "file"), body)
