"""The console's dialogs: lists, one dialog, its messages, read marks, its files both ways; the admins' dead
letters."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from crm_core.ids import new_id
from crm_core.search import decode_cursor, encode_cursor
from crm_core.store import Store
from crm_core.web_reads import activity_key
from queues.bus import CONSOLE
from queues.messages import ConsoleEvent
from router.app import log_events as ev
from router.app.clock import Clock
from router.app.logs import get
from router.protocol.views import THREAD_EVENTS, dead_letter_view, dialog_view, event_view, message_view
from router.rules.access import can_view_dialog
from router.web.files import Files, send_file
from router.web.gate import Gate
from router.web.http import ApiError, json_response, multipart_file

log = get(__name__)


class DialogRoutes:
    """GET /api/dialogs[/{id}[/messages]], attachments, uploads; GET /api/admin/dead-letters."""

    def __init__(self, gate: Gate, store: Store, files: Files | None, clock: Clock) -> None:
        self.gate = gate
        self.clock = clock
        self.settings = gate.settings
        self.store = store
        self.files = files
        self.line_names = {ln.id: ln.name for ln in gate.settings.lines}

    def register(self, app: web.Application) -> None:
        """Mount the routes."""
        r = app.router
        r.add_get("/api/dialogs", self.dialogs)
        r.add_get("/api/dialogs/{id}", self.dialog)
        r.add_get("/api/dialogs/{id}/messages", self.messages)
        r.add_get("/api/dialogs/{id}/messages/{mid}/attachments/{n}", self.attachment)
        r.add_post("/api/dialogs/{id}/attachments", self.upload)
        r.add_post("/api/dialogs/{id}/read", self.read)
        r.add_get("/api/dialogs/{id}/events", self.events)
        r.add_get("/api/admin/dead-letters", self.dead_letters)

    async def _visible_dialog(self, request: web.Request) -> dict[str, Any]:
        v = self.gate.viewer(await self.gate.operator(request))
        row = await self.store.get_dialog(request.match_info["id"])
        if row is None:
            raise ApiError(404, "not_found", "no such dialog")
        if not can_view_dialog(v, row, lead_responsible=row.get("lead_responsible")):
            raise ApiError(403, "forbidden", "this dialog is not visible to you")
        return row

    async def dialogs(self, request: web.Request) -> web.Response:
        """GET /api/dialogs?state=offered|mine|invited|queued|closed|open, as far as the operator may see."""
        v = self.gate.viewer(await self.gate.operator(request))
        state = request.query.get("state", "open")
        lines = self.gate.lines_of(v)
        nxt: str | None = None
        if state == "offered":
            rows = await self.store.list_dialogs(states=["offered"], offered_to=v.login)
        elif state == "mine":
            rows = await self.store.list_dialogs(states=["assigned"], operator=v.login)
        elif state == "invited":  # dialogs colleagues invited me into
            rows = await self.store.list_dialogs(states=["assigned"], invited=v.login)
        elif state == "queued":
            rows = await self.store.list_dialogs(states=["queued"], lines=lines)
        elif state == "closed":  # the only list that grows without end: a page at a time
            operator = None if v.admin else v.login
            limit = _closed_limit(request.query.get("limit"))
            before = _closed_cursor(request.query.get("cursor"))
            rows = await self.store.list_dialogs(
                states=["closed"], lines=lines, operator=operator, limit=limit + 1, before=before
            )
            if len(rows) > limit:
                rows = rows[:limit]
                nxt = _closed_next(activity_key(rows[-1]))
        elif state == "open":
            rows = await self.store.list_dialogs(states=["queued", "offered", "assigned"], lines=lines)
            rows = [r for r in rows if can_view_dialog(v, r)]
        else:
            raise ApiError(400, "bad_field", "state must be offered, mine, invited, queued, closed or open")
        unread = await self.store.unread_counts(v.login, [r["id"] for r in rows])
        return json_response(
            {
                "dialogs": [
                    {**dialog_view(r, self.line_names), "unread": unread.get(r["id"], 0)} for r in rows
                ],
                "next": nxt,
            }
        )

    async def dialog(self, request: web.Request) -> web.Response:
        """GET /api/dialogs/{id}: with what is unread in it for the asking operator."""
        row = await self._visible_dialog(request)
        login = await self.gate.operator(request)
        unread = await self.store.unread_counts(login, [row["id"]])
        return json_response({**dialog_view(row, self.line_names), "unread": unread.get(row["id"], 0)})

    async def messages(self, request: web.Request) -> web.Response:
        """GET /api/dialogs/{id}/messages."""
        row = await self._visible_dialog(request)
        rows = await self.store.dialog_messages([row["id"]])
        return json_response({"messages": [message_view(m) for m in rows]})

    async def events(self, request: web.Request) -> web.Response:
        """GET /api/dialogs/{id}/events: what happened to the dialog, for the thread's system lines (operators
        only: the customer never sees them)."""
        row = await self._visible_dialog(request)
        rows = await self.store.dialog_events(row["id"])
        return json_response({"events": [event_view(e) for e in rows if e["kind"] in THREAD_EVENTS]})

    async def read(self, request: web.Request) -> web.Response:
        """POST /api/dialogs/{id}/read {message_id}: the operator has read the dialog up to that message (a mark
        never moves back); their other consoles are told, so every tab shows the same unread count."""
        row = await self._visible_dialog(request)
        login = await self.gate.operator(request)
        body = await self.gate.body(request)
        message_id = body.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise ApiError(400, "missing_field", "message_id is required (the newest message read)")
        at = await self.store.message_time(row["id"], message_id[:64])
        if at is None:
            raise ApiError(404, "not_found", "no such message in this dialog")
        await self.store.mark_read(login, row["id"], at)
        unread = (await self.store.unread_counts(login, [row["id"]])).get(row["id"], 0)
        frame = {"type": "dialog.read", "dialog_id": row["id"], "unread": unread}
        with contextlib.suppress(Exception):  # stored: a tab that misses it shows the count on its next load
            await self.gate.hub.bus.publish(CONSOLE, [ConsoleEvent(new_id(), (login,), frame)])
        return json_response({"dialog_id": row["id"], "unread": unread})

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
        try:
            body = await self.files.open(row["channel"], row["account"], meta)
        except (
            Exception
        ) as exc:  # the channel's API away (a network error, its 5xx): nothing of ours is broken
            log.warning(ev.FILES_FETCH_FAILED, channel=row["channel"], error=type(exc).__name__)
            raise ApiError(
                502, "channel_unavailable", "the channel could not be reached for this file; try again later"
            ) from None
        if body is None:
            raise ApiError(404, "not_found", "the channel no longer has this file")
        return await send_file(request, meta.get("name") or "file", body)

    async def upload(self, request: web.Request) -> web.Response:
        """POST /api/dialogs/{id}/attachments (multipart `file`): store a file to send with a reply."""
        row = await self._visible_dialog(request)
        login = await self.gate.operator(request)
        if self.files is None:
            raise ApiError(
                415, "unsupported_media_type", "send the file as multipart/form-data in a field `file`"
            )
        upload = await multipart_file(request, self.settings.limits.max_attachment_bytes)
        data, name, mime = upload.data, upload.name, upload.mime
        ref = await self.files.store.put(data, name=name, mime=mime)
        # its sender and dialog: a reply may carry only its own operator's uploads of that dialog, and an upload
        # never sent is removed after a grace (router/web/uploads.py)
        await self.store.track_upload(ref, login, row["id"], self.clock.now())
        return json_response({"ref": ref, "name": name, "mime": mime, "size": len(data)})

    # ---- admin ---------------------------------------------------------------------------------------

    async def dead_letters(self, request: web.Request) -> web.Response:
        """GET /api/admin/dead-letters?limit=N — the events the router gave up on, newest first (admins)."""
        v = self.gate.viewer(await self.gate.operator(request))
        if not v.admin:
            raise ApiError(403, "forbidden", "only an admin can read the dead letters")
        raw = request.query.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise ApiError(400, "bad_limit", "limit must be a whole number from 1 to 1000")
        letters = await self.gate.hub.bus.dead_letters(int(raw))
        return json_response({"dead_letters": [dead_letter_view(d) for d in letters]})


CLOSED_LIMIT_DEFAULT = 50
CLOSED_LIMIT_MAX = 100


def _closed_limit(raw: str | None) -> int:
    """The closed list's page size."""
    if raw is None:
        return CLOSED_LIMIT_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= CLOSED_LIMIT_MAX:
        raise ApiError(400, "bad_field", f"limit must be a whole number from 1 to {CLOSED_LIMIT_MAX}")
    return int(raw)


def _closed_next(key: tuple[datetime, str]) -> str:
    """The opaque cursor of the closed list's next page: the last row's (activity, id)."""
    at, dialog_id = key
    return encode_cursor("closed", f"{at.astimezone(UTC).isoformat()}|{dialog_id}")


def _closed_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The key in a closed-list cursor; 400 when it is not one `_closed_next` made."""
    if not cursor:
        return None
    try:
        at, _, dialog_id = decode_cursor("closed", cursor, limit=100).partition("|")
        when = datetime.fromisoformat(at)
    except ValueError:  # BadSearch is one
        raise ApiError(400, "bad_field", "cursor is not one this list gave") from None
    if when.tzinfo is None or not dialog_id or len(dialog_id) > 64:
        raise ApiError(400, "bad_field", "cursor is not one this list gave")
    return when, dialog_id
