"""Quick answers in the operator console: the panel where an operator keeps their own (added, refused by the server
with its reason, edited, deleted after a yes) beside their lines' shared ones, and the reply box's "/" popup that
finds one by its shortcut, title or text (Cyrillic too) and puts its text in, filled in for the dialog."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import Running, config, line, settings_from
from tests.e2e.test_browser import ARTIFACTS
from tests.e2e.test_console_defects import DESKTOP, OPERATORS, PHONE, _page, _sign_in, _take_offer, chromium

pytestmark = pytest.mark.e2e

SHARED = [
    {
        "title": "Delivery times",
        "text": "Hello {customer.name}, orders arrive within 2 days. {line.name} team",
        "shortcut": "delivery",
    },
    {"title": "Спасибо за ожидание", "text": "Спасибо, что подождали, {customer.name}!", "shortcut": "wait"},
]
MINE = {
    "title": "Order status",
    "shortcut": "ord-status",
    "text": "Hi {customer.name}, this is {operator.name}. Your order is on its way.",
}
CUSTOMER = "Maria Kuznetsova"
POPUP = "#qa-popup"
OPTIONS = "#qa-options [role=option]"


async def _daemon(tmp_path, start_daemon) -> Running:
    support = {**line("support", ["anna"]), "quick_answers": SHARED}
    return await start_daemon(settings_from(tmp_path, config(tmp_path, [support], operators=OPERATORS)))


async def _save_expecting_refusal(page: Page) -> dict[str, Any]:
    """Press Save and return the server's error answer to it."""
    async with page.expect_response(
        lambda r: "/api/quick-answers" in r.url and r.request.method == "POST"
    ) as got:
        await page.click("#qa-save")
    response = await got.value
    assert response.status >= 400
    body: dict[str, Any] = await response.json()
    return body


async def _type_in_reply(page: Page, text: str) -> None:
    """Empty the reply box and type `text` key by key, as the operator does."""
    await page.fill("#reply-text", "")
    await page.locator("#reply-text").press_sequentially(text)


async def _expect_titles(page: Page, titles: list[str]) -> None:
    """The popup lists exactly these answers, in this order."""
    await expect(page.locator(f"{OPTIONS} .qa-opt-title")).to_have_text(titles)


