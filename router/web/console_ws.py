"""The console websocket: frames in (take, reply, skip, transfer, close, presence) written to the inbound stream
in order, the hub's frames out."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from crm_core.ids import new_id
from queues.bus import INBOUND
from queues.messages import Attachment, OperatorCommand, typing_is_news
from router.app import log_events as ev
from router.app.clock import Clock
from router.app.logs import get
from router.protocol.times import iso
from router.web.auth import digest
from router.web.files import Files
from router.web.gate import Gate
from router.web.http import ApiError, error_response

log = get(__name__)
MAX_INFLIGHT = 64  # console commands of one socket being written to the queue at once
MAX_TRANSFER_NOTE = 1000  # characters of the note a transfer carries to the next operator


class ConsoleSocket:
    """GET /api/console/ws."""

    def __init__(self, gate: Gate, clock: Clock, files: Files | None) -> None:
        self.gate = gate
        self.settings = gate.settings
        self.hub = gate.hub
        self.clock = clock
        self.files = files

    def register(self, app: web.Application) -> None:
        """Mount the route."""
        app.router.add_get("/api/console/ws", self.websocket)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """The socket of one console tab."""
        gate = self.gate
        if gate.by_cookie(request) and not gate.same_origin(request, strict=True):
            # a page of another origin (a sibling site) opening the console's socket with the operator's cookie
            log.warning(ev.CONSOLE_ORIGIN_REFUSED, origin=request.headers.get("Origin", "")[:200])
            return error_response(
                403, "cross_site", "the console's socket opens only from the console's own pages"
            )
        token = gate.token(request)
        login = await gate.sessions.login_of(token)
        if token is None or login is None or self.settings.operator(login) is None:
            return error_response(401, "unauthorized", "log in first")
        hub = self.hub
        ws = hub.pusher.socket(heartbeat=30, max_msg_size=256 * 1024)
        await ws.prepare(request)
        hub.pusher.opened(ws, request)
        if request.query.get("batch") == "1":  # the client takes several frames in one `batch` frame
            hub.batching.add(ws)
        first = not hub.sockets.get(login)
        hub.sockets[login].add(ws)
        hub.watch(ws, digest(token))
        log.info(ev.CONSOLE_CONNECTED, operator=login)
        await ws.send_str(
            orjson.dumps({"type": "hello", "operator": self.gate.operator_view(login)}).decode()
        )
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
                    err = {"type": "error", "code": exc.code, "message": exc.message, **_about(raw.data)}
                    await ws.send_str(orjson.dumps(err).decode())
        finally:
            hub.sockets[login].discard(ws)
            hub.unwatch(ws)
            hub.batching.discard(ws)
            hub.pusher.closed(ws)
            log.info(ev.CONSOLE_DISCONNECTED, operator=login)
            if not hub.sockets[login]:
                del hub.sockets[login]
                await hub.tab(login, connected=False)
        return ws

    async def _attachments(self, refs: Any, login: str, dialog_id: str) -> tuple[Attachment, ...]:
        """The uploaded files a reply sends, by the refs the upload answered: the operator's own uploads to this
        dialog only."""
        if not isinstance(refs, list) or len(refs) > 10 or not all(isinstance(r, dict) for r in refs):
            raise ApiError(400, "bad_field", "attachments must be a list of at most 10 uploaded files")
        out = []
        for r in refs:
            ref = r.get("ref")
            if not isinstance(ref, str) or not ref.isalnum() or self.files is None:
                raise ApiError(400, "bad_field", "an attachment needs the ref its upload returned")
            upload = await self.hub.store.upload_of(ref)
            mine = upload is not None and upload["login"] == login and upload["dialog_id"] == dialog_id
            if not mine or not await self.files.store.exists(ref):
                raise ApiError(400, "bad_field", f"no uploaded file {ref} of yours in this dialog")
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
        if kind not in ("take", "reply", "skip", "transfer", "close", "typing", "reopen", "invite", "leave"):
            raise ApiError(400, "unknown_type", f"unknown frame type {kind!r}")
        dialog_id = frame.get("dialog_id")
        if not isinstance(dialog_id, str) or not dialog_id:
            raise ApiError(400, "missing_field", "dialog_id is required")
        extra: dict[str, Any] = {}
        if kind == "typing":
            active = frame.get("active")
            if not isinstance(active, bool):
                raise ApiError(400, "bad_field", "active must be true or false")
            if not _typing_news(ws, dialog_id, active, self.clock.now().timestamp()):
                return  # the same as a moment ago: the customer's indicator shows it already
            extra = {"active": active}
        elif kind == "reply":
            cmid, text, vis = frame.get("client_msg_id"), frame.get("text"), frame.get("visibility", "public")
            if not isinstance(cmid, str) or not cmid or len(cmid) > 128:
                raise ApiError(400, "missing_field", "client_msg_id is required (1-128 characters)")
            if not isinstance(text, str):
                raise ApiError(400, "missing_field", "text is required")
            files = await self._attachments(frame.get("attachments", []), login, dialog_id)
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
        elif kind in ("invite", "leave"):
            guest, replies = frame.get("operator"), frame.get("allow_replies", False)
            if kind == "invite" and not (isinstance(guest, str) and guest):
                raise ApiError(400, "missing_field", "invite needs operator (the colleague's login)")
            if guest is not None and not isinstance(guest, str):
                raise ApiError(400, "bad_field", "operator must be a login")
            if not isinstance(replies, bool):
                raise ApiError(400, "bad_field", "allow_replies must be true or false")
            extra = {"to_operator": guest or None, "allow_replies": replies}
        elif kind == "transfer":
            to_op, to_line = frame.get("to_operator"), frame.get("to_line")
            if not (isinstance(to_op, str) and to_op) and not (isinstance(to_line, str) and to_line):
                raise ApiError(400, "missing_field", "transfer needs to_operator or to_line")
            note = frame.get("note")
            note = "" if note is None else note
            if not isinstance(note, str) or len(note) > MAX_TRANSFER_NOTE:
                raise ApiError(
                    400, "bad_field", f"note must be text of at most {MAX_TRANSFER_NOTE} characters"
                )
            extra = {"to_operator": to_op or None, "to_line": to_line or None, "text": note.strip() or None}
        key = await self.hub.conversation_of(dialog_id)
        if key is None:
            raise ApiError(404, "not_found", "no such dialog")
        command = OperatorCommand(new_id(), login, kind, dialog_id, iso(self.clock.now()) or "", **extra)
        # the next frame is read while this one is written (the bus keeps their order): a round trip to the
        # queue per frame would cap what one console can send; a failed write is answered by an error frame
        written = self.hub.bus.enqueue([(INBOUND, key, command)])
        if written.done():  # the in-process bus took it at once: nothing to wait for or to call back later
            self._unwritten(written, login, ws, command)
            return
        written.add_done_callback(lambda done: self._unwritten(done, login, ws, command))
        inflight.append(written)
        while inflight and inflight[0].done():
            inflight.popleft()
        if len(inflight) >= MAX_INFLIGHT:  # the queue is slow or away: stop reading this socket for a while
            await asyncio.wait([inflight[0]])

    def _unwritten(
        self, done: asyncio.Future[None], login: str, ws: web.WebSocketResponse, command: OperatorCommand
    ) -> None:
        if done.cancelled() or done.exception() is None or command.command == "typing":
            return  # a lost typing frame only hides an indicator: nothing to send again
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


_TYPED: web.ResponseKey[dict[str, tuple[bool, float]]] = web.ResponseKey("typed", dict)  # per socket, dialog


def _typing_news(ws: web.WebSocketResponse, dialog_id: str, active: bool, now: float) -> bool:
    """Whether a socket's typing frame for a dialog says something new (`typing_is_news`): a console that sends
    one per keystroke costs the router a few events a dialog."""
    seen = ws.get(_TYPED)
    if seen is None:
        seen = ws[_TYPED] = {}
    if not typing_is_news(seen.get(dialog_id), active, now):
        return False
    if len(seen) > 100:  # an operator has at most a few dozen dialogs: forget the oldest
        seen.pop(next(iter(seen)))
    seen[dialog_id] = (active, now)
    return True


def _about(data: str) -> dict[str, str]:
    """The dialog and client message a refused frame named, so the console can tell which of its sends failed."""
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(frame, dict):
        return {}
    return {k: frame[k] for k in ("dialog_id", "client_msg_id") if isinstance(frame.get(k), str) and frame[k]}
