"""Who is asking: the operator behind a request's session, what they may see, and a JSON body read safely."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from router.app.settings import Settings
from router.rules.access import Viewer
from router.web.auth import Sessions
from router.web.http import ApiError
from router.web.hub import ConsoleHub

COOKIE = "openlines_session"


class Gate:
    """Resolves a request to an operator and their access profile; every console route starts here."""

    def __init__(self, settings: Settings, sessions: Sessions, hub: ConsoleHub) -> None:
        self.settings = settings
        self.sessions = sessions
        self.hub = hub

    @staticmethod
    def token(request: web.Request) -> str | None:
        """The session token: a bearer header, else the console's cookie."""
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[7:].strip()
        return request.cookies.get(COOKIE)

    async def operator(self, request: web.Request) -> str:
        """The logged-in operator, or a 401."""
        login = await self.sessions.login_of(self.token(request))
        if login is None or self.settings.operator(login) is None:
            raise ApiError(401, "unauthorized", "log in first")
        return login

    async def body(self, request: web.Request) -> dict[str, Any]:
        """The request's JSON object, or a 4xx saying what is wrong with it."""
        if request.content_type != "application/json":
            # a cross-site form can post text/plain without a preflight; JSON only shuts that door (login CSRF)
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise ApiError(400, "bad_json", "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "bad_json", "the body must be a JSON object")
        return body

    def viewer(self, login: str) -> Viewer:
        """The access profile of a logged-in operator."""
        op = self.settings.operator(login)
        return Viewer(login, op is not None and op.role == "admin", frozenset(self.settings.lines_of(login)))

    def lines_of(self, v: Viewer) -> list[str]:
        """The lines whose dialogs the viewer lists: every line for an admin."""
        return [ln.id for ln in self.settings.lines] if v.admin else sorted(v.lines)

    def operator_view(self, login: str) -> dict[str, Any]:
        """An operator as the console shows them (presence as this process knows it)."""
        op = self.settings.operator(login)
        assert op is not None
        return {
            "login": op.login,
            "name": op.name,
            "role": op.role,
            "lines": self.settings.lines_of(login),
            "presence": self.hub.presence(login),
        }
