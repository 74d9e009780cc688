"""Signing in and out, and who I am: the session routes of the console."""

from __future__ import annotations

from aiohttp import web

from router.app import log_events as ev
from router.app.logs import get
from router.web.auth import Passwords
from router.web.gate import COOKIE, Gate
from router.web.http import ApiError, json_response

log = get(__name__)


class SessionRoutes:
    """POST /api/login, POST /api/logout, GET /api/me, GET /api/meta."""

    def __init__(self, gate: Gate, passwords: Passwords) -> None:
        self.gate = gate
        self.settings = gate.settings
        self.passwords = passwords

    def register(self, app: web.Application) -> None:
        """Mount the routes."""
        r = app.router
        r.add_post("/api/login", self.login)
        r.add_post("/api/logout", self.logout)
        r.add_get("/api/me", self.me)
        r.add_get("/api/meta", self.meta)

    async def login(self, request: web.Request) -> web.Response:
        """POST /api/login."""
        body = await self.gate.body(request)
        login, password = body.get("login"), body.get("password")
        if not isinstance(login, str) or not isinstance(password, str):
            raise ApiError(400, "missing_field", "login and password are required strings")
        if not self.passwords.check(login, password):
            log.info(ev.LOGIN_FAILED, operator=login[:64])
            raise ApiError(401, "bad_credentials", "wrong login or password")
        token = await self.gate.sessions.create(login)
        log.info(ev.LOGIN_OK, operator=login)
        resp = json_response({"token": token, "operator": self.gate.operator_view(login)})
        resp.set_cookie(COOKIE, token, httponly=True, samesite="Lax", path="/", max_age=7 * 86400)
        return resp

    async def logout(self, request: web.Request) -> web.Response:
        """POST /api/logout."""
        token = self.gate.token(request)
        if token:
            await self.gate.sessions.end(token)
        resp = json_response({"ok": True})
        resp.del_cookie(COOKIE, path="/")
        return resp

    async def me(self, request: web.Request) -> web.Response:
        """GET /api/me."""
        login = await self.gate.operator(request)
        # with several web processes their consoles may be open in another one: presence from the shared state
        presence = (await self.gate.hub.presences([login]))[login]
        return json_response(self.gate.operator_view(login) | {"presence": presence})

    async def meta(self, request: web.Request) -> web.Response:
        """GET /api/meta: lines, operators and statuses for the console's pickers."""
        await self.gate.operator(request)
        presence = await self.gate.hub.presences(o.login for o in self.settings.operators)
        return json_response(
            {
                "lines": [
                    {"id": ln.id, "name": ln.name, "mode": ln.distribution.mode} for ln in self.settings.lines
                ],
                "operators": [
                    {"login": o.login, "name": o.name, "role": o.role, "presence": presence[o.login]}
                    for o in self.settings.operators
                ],
                "statuses": list(self.settings.crm.statuses),
            }
        )
