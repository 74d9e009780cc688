"""Issue 19: the widget while the line does not work, in a real Chromium — the line's text above the chat and its
off-hours form in place of it; the answers sent, thanked for, and waiting in the operators' queue for the morning.
Screenshots at 1280 (English) and 390x844 (Russian)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.conftest import FakeClock, config, line, settings_from
from tests.e2e.widget_pages import MSG, chromium, console_and_site, embed, open_panel, shop_site
from tests.integration.test_hours_autoreplies import HOURS
from tests.integration.test_widget_offline import FORM, SATURDAY

pytestmark = pytest.mark.e2e
FIELD = '[data-ol="prechat"] [data-field="{}"]'
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


async def test_off_hours_the_visitor_leaves_a_request(tmp_path: Path, start_daemon: Any) -> None:
    async with shop_site() as shop, chromium() as browser:
        offline = {"form": FORM}
        support = {
            **line("support", ["anna"]),
            "hours": HOURS,
            "channels": [{"type": "widget", "allowed_origins": [shop.base], "offline": offline}],
        }
        d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support])), FakeClock(SATURDAY))
        ARTIFACTS.mkdir(exist_ok=True)
        errors: list[str] = []
        console, site = await console_and_site(browser, d, shop, errors)
        note = site.locator('[data-ol="offline-note"]')
        await expect(note).to_have_text(
            "We are closed now. Leave a message — we will answer when we are back.", timeout=10_000
        )
        await expect(site.locator('[data-ol="prechat-title"]')).to_have_text("We are away")
        await site.fill(f"{FIELD.format('name')} input", "Ivan")
        await site.fill(f"{FIELD.format('phone')} input", "+7 900 111-22-33")
        await site.fill(
            f"{FIELD.format('question')} textarea", "Please call me on Monday about the Trail 29."
        )
        await site.screenshot(path=str(ARTIFACTS / "widget-offline-1280.png"))
        await site.click('[data-ol="prechat-submit"]')
        await expect(site.locator('[data-ol="prechat"]')).to_be_hidden(timeout=10_000)
        await expect(note).to_have_text("Thank you! We will answer as soon as we are back.")
        await expect(site.locator(f'{MSG}[data-author="customer"]')).to_contain_text(
            "Phone: +7 900 111-22-33"
        )
        queued = console.locator('[data-list="queued"] [data-dialog-id]')
        await expect(queued).to_have_count(1, timeout=10_000)
        await expect(queued.first).to_contain_text("Ivan")

        phone = await browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2
        )
        mobile = await phone.new_page()
        await embed(mobile, d, shop, data_line="support", lang="ru")
        await open_panel(mobile)
        await expect(mobile.locator('[data-ol="offline-note"]')).to_have_text(
            "Сейчас мы не работаем. Оставьте сообщение — мы ответим, когда вернёмся.", timeout=10_000
        )
        await mobile.screenshot(path=str(ARTIFACTS / "widget-offline-390.png"))
        assert not errors, errors
