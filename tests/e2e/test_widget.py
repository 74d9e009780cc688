"""The site widget as a visitor meets it, in a real Chromium: the line's title (B4), the visitor's earlier dialogs
after a reload, paged (B7), and a polite refusal of an unknown line with no message left "sending…" (B8)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.async_api import expect

from tests.conftest import config, line, settings_from
from tests.e2e.widget_pages import MSG, chromium, embed, open_panel, say, shop_site

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
TEXTS = f'{MSG} [data-ol="text"]'


def _titled(title: str) -> dict[str, Any]:
    return {**line("support", ["anna"]), "channels": [{"type": "widget", "title": title}]}


# ---- B4: the title ---------------------------------------------------------------------------------


async def test_widget_shows_the_lines_title_from_yaml_and_the_pages_data_title_overrides_it(
    tmp_path, start_daemon
):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [_titled("Acme help desk")])))
    async with chromium() as browser, shop_site() as shop:
        page = await browser.new_page()
        await page.goto(f"{d.base}/demo/")  # the demo embeds the widget without data-title
        await open_panel(page)
        await expect(page.locator('[data-ol="title"]')).to_have_text("Acme help desk")
        await expect(page.locator('[data-ol="launcher"]')).to_have_attribute("aria-label", "Acme help desk")
        await expect(page.locator('[data-ol="panel"]')).to_have_attribute("aria-label", "Acme help desk")

        other = await browser.new_page()
        await embed(other, d, shop, data_line="support", data_title="Questions about your order?")
        await open_panel(other)
        await expect(other.locator('[data-ol="status"]')).to_have_attribute("data-state", "online")
        await expect(other.locator('[data-ol="title"]')).to_have_text("Questions about your order?")


# ---- B7: earlier dialogs ---------------------------------------------------------------------------


async def test_reload_shows_the_visitors_earlier_dialog_and_loads_older_pages(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    async with chromium() as browser:
        site = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
        await site.goto(f"{d.base}/demo/")
        await open_panel(site)

        # the first dialog: a question, an answer, a note between operators, closed
        await say(site, "Is the Trail 29 in stock?")
        first = await anna.expect("dialog.offered")
        await anna.reply(first["dialog_id"], "Yes, two left.")
        await anna.reply(first["dialog_id"], "NOTE: he asked last week too", visibility="internal")
        await anna.send({"type": "close", "dialog_id": first["dialog_id"]})
        await anna.expect("dialog.closed")
        # the second dialog, days later
        await say(site, "Can I book a spring service?")
        second = await anna.expect("dialog.offered")
        assert second["dialog_id"] != first["dialog_id"]
        await anna.reply(second["dialog_id"], "Sure, Saturday at 10?")
        await expect(site.locator(TEXTS, has_text="Sure, Saturday at 10?")).to_have_count(1, timeout=10_000)

        await site.reload()
        await open_panel(site)
        texts = site.locator(TEXTS)
        await expect(texts).to_have_count(4, timeout=10_000)
        assert await texts.all_inner_texts() == [
            "Is the Trail 29 in stock?",
            "Yes, two left.",
            "Can I book a spring service?",
            "Sure, Saturday at 10?",
        ]
        # a quiet line between the dialogs, and the note never shows
        separators = site.locator('[data-ol="separator"]')
        await expect(separators).to_have_count(1)
        assert await site.evaluate(
            """() => {
              const root = document.querySelector('[data-openlines-line]').shadowRoot;
              const sep = root.querySelector('[data-ol="separator"]');
              return sep.previousElementSibling.textContent.includes('two left') &&
                sep.nextElementSibling.textContent.includes('spring service');
            }"""
        )
        assert "NOTE" not in await site.locator('[data-ol="messages"]').inner_text()
        await expect(site.locator('[data-ol="earlier"]')).to_be_hidden()
        await site.screenshot(path=str(ARTIFACTS / "widget-history-1280.png"))

        # a long history comes a page at a time: the newest on load, older ones on demand
        for i in range(1, 8):
            await anna.reply(second["dialog_id"], f"detail {i}")
        await expect(site.locator(TEXTS, has_text="detail 7")).to_have_count(1, timeout=10_000)
        d.daemon.connectors["widget"].history_page = 4  # type: ignore[attr-defined]
        await site.reload()
        await open_panel(site)
        await expect(texts).to_have_count(4, timeout=10_000)
        assert await texts.all_inner_texts() == [f"detail {i}" for i in range(4, 8)]
        earlier = site.locator('[data-ol="earlier"]')
        await expect(earlier).to_be_visible()
        await site.set_viewport_size({"width": 390, "height": 844})
        await site.screenshot(path=str(ARTIFACTS / "widget-history-390.png"))
        await earlier.click()
        await expect(texts).to_have_count(8)
        await earlier.click()
        await expect(texts).to_have_count(11)
        await expect(earlier).to_be_hidden()
        assert (await texts.all_inner_texts())[:4] == [
            "Is the Trail 29 in stock?",
            "Yes, two left.",
            "Can I book a spring service?",
            "Sure, Saturday at 10?",
        ]
        await expect(separators).to_have_count(1)
        assert "NOTE" not in await site.locator('[data-ol="messages"]').inner_text()


# ---- B8: an unknown line, and a message nobody acknowledges ---------------------------------------


async def test_unknown_line_says_so_politely_disables_the_input_and_leaves_nothing_sending(
    tmp_path, start_daemon
):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    pending = [{"client_msg_id": "left-1", "text": "written last week", "ts": "2026-03-01T10:00:00Z"}]
    async with chromium() as browser, shop_site() as shop:
        page = await browser.new_page()
        # a message this browser could not send on an earlier visit
        await page.add_init_script(
            f"localStorage.setItem('openlines.pending.nope', {orjson.dumps(orjson.dumps(pending).decode()).decode()})"
        )
        await page.goto(f"{d.base}/demo/?line=nope")
        await open_panel(page)
        notice = page.locator('[data-ol="closed-notice"]')
        await expect(notice).to_be_visible(timeout=10_000)
        await expect(notice).to_contain_text("not available")
        await expect(page.locator('[data-ol="input"]')).to_be_disabled()
        await expect(page.locator('[data-ol="send"]')).to_be_disabled()
        old = page.locator(f'{MSG}[data-client-msg-id="left-1"]')
        await expect(old).to_have_attribute("data-unsent", "1")
        await expect(page.locator(f'{MSG}[data-pending="1"]')).to_have_count(0)
        await page.screenshot(path=str(ARTIFACTS / "widget-unknown-line-1280.png"))

        ru = await browser.new_page(viewport={"width": 390, "height": 844})
        await embed(ru, d, shop, lang="ru", data_line="nope")
        await open_panel(ru)
        await expect(ru.locator('[data-ol="closed-notice"]')).to_contain_text("недоступен", timeout=10_000)
        await expect(ru.locator('[data-ol="input"]')).to_be_disabled()
        await expect(ru.locator('[data-ol="input"]')).to_have_attribute("placeholder", "Напишите сообщение…")
        await ru.screenshot(path=str(ARTIFACTS / "widget-unknown-line-ru-390.png"))

        # a known line speaks the page's language too (data-lang wins over <html lang>)
        en = await browser.new_page()
        await embed(en, d, shop, lang="ru", data_line="support", data_lang="en")
        await open_panel(en)
        await expect(en.locator('[data-ol="status"]')).to_have_text("We reply as soon as we can")
        await expect(en.locator('[data-ol="input"]')).to_be_enabled()


async def test_a_message_without_an_ack_shows_as_not_sent_with_a_retry(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    widget = d.daemon.connectors["widget"]
    real = widget.ctx.sink  # type: ignore[attr-defined]

    class Swallowed:
        """Takes messages and loses them: the browser never gets an ack."""

        async def publish(self, events: Any) -> None:
            return None

        def submit(self, events: Any) -> asyncio.Future[None]:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

    async with chromium() as browser:
        page = await browser.new_page()
        await page.clock.install()
        await page.goto(f"{d.base}/demo/")
        await open_panel(page)
        await expect(page.locator('[data-ol="status"]')).to_have_attribute("data-state", "online")
        widget.ctx.sink = Swallowed()  # type: ignore[attr-defined]
        await page.fill('[data-ol="input"]', "Hello, anybody there?")
        await page.click('[data-ol="send"]')
        mine = page.locator(f'{MSG}[data-author="customer"]')
        await expect(mine).to_have_attribute("data-pending", "1")
        await page.clock.run_for(60_000)
        await expect(mine).to_have_attribute("data-unsent", "1")
        await expect(mine).not_to_have_attribute("data-pending", "1")
        await expect(mine.locator('[data-ol="state"]')).to_contain_text("Not sent")
        retry = mine.locator('[data-ol="retry"]')
        await expect(retry).to_be_visible()
        await page.screenshot(path=str(ARTIFACTS / "widget-not-sent-1280.png"))

        widget.ctx.sink = real  # type: ignore[attr-defined]
        await retry.click()
        await expect(mine).to_have_attribute("data-id", re.compile(".+"), timeout=10_000)
        await expect(mine).not_to_have_attribute("data-unsent", "1")
        await expect(retry).to_have_count(0)
    assert await d.daemon.store.count("messages") == 1  # type: ignore[union-attr]
