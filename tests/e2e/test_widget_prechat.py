"""Issue 19: a line's pre-chat form in a real Chromium — asked before a new visitor writes, a field shown only when
another's answer calls for it, problems said under each field (found by the page, or by the server), the answers
sent as the visitor's first message that the operator reads with the customer's name; not asked again once
answered. Screenshots at 1280 (English) and 390x844 (Russian)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.conftest import config, line, settings_from
from tests.e2e.widget_pages import MSG, chromium, console_and_site, embed, open_panel, shop_site
from tests.integration.test_widget_prechat import PRECHAT as BASE

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
# the integration test's form, and a consent to tick
PRECHAT = {
    "fields": [
        *BASE["fields"],
        {"name": "consent", "type": "checkbox", "label": "I agree to the privacy policy", "required": True},
    ]
}
FIELD = '[data-ol="prechat"] [data-field="{}"]'


async def test_a_new_visitor_fills_the_form_before_the_chat(tmp_path: Path, start_daemon: Any) -> None:
    async with shop_site() as shop, chromium() as browser:
        support = {
            **line("support", ["anna"]),
            "channels": [{"type": "widget", "allowed_origins": [shop.base], "prechat": PRECHAT}],
        }
        d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support])))
        ARTIFACTS.mkdir(exist_ok=True)
        errors: list[str] = []
        console, site = await console_and_site(browser, d, shop, errors, height=900)
        form = site.locator('[data-ol="prechat"]')
        await expect(form).to_be_visible(timeout=10_000)
        await expect(site.locator('[data-ol="input"]')).to_be_hidden()  # no chat before the form
        await expect(site.locator('[data-ol="prechat-title"]')).to_have_text("Before we start")
        await expect(site.locator(FIELD.format("order"))).to_be_hidden()

        # nothing filled: each required field says so, and nothing is sent
        await site.click('[data-ol="prechat-submit"]')
        for name in ("name", "email", "question", "consent"):
            await expect(site.locator(FIELD.format(name)).locator('[data-ol="field-error"]')).to_have_text(
                "Please fill this in"
            )
        await site.fill(f"{FIELD.format('name')} input", "Olga Ivanova")
        await site.fill(f"{FIELD.format('email')} input", "olga@example")
        # looks like a phone here; the server knows better
        await site.fill(f"{FIELD.format('phone')} input", "12345")
        await site.select_option(f"{FIELD.format('topic')} select", "Returns")
        await expect(site.locator(FIELD.format("order"))).to_be_visible()  # asked because of the topic
        await site.fill(f"{FIELD.format('question')} textarea", "The box came broken.\nWhat now?")
        await site.check(f"{FIELD.format('consent')} input")
        await site.click('[data-ol="prechat-submit"]')
        await expect(site.locator(FIELD.format("email")).locator('[data-ol="field-error"]')).to_have_text(
            "Please enter a valid e-mail address"
        )
        await expect(site.locator(FIELD.format("order")).locator('[data-ol="field-error"]')).to_have_text(
            "Please fill this in"
        )
        await site.screenshot(path=str(ARTIFACTS / "widget-prechat-1280.png"))
        await site.fill(f"{FIELD.format('email')} input", "olga@example.com")
        await site.fill(f"{FIELD.format('order')} input", "A-17")
        await site.click('[data-ol="prechat-submit"]')
        await expect(site.locator(FIELD.format("phone")).locator('[data-ol="field-error"]')).to_have_text(
            "Please enter a valid phone number", timeout=10_000
        )
        await site.fill(f"{FIELD.format('phone')} input", "+7 900 555-12-34")
        await site.click('[data-ol="prechat-submit"]')

        await expect(form).to_be_hidden(timeout=10_000)
        mine = site.locator(f'{MSG}[data-author="customer"]')
        await expect(mine).to_have_count(1)
        await expect(mine).to_contain_text("Order number: A-17")
        await expect(site.locator('[data-ol="input"]')).to_be_focused()
        offer = console.locator('[data-list="offered"] [data-dialog-id]')
        await expect(offer).to_have_count(1, timeout=10_000)
        await expect(offer.first).to_contain_text("Olga Ivanova")
        await offer.first.click()
        await expect(console.locator('#thread [data-author-kind="customer"]').first).to_contain_text(
            "Your question:"
        )
        await site.fill('[data-ol="input"]', "Thank you!")
        await site.click('[data-ol="send"]')
        await expect(mine).to_have_count(2)
        await site.screenshot(path=str(ARTIFACTS / "widget-prechat-sent-1280.png"))

        # back later: the chat, not the form
        await site.reload()
        await open_panel(site)
        await expect(site.locator(f'{MSG}[data-author="customer"]')).to_have_count(2, timeout=10_000)
        await expect(form).to_be_hidden()
        assert not errors, errors


async def test_the_form_on_a_phone_in_russian(tmp_path: Path, start_daemon: Any) -> None:
    async with shop_site() as shop, chromium() as browser:
        support = {
            **line("support", ["anna"]),
            "channels": [{"type": "widget", "allowed_origins": [shop.base], "prechat": PRECHAT}],
        }
        d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support])))
        ARTIFACTS.mkdir(exist_ok=True)
        phone = await browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2
        )
        site = await phone.new_page()
        await embed(site, d, shop, data_line="support", lang="ru")
        await open_panel(site)
        await expect(site.locator('[data-ol="prechat-title"]')).to_have_text(
            "Прежде чем начать", timeout=10_000
        )
        await site.click('[data-ol="prechat-submit"]')
        await expect(site.locator(FIELD.format("name")).locator('[data-ol="field-error"]')).to_have_text(
            "Заполните это поле"
        )
        box = await site.locator('[data-ol="panel"]').bounding_box()
        assert box is not None and box["width"] == 390  # the whole screen
        await site.screenshot(path=str(ARTIFACTS / "widget-prechat-390.png"))
