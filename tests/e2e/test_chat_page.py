"""Issue 19: a line's public chat page in a real Chromium — the chat filling the page (the whole screen of a phone),
branded with the line's title, colour, logo and privacy link, a message reaching the operator; and the admin's
board with the page's link and QR code. Screenshots at 1280 and 390x844."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.conftest import config, line, settings_from
from tests.e2e.widget_pages import MSG, chromium, sign_in
from tests.pictures import photo

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


async def test_the_chat_page_and_its_qr_code(tmp_path: Path, start_daemon: Any) -> None:
    logo = photo(96, 96)
    async with chromium() as browser:
        block = {
            "type": "widget",
            "title": "Acme Bikes",
            "greeting": "Hi! Ask us about sizes, delivery or the spring service.",
            "color": "#e4572e",
            "logo_url": "https://cdn.acme.example/logo.png",
            "privacy_url": "https://acme.example/privacy",
        }
        support = {**line("support", ["anna"]), "name": "Acme support", "channels": [block]}
        d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support])))
        ARTIFACTS.mkdir(exist_ok=True)
        desk = await browser.new_context(viewport={"width": 1280, "height": 800})

        async def cdn(route: Any) -> None:  # the logo's own site, answered in the browser (no network here)
            await route.fulfill(status=200, content_type="image/png", body=logo)

        await desk.route("https://cdn.acme.example/**", cdn)
        site = await desk.new_page()
        errors: list[str] = []
        site.on("pageerror", lambda exc: errors.append(str(exc)))
        await site.goto(f"{d.base}/chat/support?lang=en")
        panel = site.locator('[data-ol="panel"]')
        await expect(panel).to_be_visible(timeout=10_000)
        await expect(site.locator('[data-ol="launcher"]')).to_be_hidden()
        await expect(site.locator('[data-ol="close"]')).to_be_hidden()
        await expect(site.locator('[data-ol="title"]')).to_have_text("Acme Bikes")
        await expect(site.locator('[data-ol="empty"]')).to_have_text(
            "Hi! Ask us about sizes, delivery or the spring service."
        )
        logo_img = site.locator('[data-ol="logo"]')
        await site.wait_for_function(
            "(img) => img.complete && img.naturalWidth === 96", arg=await logo_img.element_handle()
        )
        await expect(site.locator('[data-ol="privacy"]')).to_have_attribute(
            "href", "https://acme.example/privacy"
        )
        send_bg = await site.locator('[data-ol="send"]').evaluate(
            "(b) => getComputedStyle(b).backgroundColor"
        )
        assert send_bg == "rgb(228, 87, 46)"  # the line's colour
        await site.keyboard.press("Escape")
        await expect(panel).to_be_visible()  # the page is the chat: nothing closes it

        console = await (await browser.new_context()).new_page()
        await sign_in(console, d, "admin")
        await site.fill('[data-ol="input"]', "Do you have the Trail 29 in size M?")
        await site.click('[data-ol="send"]')
        mine = site.locator(f'{MSG}[data-author="customer"]').last
        await expect(mine).to_have_attribute("data-id", re.compile(r"\w+"), timeout=10_000)
        await site.screenshot(path=str(ARTIFACTS / "chat-page-1280.png"))

        phone = await browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2
        )
        await phone.route("https://cdn.acme.example/**", cdn)
        mobile = await phone.new_page()
        await mobile.goto(f"{d.base}/chat/support", wait_until="load")
        mpanel = mobile.locator('[data-ol="panel"]')
        await expect(mpanel).to_be_visible(timeout=10_000)
        box = await mpanel.bounding_box()
        assert box is not None and (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)
        await mobile.screenshot(path=str(ARTIFACTS / "chat-page-390.png"))

        # the admin shares it: the board lists the page with its link and a QR code that is a picture
        await console.click("#board-open")
        card = console.locator('#board-pages [data-page-line="support"]')
        await expect(card).to_be_visible(timeout=10_000)
        await expect(card.locator(".page-url")).to_have_text(f"{d.base}/chat/support")
        qr = card.locator("img.page-qr")
        await console.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 100", arg=await qr.element_handle()
        )
        href = await card.locator("a[download]").get_attribute("href")
        assert href and href.startswith("blob:")
        await card.locator('[data-action="copy-link"]').click()
        await expect(card.locator(".page-copied")).not_to_be_empty()
        await card.scroll_into_view_if_needed()
        await console.screenshot(path=str(ARTIFACTS / "console-chat-pages-desktop.png"), full_page=True)
        await console.set_viewport_size({"width": 390, "height": 844})
        await card.scroll_into_view_if_needed()
        box = await card.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390  # the card fits the phone
        await console.screenshot(path=str(ARTIFACTS / "console-chat-pages-390.png"))
        assert not errors, errors
