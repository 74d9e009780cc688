"""The widget for a site's signed-in user, in Chromium: the same conversation in two browsers (a laptop and a
phone), and a page whose signature is forged shows why the chat does not open."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from playwright.async_api import expect

from tests.conftest import config, line, settings_from
from tests.e2e.test_browser import ARTIFACTS
from tests.e2e.widget_pages import MSG, chromium, embed, open_panel, say, shop_site

pytestmark = pytest.mark.e2e
SECRET = "site-secret-0123456789"


def user_attrs(user_id: str, email: str, name: str, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), "\n".join([user_id, email, "", name]).encode(), hashlib.sha256)
    return {"data_user_id": user_id, "data_user_email": email, "data_user_name": name,
            "data_user_hash": digest.hexdigest()}  # fmt: skip


async def test_a_signed_in_user_sees_one_conversation_in_two_browsers(tmp_path, start_daemon) -> None:
    support = {**line("support", ["anna"]), "channels": [{"type": "widget", "identity_secret": SECRET}]}
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support])))
    anna = await d.operator("anna")
    me = user_attrs("user-42", "ivan@example.com", "Ivan Petrov")
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser, shop_site() as shop:
        laptop = await browser.new_page(viewport={"width": 1280, "height": 800})
        await embed(laptop, d, shop, data_line="support", **me)
        await open_panel(laptop)
        await say(laptop, "Written on my laptop")
        dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
        await anna.reply(dialog_id, "Hello Ivan!")
        await expect(laptop.locator(f'{MSG}[data-author="operator"]')).to_contain_text("Hello Ivan!")
        # the signed-in user's token is not left in the browser for whoever uses it after a logout
        assert await laptop.evaluate("() => localStorage.getItem('openlines.visitor.support')") is None

        phone_ctx = await browser.new_context(viewport={"width": 390, "height": 844})  # its own storage
        phone = await phone_ctx.new_page()
        await embed(phone, d, shop, data_line="support", **me)
        await open_panel(phone)
        texts = phone.locator(MSG)
        await expect(texts).to_have_count(2)
        await expect(texts.first).to_contain_text("Written on my laptop")
        await say(phone, "And now from my phone")
        got = await anna.expect("message", lambda f: f["message"]["text"] == "And now from my phone")
        assert got["dialog_id"] == dialog_id
        await expect(laptop.locator(MSG, has_text="And now from my phone")).to_be_visible()  # live
        await expect(phone.locator(MSG, has_text="And now from my phone")).to_have_count(1)  # shown once
        await laptop.screenshot(path=str(ARTIFACTS / "widget-signed-user-desktop.png"))
        await phone.screenshot(path=str(ARTIFACTS / "widget-signed-user-390.png"))

        forged = await browser.new_page(viewport={"width": 390, "height": 844})
        bad = user_attrs("user-42", "ivan@example.com", "Ivan Petrov", secret="not-the-site-secret")
        await embed(forged, d, shop, data_line="support", **bad)
        await open_panel(forged)
        notice = forged.locator('[data-ol="closed-notice"]')
        await expect(notice).to_have_text(
            "We could not confirm who you are. Please reload the page, or sign in again."
        )
        await expect(forged.locator('[data-ol="input"]')).to_be_disabled()
        await expect(forged.locator(MSG)).to_have_count(0)  # nothing of the user's is shown
        await forged.screenshot(path=str(ARTIFACTS / "widget-signed-user-forged-390.png"))
