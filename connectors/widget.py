"""The website channel: a websocket per visitor, a signed visitor token, `ack` only after the commit receipt.

The frames are in `connectors.widget_frames`, one visitor's connection in `connectors.widget_session`, the settings
in `connectors.widget_settings`; this module has the connector: the route, the origin check, the visitors' sockets.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from typing import Any, ClassVar

import orjson
import structlog
from aiohttp import WSCloseCode, web
from pydantic import BaseModel

from connectors.base import AttachmentBody, Binding, ConnectorContext, SendResult
from connectors.origins import client_address
from connectors.ratelimit import Limits, MemoryLimits
from connectors.widget_files import FileRoute, file_views, message_frame
from connectors.widget_frames import MAX_FRAME, error_frame, send_frame
from connectors.widget_page import CHAT_PAGES, PageRoute, SettingsRoute
from connectors.widget_session import RATING_EVENT, VisitorSession
from connectors.widget_settings import LineGuards, WidgetSettings
from connectors.widget_tokens import FILE_LINKS
from connectors.widget_uploads import UPLOADS, UploadRoute
from queues.messages import Attachment, OutboundMessage, Receipt, Typing
from queues.sockets import Push, Pusher

log = structlog.get_logger(__name__)
ECHO_MAX = 10_000  # visitors' messages remembered until their receipt


class WidgetConnector:
    """Serves `GET /widget/ws?line=LINE` for every line with a widget channel."""

    type: ClassVar[str] = "widget"
    Settings: ClassVar[builtins.type[BaseModel]] = WidgetSettings
    immediate: ClassVar[bool] = True  # `send` only pushes to this process's sockets: it never waits
    # a stored message is the visitor's: pushed to their open tabs now, in their history when they come back; the
    # engine stores it `sent`, and only a failure to deliver (a file gone from the store) is reported
    delivered_on_commit: ClassVar[bool] = True
    history_page: int = 30  # messages a hello carries, and each `history` page

    def __init__(self, bindings: list[Binding], ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.accounts = {b.account: b for b in bindings}
        self._guards = {b.account: LineGuards.of(b.settings) for b in bindings}
        self._sockets: dict[tuple[str, str], set[web.WebSocketResponse]] = defaultdict(set)
        self._pusher = Pusher()
        self._pending: set[asyncio.Task[None]] = set()  # refusals being sent
        # the visitors' messages waiting for their receipt: shown then on their other tabs and devices
        self._echo: OrderedDict[tuple[str, str], tuple[str, str, str, tuple[Attachment, ...], bool]] = (
            OrderedDict()
        )
        self._closing = False
        self.clock: Callable[[], float] = time.monotonic  # the frame limits' clock
        # the message limits: shared by the web processes when the daemon gives them (Redis), else this process's
        self.limits: Limits = ctx.limits or MemoryLimits()
        self.wall: Callable[[], float] = time.time  # their clock (shared buckets compare processes' clocks)

    async def start(self) -> None:
        """Mount the websocket route."""
        self.ctx.routes.add("GET", "/widget/ws", self._handle)
        files = FileRoute(self.ctx, self.type, self.line_of)
        uploads = UploadRoute(self, self.ctx.uploads)
        for method in ("GET", "OPTIONS"):
            self.ctx.routes.add(method, FILE_LINKS + "{link}", files.handle)
        for method in ("POST", "OPTIONS"):
            self.ctx.routes.add(method, UPLOADS, uploads.handle)
        self.ctx.routes.add("GET", CHAT_PAGES + "{line}", PageRoute(self.line_of).handle)
        self.ctx.routes.add("GET", "/widget/settings", SettingsRoute(self.line_of).handle)
        for account in self.accounts:
            self.ctx.health.set(account, "up")

    async def stop(self) -> None:
        """Close every visitor socket (browsers reconnect and resend what was not acked)."""
        self._closing = True
        sockets = [ws for group in self._sockets.values() for ws in group]
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"server shutdown")

    async def send(self, msg: OutboundMessage) -> SendResult:
        """Push an operator's message (with a link to each file) to every open tab of the visitor; history keeps
        it for the rest. A message with a file we no longer have is not sent at all: it fails with the reason."""
        checked = await self.deliverable(msg)
        if not checked.ok:
            return checked
        frame = {
            "type": "message",
            "id": msg.message_id,
            "dialog_id": msg.dialog_id,
            "author": {"kind": msg.author_kind, "name": msg.author_name},
            "text": msg.text,
            "ts": msg.ts,
            "attachments": file_views(self.ctx, msg.account, msg.chat_id, msg.message_id, msg.attachments),
        }
        if msg.ask_rating:  # the widget shows the scale's buttons under the question
            frame["ask_rating"] = {"scale": msg.ask_rating, "comment": msg.ask_comment, "rating": None}
        delivered = await self._broadcast((msg.account, msg.chat_id), frame)
        return SendResult(ok=True, external_id=f"{msg.message_id}@{delivered}")

    async def deliverable(self, msg: OutboundMessage) -> SendResult:
        """Whether the visitor can get the message: each of its files must be in our attachment store (the
        widget serves them from there); else a final failure that names the file."""
        for a in msg.attachments:
            if not a.ref or not await self.ctx.attachments.exists(a.ref):
                log.warning("widget.file.missing", line=msg.account, dialog=msg.dialog_id)
                return SendResult(
                    ok=False, error=f"the file {a.name!r} is not in the attachment store: not sent"
                )
        return SendResult(ok=True, external_id=msg.message_id)

    async def fetch_attachment(self, account: str, ref: str) -> AttachmentBody | None:
        """None: a visitor's files are in our attachment store (stored=True), read from there."""
        return None

    async def open_files(self) -> None:
        """Nothing to open: a visitor's files are in our attachment store."""

    async def typing(self, event: Typing) -> None:
        """An operator started or stopped typing: every open tab of the visitor shows it (with their name)."""
        frame = {"type": "typing", "dialog_id": event.dialog_id, "active": event.active, "name": event.name}
        await self._broadcast((event.account, event.chat_id), frame)

    async def on_receipt(self, receipt: Receipt) -> None:
        """The message is stored: `ack` it (every tab of the visitor gets it; the sender's tab matches it)."""
        if receipt.external_id.startswith(RATING_EVENT):  # a rating, stored or refused
            rated = {"type": "rated", "dialog_id": receipt.dialog_id, "error": receipt.error}
            await self._broadcast((receipt.account, receipt.chat_id), rated)
            return
        _, _, client_msg_id = receipt.external_id.partition(":")
        key = (receipt.account, receipt.chat_id)
        echo = self._echo.pop((receipt.account, receipt.external_id), None)
        files: list[dict[str, Any]] = []
        if echo is not None and receipt.message_id is not None:
            # the visitor's own links to their files: the sender's tab gets them with the ack
            files = file_views(self.ctx, key[0], key[1], receipt.message_id, echo[3])
        if echo is not None and receipt.message_id is not None and len(self._sockets.get(key, ())) > 1:
            text, ts, name, _, _ = (
                echo  # the sender's tab matches it to its own by client_msg_id, the others show it
            )
            mine: dict[str, Any] = {"type": "message", "id": receipt.message_id, "dialog_id": receipt.dialog_id,
                    "author": {"kind": "customer", "name": name}, "text": text, "ts": ts, "attachments": files,
                    "client_msg_id": client_msg_id}  # fmt: skip
            await self._broadcast(key, mine)
        elif echo is None and receipt.message_id is not None and not receipt.error and self._sockets.get(key):
            # sent through another web process (a signed-in user's other device): read back, for the tabs here
            stored = await self.ctx.history.message(self.type, key[0], key[1], receipt.message_id)
            if stored is not None:
                await self._broadcast(key, message_frame(self.ctx, key[0], key[1], stored))
        if receipt.error or receipt.message_id is None:
            frame: dict[str, Any] = {
                "type": "error",
                "code": receipt.error or "not_stored",
                "message": "the message could not be stored",
                "client_msg_id": client_msg_id,
            }
        else:
            frame = {
                "type": "ack",
                "client_msg_id": client_msg_id,
                "id": receipt.message_id,
                "dialog_id": receipt.dialog_id,
            }
            if files:
                frame["attachments"] = files
            if echo is not None and echo[4]:  # the text was made here (a form's answers): the sender shows it
                frame["text"] = echo[0]
        await self._broadcast(key, frame)

    def remember(
        self,
        account: str,
        external_id: str,
        text: str,
        ts: str,
        name: str,
        files: tuple[Attachment, ...] = (),
        *,
        made: bool = False,
    ) -> None:
        """A visitor's message handed to the bus: its text and files, shown on their other tabs once stored
        (`made`: the text was made by the server, from a form, so the sender's ack carries it too)."""
        self._echo[(account, external_id)] = (text, ts, name, files, made)
        if len(self._echo) > ECHO_MAX:  # a receipt that never came (a lost process): forgotten in time
            self._echo.popitem(last=False)

    async def _broadcast(self, key: tuple[str, str], frame: dict[str, Any]) -> int:
        data = orjson.dumps(frame)
        count = 0
        for ws in list(self._sockets.get(key, ())):
            pushed = await self._pusher.push(ws, data)
            if pushed is Push.SENT:
                count += 1
            elif pushed is Push.STALLED:  # the tab stopped reading: its connection is dropped, it reconnects
                self.forget(key, ws)
                log.warning("widget.send.stalled", line=key[0])
        return count

    # ---- the visitors' sockets and connections -------------------------------------------------

    def line_of(self, account: str) -> tuple[WidgetSettings, LineGuards] | None:
        """A widget line's settings and guards (None: no such line here)."""
        binding, guards = self.accounts.get(account), self._guards.get(account)
        return (binding.settings, guards) if binding is not None and guards is not None else None

    def join(self, key: tuple[str, str], ws: web.WebSocketResponse) -> None:
        """Count a socket among a visitor's tabs: the visitor's frames (messages, acks) go to it from now on."""
        self._sockets[key].add(ws)

    def forget(self, key: tuple[str, str], ws: web.WebSocketResponse) -> None:
        """No longer send a visitor's frames to a socket."""
        group = self._sockets.get(key)
        if group is not None:
            group.discard(ws)
            if not group:
                del self._sockets[key]

    def keep(self, task: asyncio.Task[None]) -> None:
        """Hold a background task (a refusal being sent) until it is done, so it is not collected meanwhile."""
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        account = request.query.get("line", "")
        binding = self.accounts.get(account)
        guards = self._guards.get(account)
        if guards is not None and not guards.origins.allows(origin := request.headers.get("Origin")):
            # refused before the upgrade, so a browser page on another site cannot talk to the line at all
            log.info("widget.origin.refused", line=account, origin=(origin or "")[:200] or None)
            body = {"code": "origin_not_allowed", "message": "this site may not open the chat of this line"}
            return web.Response(status=403, body=orjson.dumps(body), content_type="application/json")
        ws = self._pusher.socket(heartbeat=30, max_msg_size=MAX_FRAME)
        await ws.prepare(request)
        self._pusher.opened(ws, request)
        if self._closing:  # going away: the browser reconnects (to this process restarted, or another one)
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
            return ws
        if binding is None or guards is None:
            # said once and for good: the widget stops reconnecting and tells the visitor the chat is unavailable
            log.info("widget.line.unknown", line=account[:100])
            message = f"there is no chat line {account[:100]!r} here: check the widget's data-line"
            await send_frame(ws, error_frame("unknown_line", message))
            await ws.close()
            return ws
        forwarded = request.headers.get("X-Forwarded-For") if guards.trust_forwarded_for else None
        address = client_address(request.remote, forwarded)
        session = VisitorSession(self, ws, binding, guards, address)
        log.info("widget.connected", line=account)
        try:
            await session.run()
        finally:
            if session.visitor is not None:
                self.forget((account, session.visitor), ws)
            self._pusher.closed(ws)
            log.info("widget.disconnected", line=account)
        return ws
