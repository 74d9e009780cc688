"""The VK channel: one community per line binding, Bots Long Poll or Callback API, `ts` confirmed only after the
commit.

vk-api (and requests) are imported when a VK channel starts, not with this module: `connectors.vk_community`
(which does) is imported in `start`.
"""

from __future__ import annotations

import builtins
import re
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlsplit

import orjson
import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.base import AttachmentBody, Binding, ConnectorContext, SendResult
from queues.messages import OutboundMessage, Receipt, Typing

if TYPE_CHECKING:
    from connectors.vk_community import VkCommunity

log = structlog.get_logger("connectors.vk")
OFFICIAL_API = "https://api.vk.ru"
_NO_SPACE = re.compile(r"\S+")


class VkSettings(BaseModel):
    """The `vk` channel block of a line: one community."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["vk"]
    account: str | None = None  # defaults to the line id
    token: SecretStr
    group_id: int
    mode: Literal["longpoll", "callback"] = "longpoll"
    confirmation: str | None = None
    secret: SecretStr | None = None
    callback_path: str = "/vk/callback"
    api_base: str = OFFICIAL_API
    longpoll_wait: int = Field(10, ge=1, le=90)  # seconds one long poll waits (also bounds a stop)
    requests_per_second: int = Field(20, ge=1, le=20)  # client-side pacing of API calls (VK allows ~20)

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        if not _NO_SPACE.fullmatch(value.get_secret_value().strip()):
            # never echo the value: it is a secret
            raise ValueError(
                "not a community token: expected the access key from the community's API settings"
            )
        return SecretStr(value.get_secret_value().strip())

    @field_validator("group_id")
    @classmethod
    def _check_group(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("group_id is the community's id as a positive number (club123 -> 123, no minus)")
        return value

    @field_validator("api_base")
    @classmethod
    def _check_api_base(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL (the default is {OFFICIAL_API})")
        return value.rstrip("/")

    @field_validator("callback_path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("callback_path must start with /")
        return value

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 1 <= len(value.get_secret_value()) <= 50:
            raise ValueError("secret must be 1-50 characters (the Callback API's secret key)")
        return value

    @model_validator(mode="after")
    def _check_callback(self) -> VkSettings:
        if self.mode != "callback":
            return self
        if not self.confirmation:
            raise ValueError(
                "mode callback needs confirmation (the string VK shows in the Callback API settings)"
            )
        if self.secret is None:
            raise ValueError("mode callback needs secret (the secret key set in the Callback API settings)")
        return self


class VkConnector:
    """Every VK community of the config: each bound to its line, long-polled or fed by the Callback API."""

    type: ClassVar[str] = "vk"
    Settings: ClassVar[builtins.type[BaseModel]] = VkSettings

    def __init__(self, bindings: list[Binding], ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.bindings = bindings
        self.communities: dict[str, VkCommunity] = {}
        self._callbacks: dict[str, dict[int, VkCommunity]] = {}  # path -> group_id -> community

    async def start(self) -> None:
        """Mount the callback routes and start the long-poll loops; one refused community stops no other."""
        from connectors.vk_community import VkCommunity

        groups: dict[int, str] = {}
        for b in self.bindings:
            s: VkSettings = b.settings
            if s.group_id in groups:
                why = f"line {b.line_id!r} uses community {s.group_id} of line {groups[s.group_id]!r}: one line each"
                log.error("vk.community.refused", line=b.line_id, account=b.account, reason=why)
                self.ctx.health.set(b.account, "refused", why)
                continue
            groups[s.group_id] = b.line_id
            community = VkCommunity(b, self.ctx)
            self.communities[b.account] = community
            if s.mode == "callback":
                if s.callback_path not in self._callbacks:
                    self._callbacks[s.callback_path] = {}
                    self.ctx.routes.add("POST", s.callback_path, self._callback)
                self._callbacks[s.callback_path][s.group_id] = community
        for community in self.communities.values():
            await community.start()

    async def open_files(self) -> None:
        """Only fetch files: a community per binding (no long poll, no callback route)."""
        from connectors.vk_community import VkCommunity

        for b in self.bindings:
            community = self.communities.setdefault(b.account, VkCommunity(b, self.ctx))
            community.open_files()

    async def stop(self) -> None:
        """Stop the loops, answer waiting callbacks, close connections."""
        for community in self.communities.values():
            try:
                await community.stop()
            except Exception as exc:  # the others must still stop
                log.warning("vk.stop.failed", account=community.account, error=str(exc))

    async def send(self, msg: OutboundMessage) -> SendResult:
        """Deliver an operator's (or auto-reply's) text and files to the customer's dialog."""
        community = self.communities.get(msg.account)
        if community is None:
            return SendResult(ok=False, error=f"no VK community for account {msg.account!r}", retryable=False)
        return await community.send(msg)

    async def typing(self, event: Typing) -> None:
        """An operator is typing: the conversation shows it (messages.setActivity, about 10 s)."""
        community = self.communities.get(event.account) if event.active else None
        if community is not None:
            await community.typing(event.chat_id)

    async def on_receipt(self, receipt: Receipt) -> None:
        """The router stored an event: let the long-poll ts (or the callback answer) move on."""
        community = self.communities.get(receipt.account)
        if community is not None:
            await community.on_receipt(receipt)

    async def fetch_attachment(self, account: str, ref: str) -> AttachmentBody | None:
        """Stream a customer's file (ref = `peer_id:conversation_message_id:index`) from VK."""
        community = self.communities.get(account)
        return None if community is None else await community.fetch(ref)

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        """A Callback API request: routed to its community by group_id."""
        try:
            raw: Any = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raw = None
        if not isinstance(raw, dict):
            return web.Response(status=400, text="not a VK event")
        by_group = self._callbacks.get(request.path, {})
        community = by_group.get(raw["group_id"]) if isinstance(raw.get("group_id"), int) else None
        if community is None:
            log.warning("vk.callback.refused", reason="unknown_group", group_id=str(raw.get("group_id"))[:20])
            return web.Response(status=403, text="unknown community")
        return await community.callback(raw)
