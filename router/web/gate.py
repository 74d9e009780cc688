"""Who is asking: the operator behind a request's session, what they may see, and a JSON body read safely."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from router.app import log_events as ev
from router.app.logs import get
from router.app.settings import Settings
from router.rules.access import Viewer
from router.web.auth import Sessions
from router.web.clients import client_address, networks, same_origin
from router.web.http import ApiError
from router.web.hub import ConsoleHub

log = get(__name__)
COOKIE = "openlines_session"
SECURE_COOKIE = (
    "__Host-openlines_session"  # over https: Secure, this host only, path / (the browser enforces it)
)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Gate:
    """Resolves a request to an operator and their access profile; every console route starts here."""

    def __init__(self, settings: Settings, sessions: Sessions, hub: ConsoleHub) -> None:
        self.settings = settings
        self.sessions = sessions
        self.hub = hub
        self.public_url = settings.http.public_url
        self.secure = bool(self.public_url and self.public_url.lower().startswith("https:"))
        self.cookie = SECURE_COOKIE if self.secure else COOKIE
        self.trusted = networks(settings.http.trusted_proxies)

    @staticmethod
    def bearer(request: web.Request) -> str | None:
        """The token of an `Authorization: Bearer` header (API clients; never sent by a browser on its own)."""
        auth = request.headers.get("Authorization", "")
        return auth[7:].strip() if auth.startswith("Bearer ") else None

    def token(self, request: web.Request) -> str | None:
        """The session token: a bearer header, else the console's cookie."""
        return self.bearer(request) or request.cookies.get(self.cookie)

    def by_cookie(self, request: web.Request) -> bool:
        """Whether the request is authenticated by the cookie (what a cross-site page gets the browser to send)."""
        return self.bearer(request) is None and self.cookie in request.cookies

    def same_origin(self, request: web.Request, *, strict: bool = False) -> bool:
        """Whether a browser sent it from the console's own origin; `strict`: an `Origin` header is required
        (a browser always sends one on a websocket handshake)."""
        if strict and "Origin" not in request.headers:
            return False
        return same_origin(request, self.public_url)

    def address(self, request: web.Request) -> str:
        """The client's address (through the trusted proxies)."""
        return client_address(request, self.trusted)

    def set_cookie(self, response: web.StreamResponse, token: str) -> None:
        """The session cookie: HttpOnly, SameSite=Lax; Secure with the __Host- prefix when the console is https."""
        response.set_cookie(
            self.cookie, token, httponly=True, samesite="Lax", path="/", max_age=7 * 86400, secure=self.secure
        )

    def drop_cookie(self, response: web.StreamResponse) -> None:
        """Remove the session cookie."""
        response.del_cookie(self.cookie, path="/", secure=self.secure)

    @web.middleware
    async def cross_site_guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Refuse an unsafe method authenticated by the cookie unless it came from the console's own origin
        (CSRF: SameSite=Lax does not cover a sibling site of the same registrable domain)."""
        if (
            request.method in UNSAFE
            and request.path.startswith("/api/")
            and self.by_cookie(request)
            and not self.same_origin(request)
        ):
            log.warning(ev.AUTH_CROSS_SITE, path=request.path, origin=request.headers.get("Origin", "")[:200])
            raise ApiError(403, "cross_site", "this request did not come from the console's own pages")
        return await handler(request)

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
