"""The lines' channel blocks, each with the account it serves: what the bindings, the engine's channel-to-line map,
the line status and the chat pages all read from the configuration."""

from __future__ import annotations

from typing import Any

from router.app.settings import LineSettings, Settings


def channel_blocks(
    settings: Settings, channel: str | None = None
) -> list[tuple[LineSettings, str, dict[str, Any]]]:
    """Every line's channel blocks (of one type, when given) with their account (`account`, else the line id)."""
    return [
        (ln, str(block.get("account") or ln.id), block)
        for ln in settings.lines
        for block in ln.channels
        if channel is None or block.get("type") == channel
    ]
