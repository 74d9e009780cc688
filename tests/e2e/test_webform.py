"""Issue 19: the CRM web form in a real Chromium — on its own page (desktop and a phone, Russian) and embedded in a
shop's page on another origin; answers checked under each field, the proof of work paid by the page, the thanks
shown, the request in the operators' queue. Screenshots at 1280 and 390x844."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.conftest import config, line, settings_from
from tests.e2e.widget_pages import chromium, shop_site, sign_in
from tests.integration.test_webform import FIELDS

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
FIELD = '[data-ol="webform"] [data-field="{}"]'


async def test_the_web_form_on_its_page_and_on_a_shops(tmp_path: Path, start_daemon: Any) -> None:
    async with shop_site() as shop, chromium() as browser:
        block = {
            "type": "form",
            "account": "callback",
            "title": "Call me back",
            "text": "Leave your number: a manager calls you within the working day.",
            "thanks": "Thank you! We will call you soon.",
            "fields": FIELDS,
            "allowed_origins": [shop.base],
            "proof_of_work": 12,
        }
        d = await start_daemon(
            settings_from(tmp_path, config(tmp_path, [{**line("sales", ["anna"]), "channels": [block]}]))
        )
        ARTIFACTS.mkdir(exist_ok=True)
        console = await (await browser.new_context()).new_page()
        await sign_in(console, d, "anna")
        page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{d.base}/forms/callback?lang=en")
        await expect(page.locator('[data-ol="form-title"]')).to_have_text("Call me back", timeout=10_000)
        await expect(page.locator('[data-ol="honeypot"]')).not_to_be_in_viewport()  # people never see it
        await page.click('[data-ol="form-submit"]')
        await expect(page.locator(FIELD.format("phone")).locator('[data-ol="field-error"]')).to_have_text(
            "Please fill this in"
        )
        await page.fill(f"{FIELD.format('name')} input", "Olga")
        await page.fill(f"{FIELD.format('phone')} input", "+7 900 555-12-34")
        await page.fill(f"{FIELD.format('question')} textarea", "A quote for ten Commuter 3, please.")
        await page.screenshot(path=str(ARTIFACTS / "webform-1280.png"))
        await page.click('[data-ol="form-submit"]')
        await expect(page.locator('[data-ol="form-thanks"]')).to_have_text(
            "Thank you! We will call you soon.", timeout=20_000
        )
        queued = console.locator('[data-list="offered"] [data-dialog-id]')
        await expect(queued).to_have_count(1, timeout=10_000)
        await expect(queued.first).to_contain_text("Olga")

        # embedded in the shop's own page (another origin), in Russian, on a phone
        shop.pages["/contacts"] = (
            '<!doctype html><html lang="ru"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Контакты</title></head>'
            f'<body><h1>Контакты</h1><script src="{escape(d.base)}/widget/form.js" data-form="callback" async>'
            "</script><p>Адрес: Москва, ул. Примерная, 1</p></body></html>"
        )
        phone = await browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2
        )
        mobile = await phone.new_page()
        mobile.on("pageerror", lambda exc: errors.append(str(exc)))
        await mobile.goto(f"{shop.base}/contacts")
        await expect(mobile.locator('[data-ol="form-submit"]')).to_have_text("Отправить", timeout=10_000)
        await mobile.fill(f"{FIELD.format('name')} input", "Иван")
        await mobile.fill(f"{FIELD.format('phone')} input", "+7 900 111-22-33")
        await mobile.fill(f"{FIELD.format('email')} input", "ivan@")
        await mobile.click('[data-ol="form-submit"]')
        await expect(mobile.locator(FIELD.format("email")).locator('[data-ol="field-error"]')).to_have_text(
            "Введите правильный адрес электронной почты"
        )
        await mobile.screenshot(path=str(ARTIFACTS / "webform-embedded-390.png"), full_page=True)
        await mobile.fill(f"{FIELD.format('email')} input", "ivan@example.com")
        await mobile.click('[data-ol="form-submit"]')
        await expect(mobile.locator('[data-ol="form-thanks"]')).to_be_visible(timeout=20_000)
        await expect(queued).to_have_count(2, timeout=10_000)
        assert not errors, errors
