"""The demo page's widget and the operator console in a real Chromium: a message and its answer both ways."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from tests.conftest import PASSWORD, config, line, settings_from

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'

pytestmark = pytest.mark.e2e


async def _bearer(d) -> dict[str, str]:
    async with d.session.post(f"{d.base}/api/login", json={"login": "admin", "password": PASSWORD}) as r:
        return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def test_widget_and_console_talk_in_a_real_browser(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            console = await (await browser.new_context()).new_page()
            site = await (await browser.new_context()).new_page()
            errors: list[str] = []
            for page in (console, site):
                page.on("pageerror", lambda exc: errors.append(str(exc)))

            # the operator logs in and is online
            await console.goto(f"{d.base}/console/")
            await console.fill("#login", "anna")
            await console.fill("#password", PASSWORD)
            await console.click("#login-submit")
            await expect(console.locator("#conn")).to_have_attribute("data-state", "up")

            # the visitor opens the demo page and writes in the widget
            await site.goto(f"{d.base}/demo/")
            await site.click('[data-ol="launcher"]')
            await site.fill('[data-ol="input"]', "Do you deliver to Kazan?")
            await site.click('[data-ol="send"]')
            mine = site.locator('[data-ol="msg"][data-author="customer"]')
            await expect(mine).to_have_count(1)
            await expect(mine.first).not_to_have_attribute("data-pending", "1")  # acked = stored

            # the offer appears in the console in real time; the operator opens it and answers
            offer = console.locator('[data-list="offered"] [data-dialog-id]')
            await expect(offer).to_have_count(1, timeout=10_000)
            await offer.first.click()
            await expect(console.locator('#thread [data-author-kind="customer"]')).to_contain_text(
                "Do you deliver to Kazan?"
            )
            await console.fill("#reply-text", "Yes, in 3 days.")
            await console.click("#reply-send")
            answer = site.locator('[data-ol="msg"][data-author="operator"]')
            await expect(answer).to_contain_text("Yes, in 3 days.", timeout=10_000)
            mine_reply = console.locator('#thread [data-author-kind="operator"]').last
            await expect(mine_reply).to_have_attribute(
                "data-delivery", "sent"
            )  # message.status reached the console
            await expect(console.locator('[data-list="mine"] [data-dialog-id]')).to_have_count(1)
            # answering took the dialog, and the lead card shows anna as its responsible
            await expect(console.locator("#lead-responsible")).to_have_value("anna")

            # the operator attaches a file to an answer
            await console.set_input_files(
                "#reply-file",
                files=[{"name": "prices.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4"}],
            )
            await expect(console.locator("#reply-files [data-file]")).to_have_count(1)
            await console.fill("#reply-text", "Here is the price list.")
            await console.click("#reply-send")
            link = console.locator("#thread .m-files a", has_text="prices.pdf")
            await expect(link).to_have_count(1, timeout=10_000)
            await expect(console.locator("#reply-files [data-file]")).to_have_count(0)

            # the operator fills in the lead from the console
            await console.fill("#lead-name", "Ivan Sidorov")
            await console.click("#lead-phone-add")
            await console.fill("#lead-phones li:last-child .contact-value", "+7 916 123-45-67")
            await console.fill("#lead-phones li:last-child .contact-comment", "mobile")
            await console.click("#lead-email-add")
            await console.fill("#lead-emails li:last-child .contact-value", "ivan@example.com")
            await console.select_option("#lead-status", "in_progress")
            await console.click("#lead-save")
            await expect(console.locator("#lead-saved")).to_contain_text("aved")
            async with d.session.get(f"{d.base}/api/leads?query=sidorov", headers=await _bearer(d)) as r:
                leads = (await r.json())["leads"]
            assert [(x["name"], x["phone"], x["email"], x["status"]) for x in leads] == [
                ("Ivan Sidorov", "+79161234567", "ivan@example.com", "in_progress")
            ]

            # customer text is text: markup arrives literally and never runs, in either page
            await site.fill('[data-ol="input"]', XSS)
            await site.click('[data-ol="send"]')
            shown = console.locator('#thread [data-author-kind="customer"]').last
            await expect(shown).to_contain_text("<script>window.__pwned=1</script>", timeout=10_000)
            assert await console.evaluate("window.__pwned") is None
            assert await site.evaluate("window.__pwned") is None

            # a reload keeps the conversation
            await site.reload()
            panel = site.locator('[data-ol="panel"]')
            # once mounted (after the line's settings and strings), the widget remembers whether it was open
            await site.locator('[data-ol="launcher"]').wait_for(state="attached", timeout=10_000)
            if not await panel.is_visible():
                await site.click('[data-ol="launcher"]')
            await expect(panel).to_be_visible()
            texts = site.locator('[data-ol="msg"] [data-ol="text"]')
            await expect(texts).to_have_count(4, timeout=10_000)
            assert (await texts.all_inner_texts())[:2] == ["Do you deliver to Kazan?", "Yes, in 3 days."]

            await site.screenshot(path=str(ARTIFACTS / "widget.png"))
            await console.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)
            assert not errors, errors
        finally:
            await browser.close()


async def test_widget_resends_a_rate_limited_message_instead_of_dropping_it(tmp_path, start_daemon):
    support = {
        **line("support", ["anna"]),
        "channels": [{"type": "widget", "rate_per_visitor": 60, "burst_per_visitor": 1}],
    }
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support])))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            site = await browser.new_page()
            await site.goto(f"{d.base}/demo/")
            await site.click('[data-ol="launcher"]')
            for text in ("first", "second, too fast"):
                await site.fill('[data-ol="input"]', text)
                await site.click('[data-ol="send"]')
            mine = site.locator('[data-ol="msg"][data-author="customer"]')
            await expect(mine).to_have_count(2)
            await expect(site.locator('[data-ol="msg"][data-pending="1"]')).to_have_count(0, timeout=10_000)
            assert await site.locator('[data-ol="msg"][data-failed]').count() == 0
        finally:
            await browser.close()
    assert await d.daemon.store.count("messages") == 2
