"""The Telegram channel: one bot per line binding, polling or webhook, offsets confirmed only after the commit.

aiogram costs seconds to import, so this module does not: `connectors.telegram_bot` (which does) is imported
when a Telegram channel is started.
"""

from __future__ import annotations

import builtins
import os
import re
from typing import TYPE_CHECKING, ClassVar, Literal
from urllib.parse import urlsplit

import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.base import AttachmentBody, Binding, ConnectorContext, SendResult
from queues.messages import OutboundMessage, Receipt, Typing

if TYPE_CHECKING:
    from connectors.telegram_bot import TelegramBot

log = structlog.get_logger(__name__)
OFFICIAL_API = "https://api.telegram.org"
_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as a webhook secret_token


class TelegramSettings(BaseModel):
    """The `telegram` channel block of a line: one bot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["telegram"]
    account: str | None = None  # defaults to the line id
    token: SecretStr
    mode: Literal["polling", "webhook"] = "polling"
    api_base: str = OFFICIAL_API
    webhook_url: str | None = None
    webhook_path: str | None = None
    secret_token: SecretStr | None = None
    allow_groups: bool = False
    polling_timeout: int = Field(25, ge=1, le=50)  # seconds one getUpdates long poll waits
    # the directory of a local Bot API server in --local mode (its --dir), as this machine sees it: getFile's
    # absolute paths are read from disk only inside it, and refused without it
    local_files_root: str | None = None

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN.fullmatch(value.get_secret_value().strip()):
            # never echo the value: it is a secret
            raise ValueError("not a bot token: expected the DIGITS:SECRET token @BotFather gives")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("api_base")
    @classmethod
    def _check_api_base(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL (the default is {OFFICIAL_API})")
        return value.rstrip("/")

    @field_validator("local_files_root")
    @classmethod
    def _check_local_files_root(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not os.path.isabs(value):
            raise ValueError(f"{value!r} must be an absolute path (the local Bot API server's --dir)")
        if not os.path.isdir(value):
            raise ValueError(f"{value!r} is not an existing directory (the local Bot API server's --dir)")
        real = os.path.realpath(value)  # resolved once, so files are compared with where it really is
        if os.path.dirname(real) == real:
            raise ValueError("must not be the filesystem root: name the local Bot API server's --dir")
        return real

    @field_validator("webhook_path")
    @classmethod
    def _check_path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("webhook_path must start with /")
        return value

    @field_validator("secret_token")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("secret_token must be 1-256 characters of A-Z a-z 0-9 _ -")
        return value

    @model_validator(mode="after")
    def _check_webhook(self) -> TelegramSettings:
        if self.mode != "webhook":
            return self
        if not self.webhook_url:
            raise ValueError("mode webhook needs webhook_url (the public https URL Telegram posts to)")
        parts = urlsplit(self.webhook_url)
        if parts.scheme != "https" or not parts.netloc:
            raise ValueError("webhook_url must be an https:// URL (Telegram posts only over TLS)")
        if self.secret_token is None:
            raise ValueError("mode webhook needs secret_token (checked on every request Telegram makes)")
        return self

    @property
    def route(self) -> str:
        """The path of the webhook route we mount."""
        return self.webhook_path or urlsplit(self.webhook_url or "").path or "/"


class TelegramConnector:
    """Every Telegram bot of the config: each bound to its line, polled or fed by its webhook."""

    type: ClassVar[str] = "telegram"
    Settings: ClassVar[builtins.type[BaseModel]] = TelegramSettings

    def __init__(self, bindings: list[Binding], ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.bindings = bindings
        self.bots: dict[str, TelegramBot] = {}

    async def start(self) -> None:
        """Check every bot's token with getMe, then start polling or mount the webhooks; never raises for one bot."""
        from connectors.telegram_bot import TelegramBot, start_all

        tokens: dict[str, str] = {}
        paths: dict[str, str] = {}
        for b in self.bindings:
            s: TelegramSettings = b.settings
            self.ctx.health.set(b.account, "starting")
            clash = _clash(b, s, tokens, paths)
            if clash:
                log.error("telegram.bot.refused", line=b.line_id, account=b.account, reason=clash)
                self.ctx.health.set(b.account, "refused", clash)
                continue
            self.bots[b.account] = TelegramBot(b, self.ctx)
        await start_all(list(self.bots.values()))

    async def open_files(self) -> None:
        """Only fetch files: a bot per binding (no getMe, no polling, no webhook)."""
        from connectors.telegram_bot import TelegramBot

        tokens: dict[str, str] = {}
        for b in self.bindings:
            if _clash(b, b.settings, tokens, {}) is None:
                self.bots[b.account] = TelegramBot(b, self.ctx)

    async def stop(self) -> None:
        """Stop polling, answer waiting webhooks, close the HTTP sessions."""
        from connectors.telegram_bot import stop_all

        await stop_all(list(self.bots.values()))

    async def send(self, msg: OutboundMessage) -> SendResult:
        """Deliver an operator's (or auto-reply's) text and files to the customer's chat."""
        bot = self.bots.get(msg.account)
        if bot is None:
            return SendResult(ok=False, error=f"no Telegram bot for account {msg.account!r}", retryable=False)
        return await bot.send(msg)

    async def typing(self, event: Typing) -> None:
        """An operator is typing: the chat shows "typing…" (Telegram's chat action, about 5 s; nothing stops it)."""
        bot = self.bots.get(event.account)
        if bot is not None and event.active:
            await bot.typing(event.chat_id)

    async def on_receipt(self, receipt: Receipt) -> None:
        """The router stored an update's message: let the offset (or the webhook answer) move on."""
        bot = self.bots.get(receipt.account)
        if bot is not None:
            await bot.on_receipt(receipt)

    async def fetch_attachment(self, account: str, ref: str) -> AttachmentBody | None:
        """Stream a file a customer sent (ref = its Telegram file_id) from the Bot API."""
        bot = self.bots.get(account)
        if bot is None:
            return None
        return await bot.fetch(ref)


def _clash(b: Binding, s: TelegramSettings, tokens: dict[str, str], paths: dict[str, str]) -> str | None:
    """Why this bot cannot run next to the ones before it (two lines sharing one bot or one webhook path)."""
    token = s.token.get_secret_value()
    if token in tokens:
        return (
            f"line {b.line_id!r} uses the same bot token as line {tokens[token]!r}: one bot serves one line"
        )
    tokens[token] = b.line_id
    if s.mode == "webhook":
        if s.route in paths:
            return f"line {b.line_id!r} uses the webhook path {s.route} of line {paths[s.route]!r}"
        paths[s.route] = b.line_id
    return None
