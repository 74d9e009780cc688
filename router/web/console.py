"""The operator API: REST (JSON) and the console websocket."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import orjson
from aiohttp import BodyPartReader, WSMsgType, web

from crm_core.ids import new_id
from crm_core.recognition import normalize_email, normalize_phone
from crm_core.store import Store
from queues.bus import INBOUND
from queues.messages import Attachment, OperatorCommand
from router.app import log_events as ev
from router.app.clock import Clock, iso
from router.app.logs import get
from router.app.settings import Settings
from router.protocol.views import dead_letter_view, dialog_view, lead_card_view, lead_view, message_view
from router.rules.access import Viewer, can_view_dialog, can_view_lead
from router.web.auth import Passwords, Sessions
from router.web.files import Files, download_headers
from router.web.http import ApiError, error_response, json_response
from router.web.hub import ConsoleHub

log = get(__name__)
MAX_INFLIGHT = 64  # console commands of one socket being written to the queue at once
COOKIE = "openlines_session"


class ConsoleApi:
    """REST handlers and the console websocket."""

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
        self.settings = settings
        self.store = store
        self.sessions = sessions
        self.passwords = passwords
        self.hub = hub
        self.clock = clock
        self.line_names = {ln.id: ln.name for ln in settings.lines}
        self.files = files

    def register(self, app: web.Application) -> None:
        """Mount the routes."""
        r = app.router
        r.add_post("/api/login", self.login)
        r.add_post("/api/logout", self.logout)
        r.add_get("/api/me", self.me)
        r.add_get("/api/meta", self.meta)
        r.add_get("/api/dialogs", self.dialogs)
        r.add_get("/api/dialogs/{id}", self.dialog)
        r.add_get("/api/dialogs/{id}/messages", self.messages)
        r.add_get("/api/dialogs/{id}/messages/{mid}/attachments/{n}", self.attachment)
        r.add_post("/api/dialogs/{id}/attachments", self.upload)
        r.add_get("/api/leads", self.leads)
        r.add_get("/api/leads/{id}", self.lead)
        r.add_patch("/api/leads/{id}", self.patch_lead)
        r.add_get("/api/console/ws", self.websocket)
        r.add_get("/api/admin/dead-letters", self.dead_letters)

    # ---- sessions ------------------------------------------------------------------------------------

    @staticmethod
    def _token(request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[7:].strip()
        return request.cookies.get(COOKIE)

    async def operator(self, request: web.Request) -> str:
        """The logged-in operator, or a 401."""
        login = await self.sessions.login_of(self._token(request))
        if login is None or self.settings.operator(login) is None:
            raise ApiError(401, "unauthorized", "log in first")
        return login

    async def _body(self, request: web.Request) -> dict[str, Any]:
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

    async def login(self, request: web.Request) -> web.Response:
        """POST /api/login."""
        body = await self._body(request)
        login, password = body.get("login"), body.get("password")
        if not isinstance(login, str) or not isinstance(password, str):
            raise ApiError(400, "missing_field", "login and password are required strings")
        if not self.passwords.check(login, password):
            log.info(ev.LOGIN_FAILED, operator=login[:64])
            raise ApiError(401, "bad_credentials", "wrong login or password")
        token = await self.sessions.create(login)
        log.info(ev.LOGIN_OK, operator=login)
        resp = json_response({"token": token, "operator": self._operator_view(login)})
        resp.set_cookie(COOKIE, token, httponly=True, samesite="Lax", path="/", max_age=7 * 86400)
        return resp

    async def logout(self, request: web.Request) -> web.Response:
        """POST /api/logout."""
        token = self._token(request)
        if token:
            await self.sessions.end(token)
        resp = json_response({"ok": True})
        resp.del_cookie(COOKIE, path="/")
        return resp

    def _operator_view(self, login: str) -> dict[str, Any]:
        op = self.settings.operator(login)
        assert op is not None
        return {
            "login": op.login,
            "name": op.name,
            "role": op.role,
            "lines": self.settings.lines_of(login),
            "presence": self.hub.presence(login),
        }

    async def me(self, request: web.Request) -> web.Response:
        """GET /api/me."""
        login = await self.operator(request)
        # with several web processes their consoles may be open in another one: presence from the shared state
        presence = (await self.hub.presences([login]))[login]
        return json_response(self._operator_view(login) | {"presence": presence})

    async def meta(self, request: web.Request) -> web.Response:
        """GET /api/meta: lines, operators and statuses for the console's pickers."""
        await self.operator(request)
        presence = await self.hub.presences(o.login for o in self.settings.operators)
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

    # ---- dialogs -------------------------------------------------------------------------------------

    def viewer(self, login: str) -> Viewer:
        """The access profile of a logged-in operator."""
        op = self.settings.operator(login)
        return Viewer(login, op is not None and op.role == "admin", frozenset(self.settings.lines_of(login)))

    def _my_lines(self, v: Viewer) -> list[str]:
        return [ln.id for ln in self.settings.lines] if v.admin else sorted(v.lines)

    async def _visible_dialog(self, request: web.Request) -> dict[str, Any]:
        v = self.viewer(await self.operator(request))
        row = await self.store.get_dialog(request.match_info["id"])
        if row is None:
            raise ApiError(404, "not_found", "no such dialog")
        if not can_view_dialog(v, row, lead_responsible=row.get("lead_responsible")):
            raise ApiError(403, "forbidden", "this dialog is not visible to you")
        return row

    async def _visible_lead(self, request: web.Request) -> tuple[Viewer, dict[str, Any]]:
        v = self.viewer(await self.operator(request))
        row = await self.store.get_lead(request.match_info["id"])
        if row is None:
            raise ApiError(404, "not_found", "no such lead")
        if not can_view_lead(v, row, row.get("dialogs", [])):
            raise ApiError(403, "forbidden", "this lead is not visible to you")
        return v, row

    async def dialogs(self, request: web.Request) -> web.Response:
        """GET /api/dialogs?state=offered|mine|queued|closed|open, as far as the operator may see."""
        v = self.viewer(await self.operator(request))
        state = request.query.get("state", "open")
        lines = self._my_lines(v)
        if state == "offered":
            rows = await self.store.list_dialogs(states=["offered"], limit=500)
            rows = [r for r in rows if v.login in (r.get("offered_to") or [])]
        elif state == "mine":
            rows = await self.store.list_dialogs(states=["assigned"], operator=v.login)
        elif state == "queued":
            rows = await self.store.list_dialogs(states=["queued"], lines=lines)
        elif state == "closed":
            operator = None if v.admin else v.login
            rows = await self.store.list_dialogs(states=["closed"], lines=lines, operator=operator, limit=50)
        elif state == "open":
            rows = await self.store.list_dialogs(states=["queued", "offered", "assigned"], lines=lines)
            rows = [r for r in rows if can_view_dialog(v, r)]
        else:
            raise ApiError(400, "bad_field", "state must be offered, mine, queued, closed or open")
        return json_response({"dialogs": [dialog_view(r, self.line_names) for r in rows]})

    async def dialog(self, request: web.Request) -> web.Response:
        """GET /api/dialogs/{id}."""
        return json_response(dialog_view(await self._visible_dialog(request), self.line_names))

    async def messages(self, request: web.Request) -> web.Response:
        """GET /api/dialogs/{id}/messages."""
        row = await self._visible_dialog(request)
        rows = await self.store.dialog_messages([row["id"]])
        return json_response({"messages": [message_view(m) for m in rows]})

    async def attachment(self, request: web.Request) -> web.StreamResponse:
        """GET …/attachments/{n}: the file, fetched lazily from the channel (or our store for uploads) and streamed."""
        row = await self._visible_dialog(request)
        msgs = [
            m for m in await self.store.dialog_messages([row["id"]]) if m["id"] == request.match_info["mid"]
        ]
        try:
            meta = (msgs[0]["attachments"] or [])[int(request.match_info["n"])] if msgs else None
        except (ValueError, IndexError):
            meta = None
        if not meta or self.files is None:
            raise ApiError(404, "not_found", "no such attachment")
        body = await self.files.open(row["channel"], row["account"], meta)
        if body is None:
            raise ApiError(404, "not_found", "the channel no longer has this file")
        mime, size, chunks = body
        resp = web.StreamResponse(headers=download_headers(meta.get("name") or "file", mime))
        if size is not None:
            resp.content_length = size
        await resp.prepare(request)
        async for chunk in chunks:
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def upload(self, request: web.Request) -> web.Response:
        """POST /api/dialogs/{id}/attachments (multipart `file`): store a file to send with a reply."""
        await self._visible_dialog(request)
        if self.files is None or not request.content_type.startswith("multipart/"):
            raise ApiError(
                415, "unsupported_media_type", "send the file as multipart/form-data in a field `file`"
            )
        reader = await request.multipart()
        part = await reader.next()
        if part is None or not isinstance(part, BodyPartReader) or part.name != "file":
            raise ApiError(400, "missing_field", "a multipart field `file` is required")
        limit = self.settings.limits.max_attachment_bytes
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) > limit:
                raise ApiError(413, "too_large", f"files are limited to {limit} bytes")
        name = (part.filename or "file").replace("/", "_").replace("\\", "_")[:200]
        mime = part.headers.get("Content-Type", "application/octet-stream")[:200]
        ref = await self.files.store.put(bytes(data), name=name, mime=mime)
        return json_response({"ref": ref, "name": name, "mime": mime, "size": len(data)})

    # ---- admin ---------------------------------------------------------------------------------------

    async def dead_letters(self, request: web.Request) -> web.Response:
        """GET /api/admin/dead-letters?limit=N — the events the router gave up on, newest first (admins)."""
        v = self.viewer(await self.operator(request))
        if not v.admin:
            raise ApiError(403, "forbidden", "only an admin can read the dead letters")
        raw = request.query.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise ApiError(400, "bad_limit", "limit must be a whole number from 1 to 1000")
        letters = await self.hub.bus.dead_letters(int(raw))
        return json_response({"dead_letters": [dead_letter_view(d) for d in letters]})

    # ---- leads ---------------------------------------------------------------------------------------

    async def leads(self, request: web.Request) -> web.Response:
        """GET /api/leads?query= — an operator finds the leads they are responsible for; an admin finds all."""
        v = self.viewer(await self.operator(request))
        query = request.query.get("query", "")[:200]
        rows = await self.store.search_leads(query, responsible=None if v.admin else v.login)
        return json_response({"leads": [lead_view(r) for r in rows]})

    async def lead(self, request: web.Request) -> web.Response:
        """GET /api/leads/{id}: with identities, dialogs and transcripts."""
        _, row = await self._visible_lead(request)
        return json_response(lead_card_view(row, self.line_names))

    async def patch_lead(self, request: web.Request) -> web.Response:
        """PATCH /api/leads/{id}: name, phone, email, status, responsible."""
        v, current = await self._visible_lead(request)
        body = await self._body(request)
        fields: dict[str, Any] = {}
        unknown = set(body) - {"name", "phone", "email", "status", "responsible"}
        if unknown:
            raise ApiError(400, "bad_field", f"cannot change {', '.join(sorted(unknown))}")
        if "name" in body:
            if not isinstance(body["name"], str) or len(body["name"]) > 200:
                raise ApiError(400, "bad_field", "name must be a string of at most 200 characters")
            fields["name"] = body["name"].strip()
        for name, norm in (("phone", normalize_phone), ("email", normalize_email)):
            if name in body:
                value = body[name]
                if value in (None, ""):
                    fields[name] = None
                elif not isinstance(value, str) or norm(value) is None:
                    raise ApiError(400, "bad_field", f"{name} is not a valid {name}")
                else:
                    fields[name] = norm(value)
        if "status" in body:
            if body["status"] not in self.settings.crm.statuses:
                raise ApiError(
                    400, "unknown_status", f"status must be one of {', '.join(self.settings.crm.statuses)}"
                )
            fields["status"] = body["status"]
        if "responsible" in body:
            resp = body["responsible"]
            if resp is not None and (not isinstance(resp, str) or self.settings.operator(resp) is None):
                raise ApiError(400, "unknown_operator", "responsible must be an operator's login or null")
            if (
                not v.admin
                and resp != current.get("responsible")
                and current.get("responsible") not in (None, v.login)
            ):
                raise ApiError(
                    403, "forbidden", "only an admin or the responsible operator can hand a lead over"
                )
            fields["responsible"] = resp
        lead_id = request.match_info["id"]
        if not await self.store.update_lead(lead_id, fields, self.clock.now()):
            raise ApiError(404, "not_found", "no such lead")
        row = await self.store.get_lead(lead_id)
        assert row is not None
        return json_response(lead_card_view(row, self.line_names))

    # ---- the console websocket -------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """GET /api/console/ws."""
        login = await self.sessions.login_of(self._token(request))
        if login is None or self.settings.operator(login) is None:
            return error_response(401, "unauthorized", "log in first")
        hub = self.hub
        ws = hub.pusher.socket(heartbeat=30, max_msg_size=256 * 1024)
        await ws.prepare(request)
        hub.pusher.opened(ws, request)
        if request.query.get("batch") == "1":  # the client takes several frames in one `batch` frame
            hub.batching.add(ws)
        first = not hub.sockets.get(login)
        hub.sockets[login].add(ws)
        log.info(ev.CONSOLE_CONNECTED, operator=login)
        await ws.send_str(orjson.dumps({"type": "hello", "operator": self._operator_view(login)}).decode())
        if first:
            await hub.tab(login, connected=True)
        inflight: deque[asyncio.Future[None]] = deque()  # commands published, not yet written (oldest first)
        try:
            async for raw in ws:
                if raw.type == WSMsgType.ERROR:
                    break
                if raw.type != WSMsgType.TEXT:
                    continue
                try:
                    await self._frame(login, raw.data, ws, inflight)
                except ApiError as exc:
                    log.info(ev.CONSOLE_BAD_FRAME, operator=login, code=exc.code)
                    err = {"type": "error", "code": exc.code, "message": exc.message}
                    await ws.send_str(orjson.dumps(err).decode())
        finally:
            hub.sockets[login].discard(ws)
            hub.batching.discard(ws)
            hub.pusher.closed(ws)
            log.info(ev.CONSOLE_DISCONNECTED, operator=login)
            if not hub.sockets[login]:
                del hub.sockets[login]
                await hub.tab(login, connected=False)
        return ws

    async def _attachments(self, refs: Any) -> tuple[Attachment, ...]:
        """The uploaded files a reply sends, by the refs the upload answered."""
        if not isinstance(refs, list) or len(refs) > 10 or not all(isinstance(r, dict) for r in refs):
            raise ApiError(400, "bad_field", "attachments must be a list of at most 10 uploaded files")
        out = []
        for r in refs:
            ref = r.get("ref")
            if not isinstance(ref, str) or not ref.isalnum() or self.files is None:
                raise ApiError(400, "bad_field", "an attachment needs the ref its upload returned")
            if not await self.files.store.exists(ref):
                raise ApiError(400, "bad_field", f"no uploaded file {ref}")
            name, mime, size = str(r.get("name") or "file")[:200], str(r.get("mime") or ""), r.get("size")
            out.append(
                Attachment(
                    name, mime or "application/octet-stream", size if isinstance(size, int) else None, ref
                )
            )
        return tuple(out)

    async def _frame(
        self, login: str, data: str, ws: web.WebSocketResponse, inflight: deque[asyncio.Future[None]]
    ) -> None:
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ApiError(400, "bad_json", "the frame is not valid JSON") from None
        if not isinstance(frame, dict):
            raise ApiError(400, "bad_json", "the frame must be a JSON object")
        kind = frame.get("type")
        if kind == "presence":
            status = frame.get("status")
            if status not in ("online", "away"):
                raise ApiError(400, "bad_field", "status must be online or away")
            await self.hub.tab(login, connected=True, want=status)
            return
        if kind not in ("take", "reply", "skip", "transfer", "close"):
            raise ApiError(400, "unknown_type", f"unknown frame type {kind!r}")
        dialog_id = frame.get("dialog_id")
        if not isinstance(dialog_id, str) or not dialog_id:
            raise ApiError(400, "missing_field", "dialog_id is required")
        extra: dict[str, Any] = {}
        if kind == "reply":
            cmid, text, vis = frame.get("client_msg_id"), frame.get("text"), frame.get("visibility", "public")
            if not isinstance(cmid, str) or not cmid or len(cmid) > 128:
                raise ApiError(400, "missing_field", "client_msg_id is required (1-128 characters)")
            if not isinstance(text, str):
                raise ApiError(400, "missing_field", "text is required")
            files = await self._attachments(frame.get("attachments", []))
            text = text.strip()
            if not text and not files:
                raise ApiError(400, "empty_message", "the message is empty")
            if len(text) > self.settings.limits.max_message_length:
                raise ApiError(
                    400,
                    "message_too_long",
                    f"text is longer than {self.settings.limits.max_message_length} characters",
                )
            if vis not in ("public", "internal"):
                raise ApiError(400, "bad_field", "visibility must be public or internal")
            extra = {"client_msg_id": cmid, "text": text, "visibility": vis, "attachments": files}
        elif kind == "transfer":
            to_op, to_line = frame.get("to_operator"), frame.get("to_line")
            if not (isinstance(to_op, str) and to_op) and not (isinstance(to_line, str) and to_line):
                raise ApiError(400, "missing_field", "transfer needs to_operator or to_line")
            extra = {"to_operator": to_op or None, "to_line": to_line or None}
        key = await self.hub.conversation_of(dialog_id)
        if key is None:
            raise ApiError(404, "not_found", "no such dialog")
        command = OperatorCommand(new_id(), login, kind, dialog_id, iso(self.clock.now()) or "", **extra)
        # the next frame is read while this one is written (the bus keeps their order): a round trip to the
        # queue per frame would cap what one console can send; a failed write is answered by an error frame
        written = self.hub.bus.enqueue([(INBOUND, key, command)])
        written.add_done_callback(lambda done: self._unwritten(done, login, ws, command))
        inflight.append(written)
        while inflight and inflight[0].done():
            inflight.popleft()
        if len(inflight) >= MAX_INFLIGHT:  # the queue is slow or away: stop reading this socket for a while
            await asyncio.wait([inflight[0]])

    def _unwritten(
        self, done: asyncio.Future[None], login: str, ws: web.WebSocketResponse, command: OperatorCommand
    ) -> None:
        if done.cancelled() or done.exception() is None:
            return
        log.warning(ev.CONSOLE_BAD_FRAME, operator=login, code="unavailable", error=str(done.exception()))
        err: dict[str, Any] = {
            "type": "error",
            "code": "unavailable",
            "message": "the command could not be taken now; send it again",
            "dialog_id": command.dialog_id,
        }
        if command.client_msg_id:
            err["client_msg_id"] = command.client_msg_id
        if not ws.closed:
            asyncio.get_running_loop().create_task(ws.send_str(orjson.dumps(err).decode()))
