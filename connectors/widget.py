"""The website channel: a websocket per visitor, a signed visitor token, `ack` only after the commit receipt."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import re
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import orjson
import structlog
from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.base import AttachmentBody, Binding, ConnectorContext, SendResult
from connectors.origins import OriginPolicy, client_address, split_origin
from connectors.ratelimit import FloodGuard, Limits, MemoryLimits, Rate, Verdict, retry_after
from queues.messages import InboundMessage, OutboundMessage, Receipt, SenderProfile
from queues.sockets import Push, Pusher

log = structlog.get_logger(__name__)
PROTOCOL = 1
MAX_FRAME = 64 * 1024
MAX_CLIENT_MSG_ID = 128
FRAME_RATE = Rate(per_second=20, burst=50)  # frames of any kind on one connection
FLOOD_CLOSE_AFTER = 5.0  # seconds of continuous flooding before the connection is closed (1008)
# C0 and C1 control characters and DEL, except tab and newline: invisible, and they break transcripts and CSVs
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class WidgetSettings(BaseModel):
    """The `widget` channel block of a line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["widget"]
    account: str | None = None  # defaults to the line id
    title: str = "Chat with us"
    token_ttl_days: int = Field(365, ge=1, le=3650)
    allowed_origins: list[str] = []  # empty: any site may embed the widget (the demo)
    trust_forwarded_for: bool = False
    rate_per_visitor: int = Field(30, ge=1, le=6000)  # messages a minute
    burst_per_visitor: int = Field(10, ge=1, le=1000)
    rate_per_ip: int = Field(120, ge=1, le=60000)
    burst_per_ip: int = Field(40, ge=1, le=10000)

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for entry in value:
            parsed = split_origin(entry)
            if parsed is None or (parsed[0] is None and not parsed[1]):
                raise ValueError(
                    f"{entry!r} is not an origin: write scheme://host[:port] (https://shop.example), "
                    "https://*.shop.example for its subdomains, or *.shop.example for them over http and https"
                )
        return value


@dataclass
class _LineGuards:
    """One widget line's origin policy and message rates."""

    origins: OriginPolicy
    per_visitor: Rate
    per_address: Rate
    trust_forwarded_for: bool

    @classmethod
    def of(cls, settings: WidgetSettings) -> _LineGuards:
        return cls(
            OriginPolicy(settings.allowed_origins),
            Rate.per_minute(settings.rate_per_visitor, settings.burst_per_visitor),
            Rate.per_minute(settings.rate_per_ip, settings.burst_per_ip),
            settings.trust_forwarded_for,
        )


