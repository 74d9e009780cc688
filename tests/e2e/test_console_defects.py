"""Regression tests for console defects found by using the product in a real browser: an admin's lists, the dialog
header on a phone, renaming a lead, a transferred dialog's reply box, the length limit, drafts and files per
dialog, Attach on closed dialogs, and the console's Russian. Customers and colleagues are protocol clients."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Route, async_playwright, expect

from tests.conftest import PASSWORD, Running, config, line, settings_from
from tests.e2e.test_browser import ARGS, ARTIFACTS, CHROMIUM

pytestmark = pytest.mark.e2e

OPERATORS = [
    {"login": "admin", "name": "Alice Admin", "role": "admin"},
    {"login": "anna", "name": "Anna Petrova"},
    {"login": "boris", "name": "Boris Ivanov"},
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def _page(browser: Browser, errors: list[str], **context: Any) -> Page:
    page = await (await browser.new_context(**context)).new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


async def _sign_in(page: Page, d: Running, login: str, *, goto: bool = True) -> None:
    if goto:
        await page.goto(f"{d.base}/console/")
    await page.fill("#login", login)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "up")


async def _take_offer(page: Page, text: str) -> None:
    """Open the offered dialog whose last message is `text` and take it with the button."""
    offer = page.locator('[data-list="offered"] [data-dialog-id]', has_text=text)
    await expect(offer).to_have_count(1, timeout=10_000)
    await offer.click()
    await expect(page.locator("#thread")).to_contain_text(text)
    await page.click("#btn-take")
    await expect(page.locator("#dlg-state")).to_have_attribute("data-state", "assigned")


async def _daemon(tmp_path, start_daemon, queue: list[str], **extra: Any) -> Running:
    data = config(tmp_path, [line("support", queue)], operators=OPERATORS)
    data.update(extra)
    return await start_daemon(settings_from(tmp_path, data))


def _boxes_overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


async def test_admin_console_lists_every_open_dialog_with_its_state_and_operator(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon, ["anna", "boris"])
    anna = await d.operator("anna")
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors)
        await _sign_in(page, d, "admin")
        every = page.locator('[data-list="all"]')
        await expect(every).to_be_visible()

        # a customer writes: the offer to anna shows in the admin's list of all dialogs, live
        v = await d.visitor("support")
        await v.say("Where is my parcel?")
        offer = await anna.expect("dialog.offered")
        item = every.locator(f'[data-dialog-id="{offer["dialog_id"]}"]')
        await expect(item).to_have_count(1, timeout=10_000)
        await expect(item).to_have_attribute("data-state", "offered")
        await expect(item.locator(".item-holder")).to_have_text("to Anna Petrova")
        # not the admin's own offer
        await expect(
            page.locator(f'[data-list="offered"] [data-dialog-id="{offer["dialog_id"]}"]')
        ).to_have_count(0)

        # anna takes it: the admin sees who has it now
        await anna.send({"type": "take", "dialog_id": offer["dialog_id"]})
        await expect(item).to_have_attribute("data-state", "assigned")
        await expect(item.locator(".item-holder")).to_have_text("Anna Petrova")
        await expect(item.locator(".state-badge")).to_have_text("assigned")

        # the admin opens it (visible, with take over), and when anna closes it, it leaves the list
        await item.click()
        await expect(page.locator("#thread")).to_contain_text("Where is my parcel?")
        await expect(page.locator("#btn-take")).to_have_text("Take over")
        await anna.send({"type": "close", "dialog_id": offer["dialog_id"]})
        await expect(item).to_have_count(0)
        await expect(
            page.locator(f'[data-list="closed"] [data-dialog-id="{offer["dialog_id"]}"]')
        ).to_have_count(1)

        # a reload lists what is open from the server too
        await v.say("One more question")
        again = await anna.expect("dialog.offered")
        await page.reload()
        await expect(every.locator(f'[data-dialog-id="{again["dialog_id"]}"]')).to_have_count(
            1, timeout=10_000
        )
        await page.screenshot(path=str(ARTIFACTS / "console-admin-all.png"))

        # an operator has no such list
        op = await _page(browser, errors)
        await _sign_in(op, d, "boris")
        await expect(op.locator('[data-list="all"]')).to_be_hidden()
    assert not errors, errors


async def test_dialog_header_stays_usable_on_a_phone_after_take(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon, ["anna"])
    await d.operator("boris")  # online, so the transfer menu names them with their presence
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        for size, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
            page = await _page(browser, errors, viewport=size)
            await _sign_in(page, d, "anna")
            v = await d.visitor("support")
            text = f"Hello from the {name}"
            await v.say(text)
            await _take_offer(page, text)
            await expect(page.locator("#dlg-operator")).to_have_text("with Anna Petrova")
            await page.locator("#dialog-view").scroll_into_view_if_needed()
            await page.screenshot(path=str(ARTIFACTS / f"console-header-{name}.png"))

            title = await page.locator("#dlg-customer").bounding_box()
            badge = await page.locator("#dlg-state").bounding_box()
            who = await page.locator("#dlg-operator").bounding_box()
            for control in ("#transfer-target", "#btn-transfer", "#btn-close"):
                box = await page.locator(control).bounding_box()
                assert box and title and badge and who
                for part, part_box in (("name", title), ("state", badge), ("operator", who)):
                    assert not _boxes_overlap(box, part_box), (name, control, part, box, part_box)
                assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], (name, control, box)
            assert title and title["width"] >= 150, (name, title)  # the name, not one squeezed letter
            customer = await page.locator("#dlg-customer").text_content()
            assert await page.locator("#dlg-customer").evaluate("(n) => n.scrollWidth <= n.clientWidth"), (
                customer
            )
            line_height = await page.locator("#dlg-operator").evaluate(
                "(n) => parseFloat(getComputedStyle(n).lineHeight) || 18"
            )
            assert who and who["height"] < 2 * line_height, (name, who)  # "with Anna Petrova" on one line

            # an admin opening it has one more button (Take over): still nothing on top of anything
            admin = await _page(browser, errors, viewport=size)
            await _sign_in(admin, d, "admin")
            await admin.locator('[data-list="all"] [data-dialog-id]', has_text=text).click()
            await expect(admin.locator("#btn-take")).to_have_text("Take over")
            await admin.locator("#dialog-view").scroll_into_view_if_needed()
            await admin.screenshot(path=str(ARTIFACTS / f"console-header-admin-{name}.png"))
            controls = ["#dlg-customer", "#dlg-state", "#dlg-operator", "#btn-take", "#transfer-target"]
            controls += ["#btn-transfer", "#btn-close"]
            boxes = {c: await admin.locator(c).bounding_box() for c in controls}
            for i, a in enumerate(controls):
                box = boxes[a]
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= size["width"], (name, a, box)
                for b in controls[i + 1 :]:
                    assert not _boxes_overlap(box, boxes[b] or {}), (name, a, b, box, boxes[b])
            await admin.context.close()
            await page.context.close()
    assert not errors, errors


async def test_renaming_the_lead_renames_the_dialog_in_the_header_and_the_lists(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon, ["anna"])
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors)
        await _sign_in(page, d, "anna")
        v = await d.visitor("support")
        await v.say("I would like to order a sofa")
        offer = page.locator('[data-list="offered"] [data-dialog-id]')
        await expect(offer).to_have_count(1, timeout=10_000)
        await offer.click()
        await expect(page.locator("#lead-name")).to_have_value(re.compile(r"^Visitor "))
        await expect(page.locator("#lead-responsible")).to_have_value("")

        # the operator starts typing the name, then takes the dialog: the card reloads (anna is responsible now)
        # and keeps what she typed
        await page.fill("#lead-name", "Ivan Petrov")
        await page.click("#btn-take")
        await expect(page.locator("#lead-responsible")).to_have_value("anna")
        await expect(page.locator("#lead-name")).to_have_value("Ivan Petrov")
        await page.click("#lead-save")
        await expect(page.locator("#lead-saved")).to_contain_text("saved")
        await expect(page.locator("#dlg-customer")).to_have_text("Ivan Petrov")
        item = page.locator('[data-list="mine"] [data-dialog-id] .item-name')
        await expect(item).to_have_text("Ivan Petrov")

        # the next frames and refreshes name the lead as renamed, not as the channel named the visitor
        await v.say("Is it in stock?")
        await expect(page.locator("#thread")).to_contain_text("Is it in stock?")
        await page.reload()
        await expect(item).to_have_text("Ivan Petrov", timeout=10_000)
        await item.click()
        await expect(page.locator("#dlg-customer")).to_have_text("Ivan Petrov")
    assert not errors, errors


async def test_reply_box_and_actions_are_disabled_after_a_transfer_away(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon, ["anna"])
    boris = await d.operator("boris")
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors)
        await _sign_in(page, d, "anna")
        v = await d.visitor("support")
        await v.say("Please call me back")
        await _take_offer(page, "Please call me back")
        await expect(page.locator("#reply-text")).to_be_enabled()
        await page.fill("#reply-text", "half-typed answer")

        await page.select_option("#transfer-target", "op:boris")
        await page.click("#btn-transfer")
        await boris.expect("dialog.transferred")
        await expect(page.locator("#dlg-operator")).to_have_text("with Boris Ivanov")
        for control in ("#reply-text", "#reply-send", "#reply-internal", "#reply-file"):
            await expect(page.locator(control)).to_be_disabled()
        for action in ("#btn-close", "#transfer-box", "#btn-take", "#btn-skip"):
            await expect(page.locator(action)).to_be_hidden()
        await expect(page.locator("#reply-hint")).to_have_text("This dialog is now with Boris Ivanov.")
        await expect(page.locator("#reply-text")).to_have_value("half-typed answer")  # kept, not lost
    assert not errors, errors


async def _with_limit(page: Page, limit: int) -> None:
    """GET /api/meta as a server that says its limits (docs/protocol.md proposes `limits` there)."""

    async def handle(route: Route) -> None:
        response = await route.fetch()
        body = await response.json()
        body["limits"] = {"max_message_length": limit}
        await route.fulfill(response=response, json=body)

    await page.route("**/api/meta", handle)


async def test_long_reply_shows_a_counter_near_the_limit_and_keeps_the_text_past_it(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon, ["anna"])
    errors: list[str] = []
    async with chromium() as browser:
        # the server's limit (GET /api/meta: the default, 4,000)
        page = await _page(browser, errors)
        await _sign_in(page, d, "anna")
        v = await d.visitor("support")
        await v.say("Tell me everything")
        await _take_offer(page, "Tell me everything")
        count = page.locator("#reply-count")
        await page.fill("#reply-text", "a" * 100)
        await expect(count).to_be_hidden()
        await page.fill("#reply-text", "a" * 3700)
        await expect(count).to_be_visible()
        await expect(count).to_have_text("3,700 / 4,000")
        await page.fill("#reply-text", "a" * 4010)
        await expect(count).to_have_class(re.compile(r"\bis-over\b"))
        await expect(page.locator("#reply-send")).to_be_disabled()
        await expect(page.locator("#reply-hint")).to_have_text(
            "10 characters too many: shorten the message to send it."
        )
        await page.press("#reply-text", "Enter")
        await expect(page.locator("#reply-text")).to_have_value("a" * 4010)
        await expect(page.locator('#thread [data-author-kind="operator"]')).to_have_count(0)

        # another limit in GET /api/meta: the counter follows it
        other = await _page(browser, errors)
        await _with_limit(other, 120)
        await _sign_in(other, d, "anna")
        await other.locator('[data-list="mine"] [data-dialog-id]').click()
        await other.fill("#reply-text", "b" * 115)
        await expect(other.locator("#reply-count")).to_have_text("115 / 120")
        await other.fill("#reply-text", "b" * 125)
        await expect(other.locator("#reply-send")).to_be_disabled()
        await expect(other.locator("#reply-hint")).to_have_text(
            "5 characters too many: shorten the message to send it."
        )
    assert not errors, errors


async def test_a_reply_the_server_refuses_comes_back_to_the_reply_box(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon, ["anna"], limits={"max_message_length": 120})
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors)
        await _sign_in(page, d, "anna")
        v = await d.visitor("support")
        await v.say("Which sizes are there?")
        await _take_offer(page, "Which sizes are there?")
        # the console does not know the server's limit (120): the server refuses, the text comes back to shorten
        long_text = "Our sofas come in three sizes. " * 5  # 155 characters
        await page.fill("#reply-text", long_text)
        await page.press("#reply-text", "Enter")
        await expect(page.locator("#toast")).to_have_attribute("data-code", "message_too_long")
        await expect(page.locator("#reply-text")).to_have_value(long_text)
        await expect(page.locator("#reply-text")).to_be_enabled()
        await expect(page.locator('#thread [data-pending="1"]')).to_have_count(0)
        await page.fill("#reply-text", long_text[:60])
        await page.press("#reply-text", "Enter")
        await expect(page.locator('#thread [data-author-kind="operator"]')).to_contain_text(
            long_text[:60].strip()
        )
        await expect(page.locator("#reply-text")).to_have_value("")
        answer = await v.expect("message", lambda f: f["author"]["kind"] == "operator")
        assert answer["text"] == long_text[:60].strip()
    assert not errors, errors


async def test_drafts_and_files_stay_with_their_dialog_and_sign_out_clears_them(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon, ["anna", "boris"])
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors)
        await _sign_in(page, d, "anna")
        first, second = await d.visitor("support"), await d.visitor("support")
        await first.say("First customer")
        await _take_offer(page, "First customer")
        await second.say("Second customer")
        await _take_offer(page, "Second customer")
        one = page.locator('[data-list="mine"] [data-dialog-id]', has_text="First customer")
        two = page.locator('[data-list="mine"] [data-dialog-id]', has_text="Second customer")
        files = page.locator("#reply-files [data-file]")

        # in the first dialog: a file, an internal note switched on, some text
        await one.click()
        await expect(page.locator("#thread")).to_contain_text("First customer")
        await page.set_input_files(
            "#reply-file",
            files=[{"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4"}],
        )
        await expect(files).to_have_count(1)
        await page.check("#reply-internal")
        await page.fill("#reply-text", "note for the first")

        # the second dialog has none of it
        await two.click()
        await expect(page.locator("#thread")).to_contain_text("Second customer")
        await expect(files).to_have_count(0)
        await expect(page.locator("#reply-text")).to_have_value("")
        await expect(page.locator("#reply-internal")).not_to_be_checked()
        await page.fill("#reply-text", "Hello, second customer")
        await page.press("#reply-text", "Enter")
        sent = page.locator('#thread [data-author-kind="operator"]', has_text="Hello, second customer")
        await expect(sent).to_have_attribute("data-visibility", "public")
        await expect(sent.locator(".m-files")).to_have_count(0)

        # back in the first: its draft is as it was left, and sends there
        await one.click()
        await expect(page.locator("#thread")).to_contain_text("First customer")
        await expect(page.locator("#reply-text")).to_have_value("note for the first")
        await expect(page.locator("#reply-internal")).to_be_checked()
        await expect(files).to_have_count(1)
        await page.fill("#reply-text", "draft left for later")
        await two.click()
        await expect(page.locator("#reply-text")).to_have_value("")

        # sign-out: the next person on this tab finds no draft, file or note switch
        await page.click("#logout")
        await expect(page.locator("#login-view")).to_be_visible()
        await _sign_in(page, d, "boris", goto=False)
        third = await d.visitor("support")
        await third.say("Third customer")
        await _take_offer(page, "Third customer")
        await expect(page.locator("#reply-text")).to_have_value("")
        await expect(page.locator("#reply-internal")).not_to_be_checked()
        await expect(files).to_have_count(0)
        await expect(page.locator(".reply.is-internal")).to_have_count(0)
    assert await d.daemon.store.count("messages") == 4  # three customers' messages and one answer
    assert not errors, errors


async def test_attach_is_disabled_on_a_closed_dialog(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon, ["anna"])
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors)
        await _sign_in(page, d, "anna")
        v = await d.visitor("support")
        await v.say("Thanks, that is all")
        await _take_offer(page, "Thanks, that is all")
        await expect(page.locator("#reply-file")).to_be_enabled()
        await page.click("#btn-close")
        await expect(page.locator("#dlg-state")).to_have_attribute("data-state", "closed")
        await expect(page.locator("#reply-file")).to_be_disabled()
        await expect(page.locator("#reply-attach")).to_have_attribute("aria-disabled", "true")
        await expect(page.locator("#reply-text")).to_be_disabled()
    assert not errors, errors


async def test_console_speaks_russian_when_the_browser_does_and_switches_language(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon, ["anna"])
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors, locale="ru-RU", viewport=PHONE)
        await page.goto(f"{d.base}/console/")
        await expect(page.locator("#login-submit")).to_have_text("Войти")
        await expect(page.locator("html")).to_have_attribute("lang", "ru")
        await page.fill("#login", "anna")
        await page.fill("#password", "wrong")
        await page.click("#login-submit")
        await expect(page.locator("#login-error")).to_have_text("Неверный логин или пароль.")
        await _sign_in(page, d, "anna", goto=False)
        await expect(page.locator("#conn")).to_have_text("На связи")
        await expect(page.locator('[data-list="offered"] h2')).to_contain_text("Предложены мне")
        v = await d.visitor("support")
        await v.say("Здравствуйте! <b>не жирный</b>")
        await _take_offer(page, "Здравствуйте!")
        await expect(page.locator("#dlg-state")).to_have_text("в работе")
        await expect(page.locator("#dlg-operator")).to_have_text("ведёт Anna Petrova")
        await expect(page.locator("#btn-close")).to_have_text("Закрыть")
        await expect(page.locator('#thread [data-author-kind="customer"] .m-text')).to_have_text(
            "Здравствуйте! <b>не жирный</b>"
        )
        await page.screenshot(path=str(ARTIFACTS / "console-ru-phone.png"))

        # the operator picks English: every fixed and drawn text follows, and it is remembered
        await page.select_option("#lang", "en")
        await expect(page.locator("#btn-close")).to_have_text("Close")
        await expect(page.locator("#dlg-state")).to_have_text("assigned")
        await expect(page.locator('[data-list="mine"] h2')).to_contain_text("My dialogs")
        await expect(page.locator("#conn")).to_have_text("Connected")
        await page.reload()
        await expect(page.locator('[data-list="mine"] h2')).to_contain_text("My dialogs", timeout=10_000)
    assert not errors, errors


async def test_a_lead_renamed_in_one_console_is_renamed_live_in_the_others(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon, ["anna"])
    errors: list[str] = []
    async with chromium() as browser:
        anna = await _page(browser, errors)
        await _sign_in(anna, d, "anna")
        admin = await _page(browser, errors)
        await _sign_in(admin, d, "admin")
        v = await d.visitor("support")
        await v.say("Do you deliver on Sundays?")
        await _take_offer(anna, "Do you deliver on Sundays?")
        in_admins_list = admin.locator('[data-list="all"] [data-dialog-id] .item-name')
        await expect(in_admins_list).to_have_text(re.compile(r"^Visitor "), timeout=10_000)
        await anna.fill("#lead-name", "Maria Kuznetsova")
        await anna.click("#lead-save")
        await expect(anna.locator("#lead-saved")).to_contain_text("saved")
        # no reload in the admin's console: the lead.updated frame renames the dialog in their list
        await expect(in_admins_list).to_have_text("Maria Kuznetsova", timeout=10_000)
    assert not errors, errors
