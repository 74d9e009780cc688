"""Duplicate control in the console: the duplicate list, "not duplicates", merging with a per-field choice, and the
merge journal with its undo (docs/protocol.md, "Duplicates and merge").

An operator sees and merges only the leads they may edit (router/rules/access.py); an admin all. The journal and
the undo are an admin's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from crm_core.duplicates import CRITERIA
from crm_core.merges import MergeRefused
from crm_core.store import Store
from router.app.clock import Clock
from router.protocol.times import iso
from router.protocol.views import lead_view
from router.rules.access import Viewer, can_edit_lead, can_view_lead
from router.rules.duplicates import (
    MERGE_FIELDS,
    Member,
    arrange,
    merge_warnings,
    merged_fields,
)
from router.web.gate import Gate
from router.web.http import ApiError, json_response, query_time
from router.web.leads_api import tell_consoles

PAGE = 20
MERGE_MAX = 20  # records in one merge


def member_view(m: Member, matched: dict[str, int] | None = None) -> dict[str, Any]:
    """A lead of a duplicate group: the lead, its links, whether the viewer may merge it, what matched."""
    out = {
        **lead_view(m.lead),
        "dialog_count": m.dialogs,
        "message_count": m.messages,
        "editable": m.editable,
    }
    if matched is not None:
        out["matches"] = matched
    return out


class DuplicateRoutes:
    """GET /api/duplicates, POST /api/duplicates/skip, POST /api/merges/preview, POST /api/merges,
    GET /api/merges, POST /api/merges/{id}/undo."""

    def __init__(self, gate: Gate, store: Store, clock: Clock) -> None:
        self.gate = gate
        self.store = store
        self.clock = clock

    def register(self, app: web.Application) -> None:
        """Mount the routes."""
        r = app.router
        r.add_get("/api/duplicates", self.duplicates)
        r.add_post("/api/duplicates/skip", self.skip)
        r.add_post("/api/merges/preview", self.preview)
        r.add_post("/api/merges", self.merge)
        r.add_get("/api/merges", self.journal)
        r.add_post("/api/merges/{id}/undo", self.undo)

    def _member(self, v: Viewer, row: dict[str, Any]) -> Member:
        editable = can_edit_lead(v, row, row.get("open_dialogs", ()))
        return Member(row, row.get("dialog_count", 0), row.get("message_count", 0), editable)

    async def duplicates(self, request: web.Request) -> web.Response:
        """GET /api/duplicates?by=name|phone|email&after= — a page of duplicate groups, the main record first."""
        v = self.gate.viewer(await self.gate.operator(request))
        by = request.query.get("by", "phone")
        if by not in CRITERIA:
            raise ApiError(400, "bad_field", f"by must be one of {', '.join(CRITERIA)}")
        after = request.query.get("after") or None
        keys = await self.store.duplicate_keys(
            by, after=after, limit=PAGE, within=None if v.admin else v.login
        )
        rows = await self.store.duplicate_members(by, keys)
        skipped = await self.store.skipped_pairs([r["id"] for r in rows])
        of_key: dict[str, list[Member]] = {}
        for row in rows:
            if can_view_lead(v, row, row["open_dialogs"]):
                of_key.setdefault(row["dup_key"], []).append(self._member(v, row))
        groups = []
        for key in keys:
            for g in arrange(by, key, of_key.get(key, []), skipped):
                if g.main.editable:  # a group the viewer can do nothing about is not theirs to see
                    groups.append(
                        {
                            "key": key,
                            "main": member_view(g.main),
                            "others": [member_view(o, matched) for o, matched in g.others],
                        }
                    )
        return json_response({"by": by, "groups": groups, "next": keys[-1] if len(keys) == PAGE else None})

    async def skip(self, request: web.Request) -> web.Response:
        """POST /api/duplicates/skip {a, b}: the two leads are not duplicates of each other."""
        v = self.gate.viewer(await self.gate.operator(request))
        body = await self.gate.body(request)
        a, b = body.get("a"), body.get("b")
        if not isinstance(a, str) or not isinstance(b, str) or a == b:
            raise ApiError(400, "bad_field", "a and b must be the ids of two different leads")
        await self._records(v, [a, b])
        await self.store.skip_duplicates(a, b, v.login, self.clock.now())
        return json_response({"skipped": sorted([a, b])})

    async def _records(self, v: Viewer, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The leads of a merge, each live and editable by the viewer, or the error saying which is not."""
        rows = await self.store.merge_candidates(ids)
        for i in ids:
            row = rows.get(i)
            if row is None:
                raise ApiError(404, "not_found", f"no lead {i}")
            if not can_edit_lead(v, row, row["open_dialogs"]):
                raise ApiError(403, "forbidden", f"you may not change lead {i}")
            if row.get("merged_into"):
                raise ApiError(409, "merged_already", f"lead {i} was merged into another already")
        return rows

    async def _plan(
        self, request: web.Request
    ) -> tuple[Viewer, dict[str, Any], list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        v = self.gate.viewer(await self.gate.operator(request))
        body = await self.gate.body(request)
        main_id, dup_ids, choose = body.get("main"), body.get("duplicates"), body.get("choose") or {}
        if (
            not isinstance(main_id, str)
            or not isinstance(dup_ids, list)
            or not dup_ids
            or not all(isinstance(i, str) for i in dup_ids)
            or len(set(dup_ids) | {main_id}) != len(dup_ids) + 1
        ):
            raise ApiError(
                400, "bad_field", "main must be a lead's id and duplicates a list of other leads' ids"
            )
        if len(dup_ids) >= MERGE_MAX:
            raise ApiError(400, "bad_field", f"at most {MERGE_MAX - 1} duplicates in one merge")
        if not isinstance(choose, dict) or not all(isinstance(x, str) for x in choose.values()):
            raise ApiError(400, "bad_field", "choose maps a field to the id of the lead whose value it takes")
        rows = await self._records(v, [main_id, *dup_ids])
        main, dups = rows[main_id], [rows[i] for i in dup_ids]
        try:
            fields = merged_fields(main, dups, choose)
        except ValueError as exc:
            raise ApiError(400, "bad_field", str(exc)) from None
        chosen = fields.get("responsible")
        if chosen is not None and self.gate.settings.operator(chosen) is None:
            raise ApiError(400, "unknown_operator", "the responsible chosen is no longer an operator")
        return v, main, dups, fields, body

    async def preview(self, request: web.Request) -> web.Response:
        """POST /api/merges/preview {main, duplicates, choose}: the records side by side, the result, warnings."""
        v, main, dups, fields, _ = await self._plan(request)
        result = {f: fields.get(f, main.get(f)) for f in MERGE_FIELDS}
        combined: dict[str, list[dict[str, str]]] = {}
        for key in ("phones", "emails"):
            seen: dict[str, dict[str, str]] = {}
            for r in (main, *dups):
                for c in r[key]:
                    seen.setdefault(c["value"], c)
            combined[key] = list(seen.values())
        return json_response(
            {
                "records": [member_view(self._member(v, r)) for r in (main, *dups)],
                "result": {**result, **combined},
                "warnings": merge_warnings(main, dups, fields),
            }
        )

    async def merge(self, request: web.Request) -> web.Response:
        """POST /api/merges {main, duplicates, choose, confirm}: merge; a merge that takes a customer from an
        operator needs `confirm: true`."""
        v, main, dups, fields, body = await self._plan(request)
        warnings = merge_warnings(main, dups, fields)
        if warnings and body.get("confirm") is not True:
            raise ApiError(
                409,
                "confirm_needed",
                "this merge takes customers from " + ", ".join(sorted({w["operator"] for w in warnings})),
                warnings=warnings,
            )
        try:
            merge_id = await self.store.merge_leads(
                main["id"], [d["id"] for d in dups], fields, by=v.login, now=self.clock.now()
            )
        except MergeRefused as exc:
            raise ApiError(409, exc.code, exc.message) from None
        row = await self.store.get_lead(main["id"])
        assert row is not None
        await tell_consoles(self.gate, row, [main, *dups])
        return json_response({"merge_id": merge_id, "lead": lead_view(row)})

    async def journal(self, request: web.Request) -> web.Response:
        """GET /api/merges?before= — the merge journal, newest first (admins)."""
        self._admin(self.gate.viewer(await self.gate.operator(request)))
        before = query_time(request.query, "before")
        return json_response(
            {"merges": [_journal_view(m) for m in await self.store.list_merges(before=before)]}
        )

    async def undo(self, request: web.Request) -> web.Response:
        """POST /api/merges/{id}/undo (admins): the records and links as they were before the merge."""
        v = self.gate.viewer(await self.gate.operator(request))
        self._admin(v)
        try:
            done = await self.store.undo_merge(request.match_info["id"], by=v.login, now=self.clock.now())
        except MergeRefused as exc:
            raise ApiError(404 if exc.code == "not_found" else 409, exc.code, exc.message) from None
        rows = await self.store.merge_candidates([done["main_id"], *done["restored"]])
        await tell_consoles(self.gate, rows[done["main_id"]], list(rows.values()))
        return json_response({"main_id": done["main_id"], "restored": done["restored"]})

    @staticmethod
    def _admin(v: Viewer) -> None:
        if not v.admin:
            raise ApiError(403, "forbidden", "only an admin reads the merge journal and undoes a merge")


def _journal_view(m: dict[str, Any]) -> dict[str, Any]:
    rec = m["record"]
    return {
        "id": m["id"],
        "at": iso(m["at"]),
        "by": m["by"],
        "main": {"id": m["main_id"], "name": rec["main"].get("name") or ""},
        "duplicates": [
            {
                "id": d["lead"]["id"],
                "name": d["lead"].get("name") or "",
                "dialogs": len(d["dialogs"]),
                "identities": len(d["identities"]),
            }
            for d in rec["duplicates"]
        ],
        "fields": {f: {"before": b, "after": a} for f, (b, a) in rec["fields"].items()},
        "undone_by": m.get("undone_by"),
        "undone_at": iso(m.get("undone_at")),
    }