async def test_operator_keeps_quick_answers_and_inserts_one_filled_in_with_slash(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon)
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(page, d, "anna")

        # the panel: no answers of her own yet, her line's shared ones marked with the line's name
        await page.click("#qa-open")
        panel = page.locator("#qa-panel")
        await expect(panel).to_be_visible()
        await expect(page.locator("#qa-open-side")).to_be_hidden()  # a phone's
        await expect(page.locator("#qa-search")).to_be_focused()
        personal = page.locator("#qa-personal")
        shared = page.locator("#qa-shared .qa-item")
        await expect(personal).to_have_text("You have no quick answers of your own yet.")
        await expect(shared).to_have_count(2)
        await expect(shared.first.locator(".qa-item-title")).to_have_text("Delivery times")
        await expect(shared.first.locator(".qa-line")).to_have_text("Support")
        await expect(shared.first.locator(".qa-shortcut")).to_have_text("/delivery")
        await expect(shared.locator("[data-action]")).to_have_count(0)  # read-only

        # she adds her own: a shortcut the server refuses, then one it takes
        await page.click("#qa-new")
        await expect(page.locator("#qa-f-title")).to_be_focused()
        await page.fill("#qa-f-title", MINE["title"])
        await page.fill("#qa-f-shortcut", "no spaces please")
        await page.fill("#qa-f-text", "Hi ")
        await page.click('#qa-form [data-placeholder="{customer.name}"]')  # put in where the caret is
        await page.locator("#qa-f-text").press_sequentially(", this is ")
        await page.click('#qa-form [data-placeholder="{operator.name}"]')
        await page.locator("#qa-f-text").press_sequentially(". Your order is on its way.")
        await expect(page.locator("#qa-f-text")).to_have_value(MINE["text"])
        refused = await _save_expecting_refusal(page)
        assert refused["code"] == "bad_field"
        form_error = page.locator("#qa-form-error")
        await expect(form_error).to_have_text(refused["message"])
        await expect(form_error).to_have_attribute("data-code", "bad_field")
        await page.fill("#qa-f-shortcut", MINE["shortcut"])
        await page.click("#qa-save")
        await expect(page.locator("#qa-status")).to_have_text("Quick answer saved.")
        await expect(page.locator("#qa-form")).to_be_hidden()
        mine = personal.locator(".qa-item")
        await expect(mine).to_have_count(1)
        await expect(mine.locator(".qa-item-title")).to_have_text(MINE["title"])
        await expect(mine.locator(".qa-shortcut")).to_have_text("/ord-status")
        await expect(mine.locator(".qa-item-text")).to_have_text(MINE["text"])

        # the same shortcut twice: the server's reason is shown in the form, which keeps what was typed
        await page.click("#qa-new")
        await page.fill("#qa-f-title", "Another one")
        await page.fill(
            "#qa-f-shortcut", "/ord-status"
        )  # typed as in the reply box: the slash is not part of it
        await page.fill("#qa-f-text", "Something else")
        refused = await _save_expecting_refusal(page)
        assert refused["code"] == "duplicate_shortcut"
        await expect(form_error).to_have_text(refused["message"])
        await expect(page.locator("#qa-f-title")).to_have_value("Another one")
        await page.screenshot(path=str(ARTIFACTS / "console-quick-answers-form-desktop.png"))
        await page.click("#qa-cancel")
        await expect(page.locator("#qa-form")).to_be_hidden()

        # the search filters both lists, case-insensitively in any script
        await page.fill("#qa-search", "СПАСИБО")
        await expect(shared).to_have_count(1)
        await expect(shared.locator(".qa-item-title")).to_have_text("Спасибо за ожидание")
        await expect(personal).to_have_text("No quick answers match")
        await page.fill("#qa-search", "")
        await expect(shared).to_have_count(2)
        await page.screenshot(path=str(ARTIFACTS / "console-quick-answers-panel-desktop.png"))
        await page.keyboard.press("Escape")
        await expect(panel).to_be_hidden()

        # a customer writes; anna takes the dialog and names the lead
        v = await d.visitor("support")
        await v.say("Where is my order?")
        await _take_offer(page, "Where is my order?")
        await page.fill("#lead-name", CUSTOMER)
        await page.click("#lead-save")
        await expect(page.locator("#dlg-customer")).to_have_text(CUSTOMER)

        # "/" and part of the shortcut: the answers it matches, the shortcut's first; arrows move the choice
        box = page.locator("#reply-text")
        popup = page.locator(POPUP)
        options = page.locator(OPTIONS)
        await _type_in_reply(page, "/ord")
        await expect(popup).to_be_visible()
        await expect(options).to_have_count(2)  # "ord" is in the shared answer's text too ("orders")
        await _expect_titles(page, [MINE["title"], "Delivery times"])
        await expect(options.first.locator(".qa-opt-shortcut")).to_have_text("/ord-status")
        await expect(options.first.locator(".qa-opt-text")).to_have_text(
            f"Hi {CUSTOMER}, this is Anna Petrova. Your order is on its way."
        )
        await expect(options.first).to_have_attribute("aria-selected", "true")
        await expect(box).to_have_attribute("aria-activedescendant", "qa-opt-0")
        await page.screenshot(path=str(ARTIFACTS / "console-quick-answers-popup-desktop.png"))
        await box.press("ArrowDown")
        await expect(options.nth(1)).to_have_attribute("aria-selected", "true")
        await expect(options.first).to_have_attribute("aria-selected", "false")
        await expect(box).to_have_attribute("aria-activedescendant", "qa-opt-1")
        await box.press("ArrowUp")
        await expect(options.first).to_have_attribute("aria-selected", "true")

        # Enter puts the answer in, filled in for this dialog, and sends nothing; the next Enter sends it
        filled = f"Hi {CUSTOMER}, this is Anna Petrova. Your order is on its way."
        await box.press("Enter")
        await expect(popup).to_be_hidden()
        await expect(box).to_have_value(filled)
        await expect(box).not_to_have_attribute("aria-activedescendant", "qa-opt-0")
        await expect(page.locator('#thread [data-author-kind="operator"]')).to_have_count(0)
        await box.press("Enter")
        answer = await v.expect("message", lambda f: f["author"]["kind"] == "operator")
        assert answer["text"] == filled
        await expect(box).to_have_value("")

        # Esc closes the list and leaves the text as typed; it stays closed until "/" is typed anew
        await _type_in_reply(page, "/ord")
        await expect(popup).to_be_visible()
        await box.press("Escape")
        await expect(popup).to_be_hidden()
        await expect(box).to_have_value("/ord")
        await box.press_sequentially("-s")
        await expect(popup).to_be_hidden()
        await expect(box).to_have_value("/ord-s")

        # a line's shared answer, picked with the mouse
        await _type_in_reply(page, "/deliv")
        await expect(options).to_have_count(1)
        await options.first.click()
        await expect(box).to_have_value(f"Hello {CUSTOMER}, orders arrive within 2 days. Support team")
        await expect(box).to_be_focused()

        # a Cyrillic filter finds a Cyrillic title, whatever its case; nothing matching says so
        await _type_in_reply(page, "/СПАСИБО")
        await _expect_titles(page, ["Спасибо за ожидание"])
        await box.press("Enter")
        await expect(box).to_have_value(f"Спасибо, что подождали, {CUSTOMER}!")
        await _type_in_reply(page, "/zzz")
        await expect(options).to_have_count(0)
        await expect(page.locator("#qa-popup-note")).to_have_text("No quick answers match")
        await box.press("Enter")  # nothing to insert, and nothing sent
        await expect(box).to_have_value("/zzz")
        await box.press("Escape")

        # she edits her answer in the panel: the popup lists it as it is now
        await page.click("#qa-open")
        await mine.locator("[data-action=edit]").click()
        await expect(page.locator("#qa-f-title")).to_have_value(MINE["title"])
        await page.fill("#qa-f-title", "Order on its way")
        await page.fill("#qa-f-shortcut", "")  # no shortcut any more
        await page.click("#qa-save")
        await expect(mine.locator(".qa-item-title")).to_have_text("Order on its way")
        await expect(mine.locator(".qa-shortcut")).to_have_count(0)
        await page.click("#qa-close")
        await _type_in_reply(page, "/ord")
        await _expect_titles(page, ["Order on its way", "Delivery times"])
        await expect(options.first.locator(".qa-opt-shortcut")).to_have_count(0)
        await box.press("Escape")

        # and deletes it, after saying yes
        await page.click("#qa-open")
        await mine.locator("[data-action=delete]").click()
        await expect(mine.locator(".qa-confirm")).to_contain_text("Delete “Order on its way”?")
        await mine.locator("[data-action=cancel-delete]").click()
        await expect(mine).to_have_count(1)
        await mine.locator("[data-action=delete]").click()
        await mine.locator("[data-action=confirm-delete]").click()
        await expect(page.locator("#qa-status")).to_have_text("Quick answer deleted.")
        await expect(personal.locator(".qa-item")).to_have_count(0)
        await page.keyboard.press("Escape")
        await _type_in_reply(page, "/ord")
        await _expect_titles(page, ["Delivery times"])
    assert not errors, errors


