"""One module per channel, registered here by type; a connector translates, it never routes."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from connectors.email import EmailConnector
from connectors.telegram import TelegramConnector  # imports aiogram only when a Telegram channel starts
from connectors.vk import VkConnector  # imports vk-api only when a VK channel starts
from connectors.webform import WebFormConnector
from connectors.widget import WidgetConnector

REGISTRY: dict[str, Any] = {
    EmailConnector.type: EmailConnector,
    TelegramConnector.type: TelegramConnector,
    VkConnector.type: VkConnector,
    WidgetConnector.type: WidgetConnector,
    WebFormConnector.type: WebFormConnector,
}


def validate_block(block: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems of one channel block, by path inside the block, checked with its connector's Settings."""
    cls = REGISTRY.get(str(block.get("type")))
    if cls is None:
        return [(("type",), f"unknown channel type {block.get('type')!r}")]
    try:
        cls.Settings.model_validate(block)
    except ValidationError as exc:
        return [(tuple(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
    return []


def http_faced(channel: str, settings: Any) -> bool:
    """Whether a binding is served over HTTP (the widget socket, a Telegram webhook, a VK callback), so the web
    role runs it; the rest (polling, long poll, IMAP) run in the connectors role."""
    return channel in ("widget", "form") or getattr(settings, "mode", None) in ("webhook", "callback")


VALIDATORS = {name: validate_block for name in REGISTRY}
