"""The line's greeting in the widget's empty chat, in Chromium: shown as text (never HTML), and gone once the chat
has a message."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.conftest import config, line, settings_from
from tests.e2e.test_browser import ARTIFACTS
from tests.e2e.widget_pages import chromium, embed, open_panel, say, shop_site

pytestmark = pytest.mark.e2e
GREETING = "Hi! <b>We</b> answer within 5 minutes, 9:00–18:00."


async def test_the_empty_chat_shows_the_lines_greeting_as_text(tmp_path, start_daemon) -> None:
    shop = {**line("support", ["anna"]), "channels": [{"type": "widget", "greeting": GREETING}]}
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [shop])))
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser, shop_site() as site:
        page = await browser.new_page(viewport={"width": 390, "height": 844})
        await embed(page, d, site, data_line="support")
        await open_panel(page)
        empty = page.locator('[data-ol="empty"]')
        await expect(empty).to_have_text(GREETING)  # the tags are text: nothing is bold
        assert await page.locator('[data-ol="empty"] b').count() == 0
        await page.screenshot(path=str(ARTIFACTS / "widget-greeting-390.png"))
        await say(page, "hello")
        await expect(empty).to_be_hidden()


async def test_an_operators_reply_chimes_only_while_the_chat_is_closed_and_only_if_the_line_wants_it(
    tmp_path, start_daemon
) -> None:
    loud = {**line("support", ["anna"]), "channels": [{"type": "widget"}]}  # sound is on by default
    quiet = {**line("sales", ["anna"]), "channels": [{"type": "widget", "sound": False}]}
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [loud, quiet])))
    anna = await d.operator("anna")
    async with chromium() as browser, shop_site() as site:
        for line_id, chimes in (("support", "1"), ("sales", None)):
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            await embed(page, d, site, data_line=line_id)
            await open_panel(page)
            await say(page, f"hello {line_id}")
            dialog_id = (
                await anna.expect("dialog.offered", lambda f, x=line_id: f["dialog"]["line_id"] == x)
            )["dialog_id"]
            await anna.reply(dialog_id, "first answer, the chat open")
            host = page.locator(f'[data-openlines-line="{line_id}"]')
            await expect(page.locator('[data-ol="msg"][data-author="operator"]')).to_have_count(1)
            assert await host.get_attribute("data-ol-chimes") is None  # seen: no sound
            await page.click('[data-ol="close"]')
            await anna.reply(dialog_id, "second answer, the chat closed")
            await expect(page.locator('[data-ol="badge"]')).to_have_text("1")
            if chimes:
                await expect(host).to_have_attribute("data-ol-chimes", chimes)
            else:
                assert await host.get_attribute("data-ol-chimes") is None
            await page.close()