async def test_quick_answers_on_a_phone_in_russian(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon)
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=PHONE, locale="ru-RU")
        await _sign_in(page, d, "anna")
        await expect(page.locator("#qa-open-side")).to_have_text("Быстрые ответы")
        await page.screenshot(path=str(ARTIFACTS / "console-quick-answers-button-phone.png"))
        v = await d.visitor("support")
        await v.say("Здравствуйте, где мой заказ?")
        await _take_offer(page, "Здравствуйте, где мой заказ?")
        await page.fill("#lead-name", "Мария")
        await page.click("#lead-save")
        await expect(page.locator("#dlg-customer")).to_have_text("Мария")

        # the popup, above the reply box and inside the screen
        await page.locator("#dialog-view").scroll_into_view_if_needed()
        await _type_in_reply(page, "/спас")
        options = page.locator(OPTIONS)
        await expect(options).to_have_count(1)
        await expect(options.locator(".qa-opt-text")).to_have_text("Спасибо, что подождали, Мария!")
        popup = await page.locator(POPUP).bounding_box()
        reply = await page.locator("#reply-text").bounding_box()
        assert popup and reply
        assert popup["x"] >= 0 and popup["x"] + popup["width"] <= PHONE["width"], popup
        assert popup["y"] >= 0 and popup["y"] + popup["height"] <= reply["y"] + 1, (popup, reply)
        await page.screenshot(path=str(ARTIFACTS / "console-quick-answers-popup-phone.png"))
        await _type_in_reply(page, "/нет-такого")
        await expect(page.locator("#qa-popup-note")).to_have_text("Подходящих быстрых ответов нет")
        await page.locator("#reply-text").press("Escape")

        # the panel fills the screen, in Russian; its button is beside the lead search (the top bar stays one row)
        await expect(page.locator("#qa-open")).to_be_hidden()
        topbar = await page.locator(".topbar").bounding_box()
        assert topbar and topbar["height"] < 60, topbar
        await page.click("#qa-open-side")
        await expect(page.locator("#qa-heading")).to_have_text("Быстрые ответы")
        await expect(page.locator("#qa-shared .qa-item")).to_have_count(2)
        await page.click("#qa-new")
        await page.fill("#qa-f-title", "Без текста")
        await page.click("#qa-save")
        await expect(page.locator("#qa-form-error")).to_have_text("Напишите текст ответа.")
        sheet = await page.locator("#qa-panel").bounding_box()
        assert sheet and sheet["x"] == 0 and sheet["width"] == PHONE["width"], sheet
        for control in ("#qa-close", "#qa-new", "#qa-save", "#qa-cancel"):
            box = await page.locator(control).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (control, box)
        await page.screenshot(path=str(ARTIFACTS / "console-quick-answers-panel-phone.png"))
        await page.click("#qa-close")
        await expect(page.locator("#qa-panel")).to_be_hidden()
    assert not errors, errors
