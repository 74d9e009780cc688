"""One visitor's websocket after the upgrade: its frames read in order under the connection's frame cap, `hello`
(the visitor token, the newest page of history), `history`, `typing` (passed on when it is news), `message` and
`form` (the rate limits, then handed over: `ack` only after the commit), `rate` (`rated` after the commit)."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

import structlog
from aiohttp import WSMsgType, web

from connectors.base import Binding, ConnectorContext
from connectors.ratelimit import FloodGuard, Limits, Rate, Verdict, retry_after
from connectors.widget_files import message_frame
from connectors.widget_forms import files_view, form_message, offline_view
from connectors.widget_frames import (
    PROTOCOL,
    WidgetError,
    error_frame,
    message_fields,
    parse_frame,
    rate_fields,
    refusal,
    send_frame,
    throttle,
    unavailable,
)
from connectors.widget_identity import IdentityRefused, SiteUser, is_site_user, verify, visitor_of_user
from connectors.widget_settings import LineGuards, WidgetSettings
from connectors.widget_tokens import new_visitor, visitor_of, visitor_token
from connectors.widget_uploads import message_files
from queues.messages import (
    Attachment,
    CustomerRating,
    InboundMessage,
    SenderProfile,
    Typing,
    event_ts,
    typing_is_news,
)

log = structlog.get_logger("connectors.widget")
# event ids unique across processes without a system call per message: a random prefix per process, then a count
_ID_PREFIX = secrets.token_hex(8)
_ID_SEQ = itertools.count(1)
FRAME_RATE = Rate(per_second=20, burst=50)  # frames of any kind on one connection
FLOOD_CLOSE_AFTER = 5.0  # seconds of continuous flooding before the connection is closed (1008)
MAX_MESSAGE_ID = 64  # a `history` frame's `before`: our ids are 26 characters
RATING_EVENT = "rating:"  # a rating's event id starts so: its receipt becomes a `rated` frame, not an `ack`


class Host(Protocol):
    """What a session needs of its connector (connectors/widget.py): its context and clocks, the shared message
    allowances, and the table of visitors' sockets."""

    type: ClassVar[str]
    ctx: ConnectorContext
    clock: Callable[[], float]
    wall: Callable[[], float]
    limits: Limits
    history_page: int

    def join(self, key: tuple[str, str], ws: web.WebSocketResponse) -> None:
        """Register a socket under its visitor."""
        ...

    def forget(self, key: tuple[str, str], ws: web.WebSocketResponse) -> None:
        """Drop a socket from its visitor."""
        ...

    def keep(self, task: asyncio.Task[None]) -> None:
        """Hold a background task until it ends."""
        ...

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
        """A visitor's message handed to the bus, to show on their other tabs once stored."""
        ...


