"""Deals over REST (docs/protocol.md, "Deals"): made by hand, listed with filters, on a board by stage, read as a
card with its timeline, changed (a stage move refused with the fields it still needs), noted, handed over in bulk."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from crm_core.deal_lists import DEAL_SORTS, DealFilter
from crm_core.deals import DealConflict
from crm_core.lead_lists import NOBODY
from crm_core.recognition import one_line
from crm_core.store import Store
from router.app.clock import Clock
from router.app.deal_settings import Pipeline
from router.protocol.deal_views import amount_text, deal_card_view, deal_view
from router.rules.access import Viewer, can_edit_lead, can_view_lead
from router.rules.deals import MoveRefused, move, needs_reminder, parse_amount
from router.web.field_query import custom_values, field_tests
from router.web.gate import Gate
from router.web.http import ApiError, json_response, query_time
from router.web.paging import next_cursor, page_ask

HAND_OVER_MAX = 10_000
NOTE_MAX = 4000
EDITABLE = {"title", "amount", "currency", "responsible", "request", "fields", "stage", "company", "version"}


class DealRoutes:
    """/api/deals…"""

    def __init__(self, gate: Gate, store: Store, clock: Clock) -> None:
        self.gate = gate
        self.crm = gate.settings.crm
        self.store = store
        self.clock = clock
        self.line_names = {ln.id: ln.name for ln in gate.settings.lines}

    def register(self, app: web.Application) -> None:
        """Mount the routes (the fixed paths before /api/deals/{id})."""
        r = app.router
        r.add_get("/api/deals/list", self.list_deals)
        r.add_get("/api/deals/board", self.board)
        r.add_post("/api/deals/hand-over", self.hand_over)
        r.add_post("/api/deals", self.create)
        r.add_get("/api/deals/{id}", self.card)
        r.add_patch("/api/deals/{id}", self.patch)
        r.add_post("/api/deals/{id}/notes", self.note)

    # ---- reading -------------------------------------------------------------------------------
    def pipeline_of(self, pipeline_id: str | None) -> Pipeline:
        """The pipeline of that id (None: the default one), or a 400."""
        p = self.crm.deal_pipeline(pipeline_id)
        if p is None:
            raise ApiError(
                400, "unknown_pipeline", f"pipeline is one of {', '.join(x.id for x in self.crm.pipelines)}"
            )
        return p

    def _stale(self, row: Mapping[str, Any]) -> bool:
        return needs_reminder(
            row["activity_at"], row.get("closed_at") is not None, self.clock.now(), self.crm.remind_after_days
        )

    def deal_filter(self, v: Viewer, q: Mapping[str, str]) -> DealFilter:
        """pipeline, stage=S1,S2, state=open|won|lost, responsible=LOGIN|none, line, source, created_from/_to,
        changed_from/_to, stale=1, q (words), f.<field>=value, lead (the customer's), channel (with a dialog
        in it); an operator's are always
        their own deals."""
        pipeline = self.pipeline_of(q["pipeline"]) if q.get("pipeline") else None
        stages = tuple(s for s in q.get("stage", "").split(",") if s)
        known = {s.id for p in ([pipeline] if pipeline else self.crm.pipelines) for s in p.stages}
        if set(stages) - known:
            raise ApiError(400, "unknown_stage", f"no stage {', '.join(sorted(set(stages) - known))}")
        state = q.get("state") or None
        if state not in (None, "open", "won", "lost"):
            raise ApiError(400, "bad_field", "state is open, won or lost")
        responsible = q.get("responsible") or None
        if not v.admin:
            responsible = v.login
        elif responsible == "none":
            responsible = NOBODY
        days = self.crm.remind_after_days
        stale = self.clock.now() - timedelta(days=days) if q.get("stale") == "1" and days else None
        return DealFilter(
            pipeline=pipeline.id if pipeline else None,
            stages=stages,
            state=state,
            responsible=responsible,
            line=q.get("line") or None,
            source=q.get("source") or None,
            created_from=query_time(q, "created_from"),
            created_to=query_time(q, "created_to"),
            changed_from=query_time(q, "changed_from"),
            changed_to=query_time(q, "changed_to"),
            stale_before=stale,
            query=q.get("q", "")[:200],
            fields=field_tests(self.crm.fields.deal, q),
            lead=q.get("lead") or None,
            channel=q.get("channel") or None,
        )

    async def list_deals(self, request: web.Request) -> web.Response:
        """GET /api/deals/list?…filters…&sort=updated|created|amount|title|activity&order=&limit=&cursor="""
        v = self.gate.viewer(await self.gate.operator(request))
        ask = page_ask(
            request.query, "deals", DEAL_SORTS, times=("updated", "created", "activity"), ascending=("title",)
        )
        rows = await self.store.list_deals(
            self.deal_filter(v, request.query),
            sort=ask.sort,
            descending=ask.descending,
            after=ask.after,
            limit=ask.limit + 1,
        )
        nxt = next_cursor(ask, rows, DEAL_SORTS[ask.sort].key)
        return json_response(
            {"deals": [deal_view(r, stale=self._stale(r)) for r in rows[: ask.limit]], "next": nxt}
        )

    async def board(self, request: web.Request) -> web.Response:
        """GET /api/deals/board?pipeline=&…filters…: each stage's count, amount and latest deals."""
        v = self.gate.viewer(await self.gate.operator(request))
        pipeline = self.pipeline_of(request.query.get("pipeline") or None)
        f = self.deal_filter(v, {**request.query, "pipeline": pipeline.id})
        board = await self.store.deal_board(f, [s.id for s in pipeline.stages])
        return json_response(
            {
                "pipeline": pipeline.id,
                "stages": [
                    {
                        "id": s.id,
                        "count": board[s.id]["count"],
                        "amount": amount_text(board[s.id]["amount"]),
                        "deals": [deal_view(r, stale=self._stale(r)) for r in board[s.id]["deals"]],
                    }
                    for s in pipeline.stages
                ],
            }
        )

    async def _visible(self, request: web.Request) -> tuple[Viewer, dict[str, Any]]:
        v = self.gate.viewer(await self.gate.operator(request))
        row = await self.store.get_deal(request.match_info["id"])
        if row is None:
            raise ApiError(404, "not_found", "no such deal")
        if not can_view_lead(
            v, row, row["dialogs"]
        ):  # a deal is seen as a lead is: its responsible, its dialogs
            raise ApiError(403, "forbidden", "this deal is not visible to you")
        return v, row

    def _card(self, v: Viewer, row: dict[str, Any]) -> dict[str, Any]:
        return {
            **deal_card_view(row, self.line_names, stale=self._stale(row)),
            "editable": can_edit_lead(v, row, row["dialogs"]),
        }

    async def card(self, request: web.Request) -> web.Response:
        """GET /api/deals/{id}: the deal with its customer, contact, company, dialogs and timeline."""
        v, row = await self._visible(request)
        return json_response(self._card(v, row))

    # ---- changing ------------------------------------------------------------------------------
    def deal_values(self, body: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
        """The deal's own fields a body sets (checked), custom fields merged into the current ones."""
        out: dict[str, Any] = {}
        if "title" in body:
            if not isinstance(body["title"], str) or len(body["title"]) > 200:
                raise ApiError(400, "bad_field", "title: a string of at most 200 characters")
            out["title"] = one_line(body["title"])
        if "request" in body:
            if not isinstance(body["request"], str) or len(body["request"]) > 4000:
                raise ApiError(400, "bad_field", "request: text of at most 4000 characters")
            out["request"] = body["request"].strip()
        if "amount" in body:
            try:
                out["amount"] = parse_amount(body["amount"])
            except ValueError as exc:
                raise ApiError(400, "bad_field", str(exc)) from None
        if "currency" in body:
            cur = body["currency"]
            if not isinstance(cur, str) or len(cur) != 3 or not cur.isalpha() or not cur.isupper():
                raise ApiError(400, "bad_field", "currency: three capital letters (ISO 4217), e.g. EUR")
            out["currency"] = cur
        if "fields" in body:
            out["fields"] = custom_values(self.crm.fields.deal, body["fields"], current.get("fields") or {})
        return out

    def responsible_of(self, v: Viewer, body: Mapping[str, Any], current: Mapping[str, Any]) -> str | None:
        """The new responsible a body names: an operator, given by an admin or by the current responsible."""
        resp = body["responsible"]
        if resp is not None and (not isinstance(resp, str) or self.gate.settings.operator(resp) is None):
            raise ApiError(400, "unknown_operator", "responsible must be an operator's login or null")
        if not v.admin and resp != current.get("responsible") and current.get("responsible") != v.login:
            raise ApiError(403, "forbidden", "only an admin or the responsible operator can hand a deal over")
        return resp

    async def create(self, request: web.Request) -> web.Response:
        """POST /api/deals {lead_id, title, pipeline, amount, currency, responsible, request, fields}: a deal for a
        customer the viewer may edit, in its pipeline's first stage."""
        v = self.gate.viewer(await self.gate.operator(request))
        body = await self.gate.body(request)
        unknown = set(body) - (EDITABLE - {"stage", "version", "company"}) - {"lead_id", "pipeline"}
        if unknown:
            raise ApiError(400, "bad_field", f"cannot set {', '.join(sorted(unknown))}")
        lead = await self.store.get_lead(str(body.get("lead_id", "")))
        if lead is None or lead.get("merged_into"):
            raise ApiError(400, "unknown_lead", "lead_id: the customer's lead")
        if not can_edit_lead(v, lead, lead.get("dialogs", [])):
            raise ApiError(403, "forbidden", "you may not change this customer's records")
        pipeline = self.pipeline_of(body.get("pipeline"))
        values = self.deal_values(body, {})
        responsible = self.responsible_of(v, body, {}) if "responsible" in body and v.admin else v.login
        deal_id = await self.store.create_deal(
            {
                "pipeline": pipeline.id,
                "stage": pipeline.stages[0].id,
                "currency": pipeline.currency,
                **values,
                "lead_id": lead["id"],
                "contact_id": await self.store.contact_of_lead(lead["id"]),
                "responsible": responsible,
                "source": "console",
            },
            by=v.login,
            now=self.clock.now(),
        )
        row = await self.store.get_deal(deal_id)
        assert row is not None
        return json_response(self._card(v, row), status=201)

    async def patch(self, request: web.Request) -> web.Response:
        """PATCH /api/deals/{id} {version, title, amount, currency, responsible, request, fields, stage}: refused
        with 409 `required_fields` (and `missing`) when the stage needs fields still empty, 409 `changed` when
        the deal changed since `version`."""
        v, current = await self._visible(request)
        if not can_edit_lead(v, current, current["dialogs"]):
            raise ApiError(
                403, "forbidden", "a guest of this customer's dialog reads the deal; its operator edits it"
            )
        body = await self.gate.body(request)
        unknown = set(body) - EDITABLE
        if unknown:
            raise ApiError(400, "bad_field", f"cannot change {', '.join(sorted(unknown))}")
        try:
            version = datetime.fromisoformat(str(body.get("version")))
        except ValueError:
            raise ApiError(400, "bad_field", "version: the deal's `version` as read") from None
        if version != current["updated_at"]:
            raise ApiError(409, "changed", "the deal changed since you read it: look again")
        values = self.deal_values(body, current)
        if "responsible" in body:
            values["responsible"] = self.responsible_of(v, body, current)
        if "stage" in body:
            pipeline = self.pipeline_of(current["pipeline"])
            try:
                moved = move(pipeline.stages, {**current, **values}, str(body["stage"]), self.clock.now())
            except MoveRefused as exc:
                names = {f.id: f.title for f in self.crm.fields.deal}
                raise ApiError(
                    409 if exc.missing else 400,
                    exc.code,
                    exc.message,
                    missing=[{"id": m, "name": names.get(m, m)} for m in exc.missing],
                ) from None
            values.update(stage=moved.stage, closed_at=moved.closed_at, won=moved.won)
        try:
            await self.store.update_deal(
                current["id"], values, version=current["updated_at"], by=v.login, now=self.clock.now()
            )
        except DealConflict:
            raise ApiError(409, "changed", "the deal changed since you read it: look again") from None
        row = await self.store.get_deal(current["id"])
        assert row is not None
        return json_response(self._card(v, row))

    async def note(self, request: web.Request) -> web.Response:
        """POST /api/deals/{id}/notes {text}: a note on the timeline (never sent to the customer)."""
        v, current = await self._visible(request)
        body = await self.gate.body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > NOTE_MAX:
            raise ApiError(400, "bad_field", f"text: 1 to {NOTE_MAX} characters")
        try:
            await self.store.add_deal_note(current["id"], text.strip(), by=v.login, now=self.clock.now())
        except DealConflict:
            raise ApiError(404, "not_found", "no such deal") from None
        row = await self.store.get_deal(current["id"])
        assert row is not None
        return json_response(self._card(v, row), status=201)

    async def hand_over(self, request: web.Request) -> web.Response:
        """POST /api/deals/hand-over {ids, responsible} (admins): the deals' responsible changed at once."""
        v = self.gate.viewer(await self.gate.operator(request))
        if not v.admin:
            raise ApiError(403, "forbidden", "only an admin hands deals over in bulk")
        body = await self.gate.body(request)
        ids, to = body.get("ids"), body.get("responsible")
        if (
            not isinstance(ids, list)
            or not 0 < len(ids) <= HAND_OVER_MAX
            or not all(isinstance(i, str) for i in ids)
        ):
            raise ApiError(400, "bad_field", f"ids: a list of 1 to {HAND_OVER_MAX} deal ids")
        if to is not None and (not isinstance(to, str) or self.gate.settings.operator(to) is None):
            raise ApiError(400, "unknown_operator", "responsible must be an operator's login or null")
        changed = await self.store.hand_over_deals(ids, to, by=v.login, now=self.clock.now())
        return json_response({"changed": changed})
