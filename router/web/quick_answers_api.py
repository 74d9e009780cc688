"""The console's quick answers: the shared ones of the operator's lines (YAML) and their own (store), searched,
filled in for a dialog; personal ones added, changed and removed by their owner only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crm_core.errors import DuplicateKey
from crm_core.ids import new_id
from crm_core.recognition import fold
from crm_core.store import Store
from router.app.clock import Clock
from router.rules.access import Viewer, can_view_dialog
from router.rules.quick_answers import SHORTCUT, TITLE_MAX, QuickAnswer, fill, shared_id, usable
from router.web.gate import Gate
from router.web.http import ApiError, json_response

_FIELDS = {"title", "text", "shortcut"}


class QuickAnswerRoutes:
    """GET and POST /api/quick-answers, PATCH and DELETE /api/quick-answers/{id}."""

    def __init__(self, gate: Gate, store: Store, clock: Clock) -> None:
        self.gate = gate
        self.settings = gate.settings
        self.store = store
        self.clock = clock
        self.shared: dict[str, list[QuickAnswer]] = {
            ln.id: [
                QuickAnswer(shared_id(ln.id, i), "line", qa.title, qa.text, qa.shortcut, ln.id)
                for i, qa in enumerate(ln.quick_answers)
            ]
            for ln in self.settings.lines
        }
        self.line_names = {ln.id: ln.name for ln in self.settings.lines}

    def register(self, app: web.Application) -> None:
        """Mount the routes."""
        r = app.router
        r.add_get("/api/quick-answers", self.list)
        r.add_post("/api/quick-answers", self.add)
        r.add_patch("/api/quick-answers/{id}", self.change)
        r.add_delete("/api/quick-answers/{id}", self.remove)

    async def list(self, request: web.Request) -> web.Response:
        """GET /api/quick-answers?dialog_id=&query= — with a dialog: its line's shared answers and the operator's
        own, each filled in for it; without: the shared answers of every line the operator is in, and their own."""
        v = self.gate.viewer(await self.gate.operator(request))
        query = request.query.get("query", "")[:200]
        personal = [_personal(r) for r in await self.store.list_quick_answers(v.login)]
        dialog_id = request.query.get("dialog_id")
        if not dialog_id:
            found = usable(self.shared, personal, self.gate.lines_of(v), query, fold)
            return json_response({"quick_answers": [self._view(qa) for qa in found]})
        d = await self._visible_dialog(v, dialog_id)
        op = self.settings.operator(v.login)
        values = {
            "customer.name": d.get("lead_name") or d.get("customer_name"),  # as the console names them
            "operator.name": op.name if op is not None else v.login,
            "line.name": self.line_names.get(d["line_id"]),
        }
        found = usable(self.shared, personal, [d["line_id"]], query, fold)
        return json_response({"quick_answers": [self._view(qa, fill(qa.text, values)) for qa in found]})

    async def add(self, request: web.Request) -> web.Response:
        """POST /api/quick-answers {title, text, shortcut?}: a personal quick answer."""
        login = await self.gate.operator(request)
        body = await self.gate.body(request)
        fields = self._fields(body, partial=False)
        now = self.clock.now()
        row = {"id": new_id(), "owner": login, **fields, "created_at": now, "updated_at": now}
        row.setdefault("shortcut", None)
        try:
            await self.store.add_quick_answer(row)
        except DuplicateKey:
            raise _taken(fields.get("shortcut")) from None
        return json_response({"quick_answer": self._view(_personal(row))}, status=201)

    async def change(self, request: web.Request) -> web.Response:
        """PATCH /api/quick-answers/{id} with any of title, text, shortcut (null removes it)."""
        row = await self._own(request)
        fields = self._fields(await self.gate.body(request), partial=True)
        try:
            await self.store.update_quick_answer(row["id"], fields, self.clock.now())
        except DuplicateKey:
            raise _taken(fields.get("shortcut")) from None
        changed = await self.store.get_quick_answer(row["id"])
        if changed is None:  # removed meanwhile (another tab)
            raise ApiError(404, "not_found", "no such quick answer")
        return json_response({"quick_answer": self._view(_personal(changed))})

    async def remove(self, request: web.Request) -> web.Response:
        """DELETE /api/quick-answers/{id}."""
        row = await self._own(request)
        await self.store.delete_quick_answer(row["id"])
        return web.Response(status=204)

    # ---- helpers ---------------------------------------------------------------------------------

    async def _visible_dialog(self, v: Viewer, dialog_id: str) -> dict[str, Any]:
        row = await self.store.get_dialog(dialog_id[:64])
        if row is None:
            raise ApiError(404, "not_found", "no such dialog")
        if not can_view_dialog(v, row, lead_responsible=row.get("lead_responsible")):
            raise ApiError(403, "forbidden", "this dialog is not visible to you")
        return row

    async def _own(self, request: web.Request) -> dict[str, Any]:
        """The asking operator's own quick answer named in the path (a shared or a colleague's one: 403)."""
        login = await self.gate.operator(request)
        answer_id = request.match_info["id"]
        if answer_id.startswith("line:"):
            raise ApiError(403, "forbidden", "a line's shared quick answers are changed in the configuration")
        row = await self.store.get_quick_answer(answer_id[:64])
        if row is None:
            raise ApiError(404, "not_found", "no such quick answer")
        if row["owner"] != login:
            raise ApiError(403, "forbidden", "this quick answer is a colleague's")
        return row

    def _fields(self, body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
        unknown = set(body) - _FIELDS
        if unknown:
            raise ApiError(400, "bad_field", f"cannot set {', '.join(sorted(unknown))}")
        if not partial and ("title" not in body or "text" not in body):
            raise ApiError(400, "bad_field", "a quick answer needs a title and a text")
        fields: dict[str, Any] = {}
        if "title" in body:
            title = body["title"]
            if not isinstance(title, str) or not title.strip() or len(title) > TITLE_MAX:
                raise ApiError(400, "bad_field", f"title must be 1 to {TITLE_MAX} characters")
            fields["title"] = " ".join(title.split())
        if "text" in body:
            text, most = body["text"], self.settings.limits.max_message_length
            if not isinstance(text, str) or not text.strip() or len(text) > most:
                raise ApiError(400, "bad_field", f"text must be 1 to {most} characters")
            fields["text"] = text
        if "shortcut" in body:
            cut = body["shortcut"]
            if cut in (None, ""):
                fields["shortcut"] = None
            elif not isinstance(cut, str) or not SHORTCUT.match(cut):
                raise ApiError(
                    400, "bad_field", "shortcut must be 1 to 30 letters, digits, underscores or hyphens"
                )
            else:
                fields["shortcut"] = cut.lower()
        return fields

    def _view(self, qa: QuickAnswer, filled: str | None = None) -> dict[str, Any]:
        return {
            "id": qa.id,
            "scope": qa.scope,
            "line_id": qa.line_id,
            "line_name": self.line_names.get(qa.line_id) if qa.line_id else None,
            "title": qa.title,
            "text": qa.text,
            "shortcut": qa.shortcut,
            "filled": filled,
        }


def _personal(row: dict[str, Any]) -> QuickAnswer:
    return QuickAnswer(row["id"], "personal", row["title"], row["text"], row["shortcut"], owner=row["owner"])


def _taken(shortcut: str | None) -> ApiError:
    return ApiError(
        409, "duplicate_shortcut", f"you already have a quick answer with the shortcut {shortcut!r}"
    )
