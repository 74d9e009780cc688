"""The website channel: a websocket per visitor, a signed visitor token, `ack` only after the commit receipt."""

from __future__ import annotations

import builtins
import contextlib
import secrets
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import orjson
import structlog
from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field

from connectors.base import Binding, ConnectorContext, SendResult
from queues.messages import InboundMessage, OutboundMessage, Receipt, SenderProfile

log = structlog.get_logger(__name__)
PROTOCOL = 1
MAX_FRAME = 64 * 1024
MAX_CLIENT_MSG_ID = 128


class WidgetSettings(BaseModel):
    """The `widget` channel block of a line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["widget"]
    account: str | None = None  # defaults to the line id
    title: str = "Chat with us"
    token_ttl_days: int = Field(365, ge=1, le=3650)


class WidgetError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WidgetConnector:
    """Serves `GET /widget/ws?line=LINE` for every line with a widget channel."""

    type: ClassVar[str] = "widget"
    Settings: ClassVar[builtins.type[BaseModel]] = WidgetSettings

    def __init__(self, bindings: list[Binding], ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.accounts = {b.account: b for b in bindings}
        self._sockets: dict[tuple[str, str], set[web.WebSocketResponse]] = defaultdict(set)
        self._closing = False

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
        data = orjson.dumps(frame).decode()
        count = 0
        for ws in list(self._sockets.get(key, ())):
            if ws.closed:
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(data)
                count += 1
        return count

    # ---- one visitor connection ----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
        await ws.prepare(request)
        account = request.query.get("line", "")
        binding = self.accounts.get(account)
        if binding is None or self._closing:
            await _send(
                ws, {"type": "error", "code": "unknown_line", "message": f"no widget line {account!r}"}
            )
            await ws.close()
            return ws
        visitor: str | None = None
        log.info("widget.connected", line=account)
        try:
            async for raw in ws:
                if raw.type == WSMsgType.ERROR:
                    break
                if raw.type != WSMsgType.TEXT:
                    await _send(ws, _error("bad_json", "frames must be JSON text"))
                    continue
                try:
                    frame = _parse(raw.data)
                    kind = frame.get("type")
                    if kind == "hello":
                        if visitor is not None:
                            self._sockets[(account, visitor)].discard(ws)
                        visitor = await self._hello(ws, binding, frame)
                    elif kind == "message":
                        if visitor is None:
                            raise WidgetError("hello_required", "send hello first")
                        await self._message(account, visitor, frame)
                    else:
                        raise WidgetError("unknown_type", f"unknown frame type {kind!r}")
                except WidgetError as exc:
                    log.info("widget.frame.refused", line=account, code=exc.code)
                    err = _error(exc.code, exc.message)
                    if isinstance(frame_cmid := _safe_get(raw.data, "client_msg_id"), str):
                        err["client_msg_id"] = frame_cmid
                    await _send(ws, err)
        finally:
            if visitor is not None:
                group = self._sockets.get((account, visitor))
                if group is not None:
                    group.discard(ws)
                    if not group:
                        del self._sockets[(account, visitor)]
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

    async def _message(self, account: str, visitor: str, frame: dict[str, Any]) -> None:
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
        text = text.strip()
        if not text:
            raise WidgetError("empty_message", "the message is empty")
        if len(text) > self.ctx.max_message_length:
            raise WidgetError(
                "message_too_long", f"text is longer than {self.ctx.max_message_length} characters"
            )
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
        await self.ctx.sink.publish([event])


def _parse(data: str) -> dict[str, Any]:
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise WidgetError("bad_json", "the frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise WidgetError("bad_json", "the frame must be a JSON object")
    return frame


def _safe_get(data: Any, key: str) -> Any:
    with contextlib.suppress(Exception):
        obj = orjson.loads(data)
        if isinstance(obj, dict):
            return obj.get(key)
    return None


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


async def _send(ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
    if not ws.closed:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(orjson.dumps(frame).decode())
