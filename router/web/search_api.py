"""The console's message search: GET /api/search (docs/protocol.md, "Search").

Access is the store's query (crm_core/search.py mirrors router/rules/access.py `can_view_dialog`), so a page is
never thinned after the fact. A `line` filter narrows what the operator may see and is not refused: for a line
they are not in, the results are the dialogs of that line they may see anyway (their own, offered or invited, or
of leads they are responsible for), usually none.
"""

from __future__ import annotations

from aiohttp import web

from crm_core.search import STATES, BadSearch, SearchAccess, SearchFilters
from crm_core.store import Store
from router.protocol.views import dialog_view, message_view
from router.web.gate import Gate
from router.web.http import ApiError, json_response, query_time

LIMIT_DEFAULT = 20
LIMIT_MAX = 50
QUERY_MAX = 1000  # characters; the store uses at most 16 words of 100 characters


class SearchRoutes:
    """GET /api/search."""

    def __init__(self, gate: Gate, store: Store) -> None:
        self.gate = gate
        self.store = store
        self.line_names = {ln.id: ln.name for ln in gate.settings.lines}

    def register(self, app: web.Application) -> None:
        """Mount the routes."""
        app.router.add_get("/api/search", self.search)

    async def search(self, request: web.Request) -> web.Response:
        """GET /api/search?q=&line=&channel=&operator=&state=&since=&until=&cursor=&limit= — messages with every
        word of q in the dialogs the operator may see, newest first, a page at a time."""
        v = self.gate.viewer(await self.gate.operator(request))
        query = request.query
        q = query.get("q")
        if q is None:
            raise ApiError(400, "missing_field", "q (the words to search for) is required")
        state = query.get("state") or None
        if state is not None and state not in STATES:
            raise ApiError(400, "bad_field", f"state must be one of {', '.join(STATES)}")
        line = query.get("line") or None
        filters = SearchFilters(
            lines=[line] if line is not None else None,
            channel=query.get("channel") or None,
            operator=query.get("operator") or None,
            state=state,
            since=query_time(query, "since"),
            until=query_time(query, "until"),
        )
        raw = query.get("limit", str(LIMIT_DEFAULT))
        if not raw.isdigit() or not 1 <= int(raw) <= LIMIT_MAX:
            raise ApiError(400, "bad_field", f"limit must be a whole number from 1 to {LIMIT_MAX}")
        access = None if v.admin else SearchAccess(v.login, v.lines)
        try:
            rows, nxt = await self.store.search_messages(
                q[:QUERY_MAX],
                access=access,
                filters=filters,
                cursor=query.get("cursor") or None,
                limit=int(raw),
            )
        except BadSearch as exc:
            raise ApiError(400, "bad_field", str(exc)) from None
        results = [
            {"message": message_view(r), "dialog": dialog_view(r["dialog"], self.line_names)} for r in rows
        ]
        return json_response({"results": results, "next": nxt})
