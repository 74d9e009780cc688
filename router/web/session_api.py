"""Signing in and out, and who I am: the session routes of the console."""

from __future__ import annotations

import math
import time

from aiohttp import web

from router.app import log_events as ev
from router.app.logs import get
from router.web.auth import Passwords
from router.web.gate import Gate
from router.web.http import ApiError, json_response
from router.web.throttle import Policy, Throttle

log = get(__name__)


# failures before each further one locks: a login is guessed at slowly, an address tries a few logins first
BY_LOGIN = Policy(free=5)
BY_ADDRESS = Policy(free=20)
MAX_WAITING = 32  # sign-ins waiting for a verification slot: past this, "try again" at once


class SessionRoutes:
    """POST /api/login, POST /api/logout, GET /api/me, GET /api/meta."""

    def __init__(self, gate: Gate, passwords: Passwords) -> None:
        self.gate = gate
        self.settings = gate.settings
        self.passwords = passwords
        self.by_login = Throttle(BY_LOGIN)
        self.by_address = Throttle(BY_ADDRESS)
        self._waiting = 0

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
        login = login[:64]
        address = self.gate.address(request)
        wait = max(
            self.by_login.wait(login, time.monotonic()), self.by_address.wait(address, time.monotonic())
        )
        if wait > 0:
            self._throttled(login, address, wait)
        if self._waiting >= MAX_WAITING:  # a flood of sign-ins: refuse the surplus rather than queue it
            self._throttled(login, address, 1.0)
        self._waiting += 1
        try:
            ok = await self.passwords.verify(login, password)
        finally:
            self._waiting -= 1
        if not ok:
            now = time.monotonic()
            lock = max(self.by_login.failed(login, now), self.by_address.failed(address, now))
            log.info(ev.LOGIN_FAILED, operator=login, address=address, locked_for=round(lock, 1))
            raise ApiError(401, "bad_credentials", "wrong login or password")
        self.by_login.succeeded(login)
        token = await self.gate.sessions.create(login)
        log.info(ev.LOGIN_OK, operator=login)
        resp = json_response({"token": token, "operator": self.gate.operator_view(login)})
        self.gate.set_cookie(resp, token)
        return resp

    def _throttled(self, login: str, address: str, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        log.warning(ev.AUTH_THROTTLED, operator=login, address=address, retry_after=seconds)
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many sign-in attempts; try again in {seconds} s",
            retry_after=seconds,
        )

    async def logout(self, request: web.Request) -> web.Response:
        """POST /api/logout: the session ends here and its consoles close in every web process."""
        token = self.gate.token(request)
        if token and self.gate.sessions.genuine(token):
            login = await self.gate.sessions.login_of(token)
            key = await self.gate.sessions.end(token)
            if login is not None:
                await self.gate.hub.session_ended(login, key)
        resp = json_response({"ok": True})
        self.gate.drop_cookie(resp)
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
                    {
                        "id": ln.id,
                        "name": ln.name,
                        "mode": ln.distribution.mode,
                        "rating": ln.rating.scale if ln.rating else None,  # how its dialogs' ratings read
                        "statuses": ln.crm.statuses,  # its customers' lead statuses (None: every status)
                    }
                    for ln in self.settings.lines
                ],
                "operators": [
                    {"login": o.login, "name": o.name, "role": o.role, "presence": presence[o.login]}
                    for o in self.settings.operators
                ],
                "statuses": list(self.settings.crm.statuses),
                # each status's name, colour and kind (work, won, rejected), in the pipeline's order
                "pipeline": [s.model_dump() for s in self.settings.crm.pipeline],
                # the deal pipelines (stages with what each requires) and the custom fields of each record
                "deal_pipelines": [p.model_dump() for p in self.settings.crm.pipelines],
                "fields": self.settings.crm.fields.model_dump(),
                "remind_after_days": self.settings.crm.remind_after_days,
                "limits": {
                    "max_message_length": self.settings.limits.max_message_length,
                    "max_attachment_bytes": self.settings.limits.max_attachment_bytes,
                },
            }
        )