class VisitorSession:
    """One visitor connection of a widget line: who the visitor is once they said hello, and their frames."""

    def __init__(
        self,
        connector: Host,
        ws: web.WebSocketResponse,
        binding: Binding,
        guards: LineGuards,
        address: str,
    ) -> None:
        self.connector = connector
        self.ws = ws
        self.binding = binding
        self.account = binding.account
        self.guards = guards
        self.address = address
        self.flood = FloodGuard(FRAME_RATE, connector.clock(), close_after=FLOOD_CLOSE_AFTER)
        self.visitor: str | None = None
        self.user: SiteUser | None = None  # the site's signed user this visitor is (widget_identity)
        self.typed: tuple[bool, float] | None = None  # the last typing state passed on, and when

    async def run(self) -> None:
        """Read frames until the socket closes; a refused frame gets an error frame, a flood closes it."""
        ws, account = self.ws, self.account
        async for raw in ws:
            if raw.type == WSMsgType.ERROR:
                # aiohttp already closed it: 1009 above MAX_FRAME, 1007 for text that is not UTF-8
                code = getattr(raw.data, "code", None)
                log.info("widget.frame.refused", line=account, code="protocol", close_code=code)
                break
            verdict = self.flood.frame(self.connector.clock())
            if verdict is not Verdict.ACCEPT:
                if await throttle(ws, account, verdict, self.flood):
                    break
                continue
            frame: dict[str, Any] | None = None
            try:
                if raw.type != WSMsgType.TEXT:
                    raise WidgetError("bad_json", "frames must be JSON text")
                frame = parse_frame(raw.data)
                kind = frame.get("type")
                if kind == "hello":
                    # a refused hello keeps the socket with its visitor (it still gets their acks)
                    known = await self._hello(frame)
                    if self.visitor is not None and self.visitor != known:
                        self.connector.forget((account, self.visitor), ws)
                    self.visitor = known
                elif kind == "message":
                    if self.visitor is None:
                        raise WidgetError("hello_required", "send hello first")
                    await self._message(self.visitor, frame)
                elif kind == "form":
                    if self.visitor is None:
                        raise WidgetError("hello_required", "send hello first")
                    await self._form(self.visitor, frame)
                elif kind == "typing":
                    if self.visitor is None:
                        raise WidgetError("hello_required", "send hello first")
                    self._typing(self.visitor, frame)
                elif kind == "rate":
                    if self.visitor is None:
                        raise WidgetError("hello_required", "send hello first")
                    await self._rate(self.visitor, frame)
                elif kind == "history":
                    if self.visitor is None:
                        raise WidgetError("hello_required", "send hello first")
                    await self._earlier(self.visitor, frame)
                else:
                    raise WidgetError("unknown_type", f"unknown frame type {kind!r}")
            except WidgetError as exc:
                # a flood of refusals must not become a flood of log lines
                (log.debug if exc.code == "rate_limited" else log.info)(
                    "widget.frame.refused", line=account, code=exc.code
                )
                await send_frame(ws, refusal(exc, frame))

    async def _hello(self, frame: dict[str, Any]) -> str:
        ws, binding, ctx = self.ws, self.binding, self.connector.ctx
        settings: WidgetSettings = binding.settings
        token = frame.get("visitor_token")
        visitor = None
        self.user = self._signed_user(frame.get("identity"), settings)
        if self.user is not None:  # the site's user: the same visitor on every device
            visitor = visitor_of_user(binding.account, self.user.id)
            token = visitor_token(ctx.signer, binding.account, visitor)
        elif token is not None:
            if not isinstance(token, str):
                raise WidgetError("bad_field", "visitor_token must be a string or null")
            visitor = visitor_of(ctx.signer, token, binding.account, settings.token_ttl_days)
            if visitor is not None and is_site_user(visitor):
                visitor = (
                    None  # a signed-in user's token without their signature (a shared browser after logout)
                )
            if visitor is None:
                log.info("widget.token.refused", line=binding.account)
                await send_frame(
                    ws,
                    error_frame("invalid_token", "the visitor token is not valid here; a new one is issued"),
                )
        if visitor is None:
            visitor, token = new_visitor(ctx.signer, binding.account)
        # register before reading history, so nothing sent in between is missed (the client dedupes by id)
        self.connector.join((binding.account, visitor), ws)
        conv = await ctx.history.conversation(
            self.connector.type, binding.account, visitor, self.connector.history_page
        )
        await send_frame(
            ws,
            {
                "type": "hello",
                "protocol": PROTOCOL,
                "visitor_token": token,
                "dialog_id": conv.open_dialog_id,
                "history": [message_frame(ctx, binding.account, visitor, m) for m in conv.messages],
                "history_more": conv.more,
                "title": settings.title,
                "greeting": settings.greeting,
                "sound": settings.sound,
                "color": settings.color,
                "show": settings.show.model_dump(mode="json"),
                "position": settings.position,
                "files": files_view(settings),
                # a signed-in user is known already: no form asks them who they are
                "prechat": settings.prechat.view() if settings.prechat and self.user is None else None,
                "offline": await offline_view(
                    self.connector.ctx.lines, settings, self.account, signed=self.user is not None
                ),
            },
        )
        return visitor

    def _signed_user(self, raw: Any, settings: WidgetSettings) -> SiteUser | None:
        """The site's user a hello's `identity` names (None: none given, on a line that allows that)."""
        secret = settings.identity_secret
        if raw is None:
            if settings.identity == "required":
                raise WidgetError("identity_required", "this chat is for the site's signed-in users only")
            return None
        if secret is None:
            raise WidgetError("identity_off", "this line takes no signed identity")
        try:
            return verify(secret.get_secret_value(), raw)
        except IdentityRefused as exc:
            log.info("widget.identity.refused", line=self.account, code=exc.code)
            raise WidgetError(exc.code, str(exc)) from None

    async def _earlier(self, visitor: str, frame: dict[str, Any]) -> None:
        """A page of the visitor's messages older than `before` (a message id the client has)."""
        before = frame.get("before")
        if before is None:
            raise WidgetError("missing_field", "history needs before (the id of the oldest message shown)")
        if not isinstance(before, str) or not 0 < len(before) <= MAX_MESSAGE_ID:
            raise WidgetError("bad_field", "before must be a message id")
        ctx = self.connector.ctx
        page = await ctx.history.earlier(
            self.connector.type, self.account, visitor, before, self.connector.history_page
        )
        await send_frame(
            self.ws,
            {
                "type": "history",
                "before": before,
                "messages": [message_frame(ctx, self.account, visitor, m) for m in page.messages],
                "more": page.more,
            },
        )

    async def _message(self, visitor: str, frame: dict[str, Any]) -> None:
        connector, account = self.connector, self.account
        cmid, text = message_fields(frame, connector.ctx.max_message_length)
        files = message_files(
            connector.ctx.signer, account, visitor, frame.get("attachments"), self.binding.settings.files
        )
        # not published when refused, so not stored: the client sends it again later with the same client_msg_id
        await self._allowance(visitor, "too many messages; send it again later")
        self._hand_over(frame, visitor, cmid, text, self._profile(visitor), files)

    def _hand_over(
        self,
        frame: dict[str, Any],
        visitor: str,
        cmid: str,
        text: str,
        sender: SenderProfile,
        files: tuple[Attachment, ...] = (),
        *,
        made: bool = False,
    ) -> None:
        """Publish the visitor's message without waiting for the write (the next frame is read meanwhile): the
        `ack` comes with the commit receipt, and a failed write is refused, so the client sends it again."""
        connector, account = self.connector, self.account
        event = InboundMessage(
            event_id=f"{_ID_PREFIX}{next(_ID_SEQ):x}",
            channel=connector.type,
            account=account,
            chat_id=visitor,
            external_id=f"{visitor}:{cmid}",
            text=text,
            ts=event_ts(datetime.now(UTC)),
            sender=sender,
            attachments=files,
        )
        connector.remember(account, event.external_id, text, event.ts, sender.display_name, files, made=made)
        self._after_write(connector.ctx.sink.submit([event]), frame)

    async def _form(self, visitor: str, frame: dict[str, Any]) -> None:
        """The visitor filled one of the line's forms: its answers are their message (connectors/widget_forms.py)."""
        cmid, text, profile = form_message(self.binding.settings, frame, visitor)
        await self._allowance(visitor, "too many messages; send it again later")
        self._hand_over(
            frame, visitor, cmid, text[: self.connector.ctx.max_message_length], profile, made=True
        )

    def _profile(self, visitor: str) -> SenderProfile:
        """Who the customer is: the site's signed user (their e-mail and phone verified), else an anonymous one."""
        u = self.user
        if u is None:
            return SenderProfile(display_name=f"Visitor {visitor[-4:].upper()}")
        return SenderProfile(
            display_name=u.name or f"Visitor {visitor[-4:].upper()}", email=u.email, phone=u.phone
        )

    def _after_write(self, written: asyncio.Future[None], frame: dict[str, Any]) -> None:
        """Refuse the frame if its write fails; a write already done (the in-process bus) needs no callback."""
        if written.done():
            self._unsent(written, frame)
        else:
            written.add_done_callback(lambda done: self._unsent(done, frame))

    async def _allowance(self, visitor: str, refusal: str) -> None:
        """Take one from the visitor's and the address's allowances, or refuse the frame (`rate_limited` with when
        to try again): a new visitor id per `hello` must not open a new allowance for the same address."""
        connector, account = self.connector, self.account
        buckets = [
            (f"widget:{account}:v:{visitor}", self.guards.per_visitor),
            (f"widget:{account}:ip:{self.address}", self.guards.per_address),
        ]
        try:
            wait = await connector.limits.take(buckets, connector.wall())
        except Exception as exc:  # Redis away: refused like a failed write, the client sends it again
            log.warning("widget.limits.failed", line=self.account, error=str(exc))
            raise unavailable() from None
        if wait:
            raise WidgetError("rate_limited", refusal, retry_after(wait))

    async def _rate(self, visitor: str, frame: dict[str, Any]) -> None:
        """The visitor rated the answer under a question: a CustomerRating; the `rated` frame comes with the
        engine's receipt (an error code there when it was not taken: another's dialog, off the scale, too late)."""
        connector, account = self.connector, self.account
        dialog_id, score, comment = rate_fields(frame)
        await self._allowance(visitor, "too many frames; send it again later")
        event = CustomerRating(
            event_id=f"{RATING_EVENT}{_ID_PREFIX}{next(_ID_SEQ):x}",
            channel=connector.type,
            account=account,
            chat_id=visitor,
            dialog_id=dialog_id,
            score=score,
            ts=event_ts(datetime.now(UTC)),
            comment=comment,
        )
        self._after_write(connector.ctx.sink.submit([event]), frame)

    def _typing(self, visitor: str, frame: dict[str, Any]) -> None:
        """The visitor started or stopped typing (the text is not sent): passed on when it is news, at most one
        "still typing" per TYPING_REPEAT; a lost one only hides the operator's indicator."""
        active = frame.get("active")
        if not isinstance(active, bool):
            raise WidgetError("bad_field", "active must be true or false")
        now = self.connector.clock()
        if not typing_is_news(self.typed, active, now):
            return
        self.typed = (active, now)
        event = Typing(
            f"{_ID_PREFIX}{next(_ID_SEQ):x}",
            self.connector.type,
            self.account,
            visitor,
            "customer",
            active,
            event_ts(datetime.now(UTC)),
        )
        self.connector.ctx.sink.submit([event]).add_done_callback(_ignore)

    def _unsent(self, done: asyncio.Future[None], frame: dict[str, Any]) -> None:
        if done.cancelled() or (exc := done.exception()) is None:
            return
        # the queue is away (Redis restarting)
        log.warning("widget.publish.failed", line=self.account, error=str(exc))
        task = asyncio.get_running_loop().create_task(send_frame(self.ws, refusal(unavailable(), frame)))
        self.connector.keep(task)


def _ignore(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()  # retrieved: a typing event the queue did not take is not worth a warning
