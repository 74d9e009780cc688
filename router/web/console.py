"""The operator API: the console's REST routes and its websocket, mounted together."""

from __future__ import annotations

from aiohttp import web

from crm_core.store import Store
from router.app.clock import Clock
from router.app.settings import Settings
from router.web.auth import Passwords, Sessions
from router.web.board_api import BoardRoutes
from router.web.console_ws import ConsoleSocket
from router.web.crm_api import CrmRoutes
from router.web.crm_files_api import CrmFileRoutes
from router.web.deal_files_api import DealFileRoutes
from router.web.deals_api import DealRoutes
from router.web.dialogs_api import DialogRoutes
from router.web.duplicates_api import DuplicateRoutes
from router.web.files import Files
from router.web.gate import Gate
from router.web.hub import ConsoleHub
from router.web.lead_files_api import LeadFileRoutes
from router.web.lead_lists_api import LeadListRoutes
from router.web.leads_api import LeadRoutes
from router.web.pages_api import ChatPageRoutes
from router.web.quick_answers_api import QuickAnswerRoutes
from router.web.search_api import SearchRoutes
from router.web.session_api import SessionRoutes


class ConsoleApi:
    """Every route of the operator API, each group with the gate that resolves who is asking."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        sessions: Sessions,
        passwords: Passwords,
        hub: ConsoleHub,
        clock: Clock,
        files: Files | None = None,
    ) -> None:
        self.gate = Gate(settings, sessions, hub)
        deals = DealRoutes(self.gate, store, clock)
        self.groups = (
            SessionRoutes(self.gate, passwords),
            DialogRoutes(self.gate, store, files, clock),
            LeadFileRoutes(self.gate, store, clock),  # before /api/leads/{id}: /api/leads/export is no lead
            LeadListRoutes(self.gate, store, clock),  # … nor is /api/leads/list
            LeadRoutes(self.gate, store, clock),
            DuplicateRoutes(self.gate, store, clock),
            QuickAnswerRoutes(self.gate, store, clock),
            BoardRoutes(self.gate, store, clock),
            DealFileRoutes(self.gate, store, clock, deals),  # before /api/deals/{id}: export is no deal
            deals,
            CrmRoutes(self.gate, store, clock, deals),
            CrmFileRoutes(self.gate, store, files, clock),
            ChatPageRoutes(self.gate),
            SearchRoutes(self.gate, store),
            ConsoleSocket(self.gate, clock, files),
        )

    def register(self, app: web.Application) -> None:
        """Mount the routes and the cross-site guard of the cookie-authenticated ones."""
        app.middlewares.append(self.gate.cross_site_guard)
        for group in self.groups:
            group.register(app)
