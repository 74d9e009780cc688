"""Issue 19: when the launcher shows, as the line's `show` says — only on the pages it names, never on those it
hides, after a delay on the first page of a visit (not again on the next pages), and always while the chat is open
— in a real Chromium with its clock under the test's hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import config, line, settings_from
from tests.e2e.widget_pages import chromium, embed, open_panel, shop_site

pytestmark = pytest.mark.e2e
LAUNCHER = '[data-ol="launcher"]'


async def connected(page: Page) -> None:
    """The widget heard the server's hello (it knows the line's rule)."""
    await expect(page.locator('[data-ol="status"][data-state="online"]')).to_be_attached(timeout=10_000)


async def test_the_launcher_shows_where_and_when_the_line_says(tmp_path: Path, start_daemon: Any) -> None:
    async with shop_site() as shop, chromium() as browser:
        show = {"pages": ["/products/*"], "hide": ["/products/secret*"], "delay_seconds": 30}
        support = {
            **line("support", ["anna"]),
            "channels": [{"type": "widget", "allowed_origins": [shop.base], "show": show}],
        }
        d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support])))
        page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
        await page.clock.install()

        await embed(page, d, shop, path="/about", data_line="support")
        await connected(page)
        await expect(page.locator(LAUNCHER)).to_be_hidden()  # not a page the line names

        await embed(page, d, shop, path="/products/bike-1", data_line="support")
        await connected(page)
        await expect(page.locator(LAUNCHER)).to_be_hidden()  # named, but not yet: 30 s first
        await page.clock.fast_forward(20_000)
        await expect(page.locator(LAUNCHER)).to_be_hidden()
        await page.clock.fast_forward(11_000)
        await expect(page.locator(LAUNCHER)).to_be_visible()

        await embed(page, d, shop, path="/products/bike-2", data_line="support")
        await connected(page)
        await expect(page.locator(LAUNCHER)).to_be_visible()  # the next page of the visit: no waiting again

        await embed(page, d, shop, path="/products/secret-sale", data_line="support")
        await connected(page)
        await expect(page.locator(LAUNCHER)).to_be_hidden()  # hidden wins

        # a chat the visitor opened stays with them on every page
        await embed(page, d, shop, path="/products/bike-3", data_line="support")
        await open_panel(page)
        await embed(page, d, shop, path="/about", data_line="support")
        await expect(page.locator('[data-ol="panel"]')).to_be_visible(timeout=10_000)


async def test_the_lines_language_and_colour_come_before_the_first_draw(
    tmp_path: Path, start_daemon: Any
) -> None:
    async with shop_site() as shop, chromium() as browser:
        block = {"type": "widget", "allowed_origins": [shop.base], "language": "ru", "color": "#e4572e"}
        d = await start_daemon(
            settings_from(tmp_path, config(tmp_path, [{**line("support", ["anna"]), "channels": [block]}]))
        )
        page = await (await browser.new_context()).new_page()
        # a page that says nothing of its language: the line's
        shop.pages["/plain"] = (
            f'<!doctype html><html><body><script src="{d.base}/widget/loader.js" data-line="support" async></script></body></html>'
        )
        await page.goto(shop.base + "/plain")
        launcher = page.locator(LAUNCHER)
        await expect(launcher).to_have_attribute("aria-label", "Напишите нам", timeout=10_000)
        assert await launcher.evaluate("(b) => getComputedStyle(b).backgroundColor") == "rgb(228, 87, 46)"
        # the page's own word wins
        await embed(page, d, shop, path="/en", data_line="support", data_lang="en")
        await expect(page.locator(LAUNCHER)).to_have_attribute("aria-label", "Chat with us", timeout=10_000)