class WidgetError(Exception):
    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WidgetConnector:
    """Serves `GET /widget/ws?line=LINE` for every line with a widget channel."""

    type: ClassVar[str] = "widget"
    Settings: ClassVar[builtins.type[BaseModel]] = WidgetSettings
    immediate: ClassVar[bool] = True  # `send` only pushes to this process's sockets: it never waits or fails

    def __init__(self, bindings: list[Binding], ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.accounts = {b.account: b for b in bindings}
        self._guards = {b.account: _LineGuards.of(b.settings) for b in bindings}
        self._sockets: dict[tuple[str, str], set[web.WebSocketResponse]] = defaultdict(set)
        self._pusher = Pusher()
        self._pending: set[asyncio.Task[None]] = set()  # refusals being sent
        self._closing = False
        self.clock: Callable[[], float] = time.monotonic  # the frame limits' clock
        # the message limits: shared by the web processes when the daemon gives them (Redis), else this process's
        self.limits: Limits = ctx.limits or MemoryLimits()
        self.wall: Callable[[], float] = time.time  # their clock (shared buckets compare processes' clocks)

    async def start(self) -> None:
        """Mount the websocket route."""
        self.ctx.routes.add("GET", "/widget/ws", self._handle)
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
        """Push an operator's message to every open tab of the visitor; history keeps it for the rest."""
        frame = {
            "type": "message",
            "id": msg.message_id,
            "author": {"kind": msg.author_kind, "name": msg.author_name},
            "text": msg.text,
            "ts": msg.ts,
        }
        delivered = await self._broadcast((msg.account, msg.chat_id), frame)
        return SendResult(ok=True, external_id=f"{msg.message_id}@{delivered}")

    async def fetch_attachment(self, account: str, ref: str) -> AttachmentBody | None:
        """The widget receives no files yet."""
        return None

    async def open_files(self) -> None:
        """The widget receives no files yet."""

    async def on_receipt(self, receipt: Receipt) -> None:
        """The message is stored: `ack` it (every tab of the visitor gets it; the sender's tab matches it)."""
        _, _, client_msg_id = receipt.external_id.partition(":")
        if receipt.error or receipt.message_id is None:
            frame: dict[str, Any] = {
                "type": "error",
                "code": receipt.error or "not_stored",
                "message": "the message could not be stored",
                "client_msg_id": client_msg_id,
            }
        else:
            frame = {"type": "ack", "client_msg_id": client_msg_id, "id": receipt.message_id}
        await self._broadcast((receipt.account, receipt.chat_id), frame)

    async def _broadcast(self, key: tuple[str, str], frame: dict[str, Any]) -> int:
        data = orjson.dumps(frame)
        count = 0
        for ws in list(self._sockets.get(key, ())):
            pushed = await self._pusher.push(ws, data)
            if pushed is Push.SENT:
                count += 1
            elif pushed is Push.STALLED:  # the tab stopped reading: its connection is dropped, it reconnects
                self._forget(key, ws)
                log.warning("widget.send.stalled", line=key[0])
        return count

    def _forget(self, key: tuple[str, str], ws: web.WebSocketResponse) -> None:
        group = self._sockets.get(key)
        if group is not None:
            group.discard(ws)
            if not group:
                del self._sockets[key]

    # ---- one visitor connection ----------------------------------------------------------------

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
        if binding is None or guards is None or self._closing:
            await _send(
                ws, {"type": "error", "code": "unknown_line", "message": f"no widget line {account!r}"}
            )
            await ws.close()
            return ws
        forwarded = request.headers.get("X-Forwarded-For") if guards.trust_forwarded_for else None
        address = client_address(request.remote, forwarded)
        flood = FloodGuard(FRAME_RATE, self.clock(), close_after=FLOOD_CLOSE_AFTER)
        visitor: str | None = None
        log.info("widget.connected", line=account)
        try:
            async for raw in ws:
                if raw.type == WSMsgType.ERROR:
                    # aiohttp already closed it: 1009 above MAX_FRAME, 1007 for text that is not UTF-8
                    code = getattr(raw.data, "code", None)
                    log.info("widget.frame.refused", line=account, code="protocol", close_code=code)
                    break
                verdict = flood.frame(self.clock())
                if verdict is not Verdict.ACCEPT:
                    if await _throttle(ws, account, verdict, flood):
                        break
                    continue
                frame: dict[str, Any] | None = None
                try:
                    if raw.type != WSMsgType.TEXT:
                        raise WidgetError("bad_json", "frames must be JSON text")
                    frame = _parse(raw.data)
                    kind = frame.get("type")
                    if kind == "hello":
                        # a refused hello keeps the socket with its visitor (it still gets their acks)
                        known = await self._hello(ws, binding, frame)
                        if visitor is not None and visitor != known:
                            self._forget((account, visitor), ws)
                        visitor = known
                    elif kind == "message":
                        if visitor is None:
                            raise WidgetError("hello_required", "send hello first")
                        await self._message(ws, account, visitor, address, frame)
                    else:
                        raise WidgetError("unknown_type", f"unknown frame type {kind!r}")
                except WidgetError as exc:
                    # a flood of refusals must not become a flood of log lines
                    (log.debug if exc.code == "rate_limited" else log.info)(
                        "widget.frame.refused", line=account, code=exc.code
                    )
                    await _send(ws, _refusal(exc, frame))
        finally:
            if visitor is not None:
                self._forget((account, visitor), ws)
            self._pusher.closed(ws)
            log.info("widget.disconnected", line=account)
        return ws

    async def _hello(self, ws: web.WebSocketResponse, binding: Binding, frame: dict[str, Any]) -> str:
        settings: WidgetSettings = binding.settings
        token = frame.get("visitor_token")
        visitor = None
        if token is not None:
            if not isinstance(token, str):
                raise WidgetError("bad_field", "visitor_token must be a string or null")
            payload = self.ctx.signer.verify(token, max_age_seconds=settings.token_ttl_days * 86400)
            if payload and payload.get("line") == binding.account and isinstance(payload.get("v"), str):
                visitor = payload["v"]
            else:
                log.info("widget.token.refused", line=binding.account)
                await _send(
                    ws, _error("invalid_token", "the visitor token is not valid here; a new one is issued")
                )
        if visitor is None:
            visitor = uuid.uuid4().hex
            token = self.ctx.signer.sign({"v": visitor, "line": binding.account, "iat": int(time.time())})
        # register before reading history, so nothing sent in between is missed (the client dedupes by id)
        self._sockets[(binding.account, visitor)].add(ws)
        conv = await self.ctx.history.conversation(self.type, binding.account, visitor)
        history = []
        for m in conv.messages:
            item: dict[str, Any] = {
                "type": "message",
                "id": m.id,
                "author": {"kind": m.author_kind, "name": m.author_name},
                "text": m.text,
                "ts": m.ts,
            }
            if m.author_kind == "customer" and m.external_id:
                item["client_msg_id"] = m.external_id.partition(":")[2]
            history.append(item)
        await _send(
            ws,
            {
                "type": "hello",
                "protocol": PROTOCOL,
                "visitor_token": token,
                "dialog_id": conv.open_dialog_id,
                "history": history,
                "title": settings.title,
            },
        )
        return visitor

    async def _message(
        self, ws: web.WebSocketResponse, account: str, visitor: str, address: str, frame: dict[str, Any]
    ) -> None:
        cmid = frame.get("client_msg_id")
        text = frame.get("text")
        if cmid is None or text is None:
            raise WidgetError("missing_field", "message needs client_msg_id and text")
        if not isinstance(cmid, str) or not cmid or len(cmid) > MAX_CLIENT_MSG_ID:
            raise WidgetError(
                "bad_field", f"client_msg_id must be a string of 1-{MAX_CLIENT_MSG_ID} characters"
            )
        if not isinstance(text, str):
            raise WidgetError("bad_field", "text must be a string")
        text = _CONTROL.sub("", text).strip()
        if not text:
            raise WidgetError("empty_message", "the message is empty")
        if len(text) > self.ctx.max_message_length:
            raise WidgetError(
                "message_too_long", f"text is longer than {self.ctx.max_message_length} characters"
            )
        guards = self._guards[account]
        buckets = [
            (f"widget:{account}:v:{visitor}", guards.per_visitor),
            (f"widget:{account}:ip:{address}", guards.per_address),
        ]
        try:
            wait = await self.limits.take(buckets, self.wall())
        except Exception as exc:  # Redis away: refused like a failed write, the client sends it again
            log.warning("widget.limits.failed", line=account, error=str(exc))
            raise _unavailable() from None
        if wait:
            # not published, so not stored: the client sends it again later with the same client_msg_id
            raise WidgetError("rate_limited", "too many messages; send it again later", retry_after(wait))
        event = InboundMessage(
            event_id=secrets.token_hex(12),
            channel=self.type,
            account=account,
            chat_id=visitor,
            external_id=f"{visitor}:{cmid}",
            text=text,
            ts=_now_iso(),
            sender=SenderProfile(display_name=f"Visitor {visitor[-4:].upper()}"),
        )
        # handed over without waiting for the write (the next frame is read meanwhile); the `ack` comes with the
        # commit receipt, and a failed write is refused, so the client sends it again
        self.ctx.sink.submit([event]).add_done_callback(lambda done: self._unsent(done, ws, account, frame))

    def _unsent(
        self, done: asyncio.Future[None], ws: web.WebSocketResponse, account: str, frame: dict[str, Any]
    ) -> None:
        if done.cancelled() or (exc := done.exception()) is None:
            return
        # the queue is away (Redis restarting)
        log.warning("widget.publish.failed", line=account, error=str(exc))
        refusal = _unavailable()
        task = asyncio.get_running_loop().create_task(_send(ws, _refusal(refusal, frame)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)


async def _throttle(ws: web.WebSocketResponse, account: str, verdict: Verdict, flood: FloodGuard) -> bool:
    """Act on a frame over the connection's cap; True when the connection was closed."""
    if verdict is Verdict.CLOSE:
        log.warning("widget.flood.closed", line=account, dropped=flood.dropped)
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many frames")
        return True
    if verdict is Verdict.DROP_AND_NOTIFY:
        log.info("widget.flood.throttled", line=account, dropped=flood.dropped)
        await _send(ws, {**_error("rate_limited", "too many frames: some were dropped"), "retry_after": 1})
    return False


def _parse(data: str) -> dict[str, Any]:
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        # also lone surrogates (`"\ud800"`): they could never be stored as UTF-8
        raise WidgetError("bad_json", "the frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise WidgetError("bad_json", "the frame must be a JSON object")
    return frame


def _refusal(exc: WidgetError, frame: dict[str, Any] | None) -> dict[str, Any]:
    """The error frame for a refused frame, naming the refused message where there is one."""
    err = _error(exc.code, exc.message)
    if exc.retry_after is not None:
        err["retry_after"] = exc.retry_after
    if frame is not None and isinstance(cmid := frame.get("client_msg_id"), str):
        err["client_msg_id"] = cmid
    return err


def _unavailable() -> WidgetError:
    """A message that could not be taken now (the queue or the shared limits away): not stored, sent again."""
    return WidgetError("unavailable", "the message could not be taken now; send it again", 1)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


async def _send(ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
    if not ws.closed:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(orjson.dumps(frame).decode())
