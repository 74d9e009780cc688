"""The console and the demo page under their Content-Security-Policy in a real Chromium: nothing they need is
blocked (every script and style is a file of ours), and the console refuses to be framed by another page."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright, expect

from tests.conftest import PASSWORD, config, line, settings_from
from tests.e2e.test_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.e2e


async def test_console_and_demo_work_under_their_policy(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            console = await (await browser.new_context()).new_page()
            site = await (await browser.new_context()).new_page()
            blocked: list[str] = []
            for page in (console, site):
                page.on(
                    "console",
                    lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None,
                )
                page.on("pageerror", lambda exc: blocked.append(str(exc)))
            await console.goto(f"{d.base}/console/")
            await console.fill("#login", "anna")
            await console.fill("#password", PASSWORD)
            await console.click("#login-submit")
            await expect(console.locator("#conn")).to_have_attribute("data-state", "up")
            await site.goto(f"{d.base}/demo/")
            await site.click('[data-ol="launcher"]')
            await site.fill('[data-ol="input"]', "hello under a strict policy")
            await site.click('[data-ol="send"]')
            mine = site.locator('[data-ol="msg"][data-author="customer"]')
            await expect(mine.first).not_to_have_attribute("data-pending", "1")
            await expect(console.locator('[data-list="offered"] [data-dialog-id]')).to_have_count(1)
            await expect(site.locator("#snippet")).to_contain_text("/widget/loader.js")  # demo.js ran
            assert blocked == []
            # another page framing the console gets nothing: the browser refuses to render it in the frame
            framer = await (await browser.new_context()).new_page()
            await framer.set_content(f'<iframe id="f" src="{d.base}/console/"></iframe>')
            frame = await (await framer.query_selector("#f")).content_frame()  # type: ignore[union-attr]
            await framer.wait_for_timeout(500)
            assert frame is None or await frame.query_selector("#login") is None
        finally:
            await browser.close()
