"""The supervisor's live board (admins): every open dialog by operator and by line, waits, loads and presence."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from crm_core.store import Store
from router.app.clock import Clock
from router.rules.board import Recent, Seat, board
from router.web.gate import Gate
from router.web.http import ApiError, json_response

# the dialogs operators have (offered, assigned) are all read: there are at most as many as seats allow; of the queue
# (a backlog may be any size) the board counts all and lists the longest-waiting QUEUED_SHOWN
STAFFED_DIALOGS = 100_000
QUEUED_SHOWN = 1000
RECENT = timedelta(hours=24)  # the board's figures of closed dialogs and ratings cover this long


class BoardRoutes:
    """GET /api/admin/board."""

    def __init__(self, gate: Gate, store: Store, clock: Clock) -> None:
        self.gate = gate
        self.store = store
        self.clock = clock
        s = gate.settings
        self.lines = {ln.id: ln.name for ln in s.lines}
        self.scales = {ln.id: ln.rating.scale if ln.rating else None for ln in s.lines}
        capacity = s.capacities()  # the rule the engine routes by
        self.seats = [
            Seat(
                o.login,
                o.name,
                o.role,
                tuple(s.lines_of(o.login)),
                {line: capacity[(line, o.login)] for line in s.lines_of(o.login)},
            )
            for o in s.operators
        ]

    def register(self, app: web.Application) -> None:
        """Mount the route."""
        app.router.add_get("/api/admin/board", self.board)

    async def board(self, request: web.Request) -> web.Response:
        """GET /api/admin/board: the board as it is now (the console refreshes it on the dialog frames it gets)."""
        v = self.gate.viewer(await self.gate.operator(request))
        if not v.admin:
            raise ApiError(403, "forbidden", "only an admin can see the supervisor's board")
        staffed = await self.store.list_dialogs(states=["offered", "assigned"], limit=STAFFED_DIALOGS)
        queued = await self.store.longest_queued(QUEUED_SHOWN)
        queue = await self.store.queue_figures()
        presence = await self.gate.hub.presences([s.login for s in self.seats])
        now = self.clock.now()
        recent = Recent(tuple(await self.store.closed_since(now - RECENT)), self.scales)
        return json_response(board([*queued, *staffed], self.seats, presence, self.lines, now, recent, queue))
