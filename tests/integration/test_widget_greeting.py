"""A line's own greeting for the widget's empty chat comes with the server's hello (none: the widget's own)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.widget_settings import WidgetSettings
from tests.conftest import config, line, settings_from

GREETING = "Hi! <b>We</b> answer within 5 minutes, 9:00–18:00."


async def test_the_hello_carries_the_lines_greeting_or_none(tmp_path, start_daemon) -> None:
    greeted = {**line("shop", ["anna"]), "channels": [{"type": "widget", "greeting": GREETING}]}
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [greeted, line("plain", ["anna"])])))
    assert (await d.visitor("shop")).hello["greeting"] == GREETING
    assert (await d.visitor("plain")).hello["greeting"] is None


def test_a_greeting_is_one_to_500_characters() -> None:
    for bad in ("", "x" * 501):
        with pytest.raises(ValidationError):
            WidgetSettings.model_validate({"type": "widget", "greeting": bad})
    assert WidgetSettings.model_validate({"type": "widget", "greeting": "x" * 500}).greeting == "x" * 500
