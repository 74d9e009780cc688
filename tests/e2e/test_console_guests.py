"""Guests and alerts in a real Chromium: an operator invites a colleague into a dialog from its header, the guest
follows it under "Invited", writes internal notes (public answers only when allowed) and leaves; desktop
notifications for a hidden tab, and none when muted. Customers are protocol clients (tests/clients.py)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import Running, config, line, settings_from
from tests.e2e.test_browser import ARTIFACTS
from tests.e2e.test_console_defects import (
    DESKTOP,
    OPERATORS,
    PHONE,
    _boxes_overlap,
    _page,
    _sign_in,
    _take_offer,
    chromium,
)

pytestmark = pytest.mark.e2e

# Records every Notification the console creates (the real one may show nothing in a headless browser).
RECORD_NOTIFICATIONS = """
window.__notifications = [];
const RealNotification = window.Notification;
window.Notification = class extends RealNotification {
  constructor(title, options) {
    window.__notifications.push({ title, body: options && options.body, tag: options && options.tag });
    super(title, options);
  }
};
"""

HIDE_TAB = """() => {
  Object.defineProperty(document, "visibilityState", { get: () => "hidden", configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


async def _daemon(tmp_path, start_daemon) -> Running:
    return await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])], operators=OPERATORS))
    )


def _row(page: Page, list_name: str, dialog_id: str) -> Any:
    return page.locator(f'[data-list="{list_name}"] .item[data-dialog-id="{dialog_id}"]')


async def _invite(page: Page, login: str, *, replies: bool) -> None:
    await page.select_option("#invite-target", login)
    await page.locator("#invite-replies").set_checked(replies)
    await page.click("#btn-invite")


async def test_invited_colleague_follows_the_dialog_writes_notes_answers_when_allowed_and_leaves(
    tmp_path, start_daemon
):
    d = await _daemon(tmp_path, start_daemon)
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        anna = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(anna, d, "anna")
        visitor = await d.visitor("support")
        await visitor.say("My parcel is lost")
        await _take_offer(anna, "My parcel is lost")
        dialog_id = await anna.locator('[data-list="mine"] .item').first.get_attribute("data-dialog-id")
        assert dialog_id

        boris = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(boris, d, "boris")
        await expect(boris.locator('[data-list="invited"] .dlist-empty')).to_be_visible()

        # anna invites boris from the header, notes only
        await expect(anna.locator("#invite-box")).to_be_visible()
        await _invite(anna, "boris", replies=False)
        guests = anna.locator("#dlg-guests")
        await expect(guests).to_contain_text("Guests:")
        await expect(guests.locator('[data-guest="boris"]')).to_contain_text("Boris Ivanov")
        await expect(guests.locator('[data-guest="boris"] .chip-x')).to_have_attribute(
            "aria-label", "Take Boris Ivanov out of the dialog"
        )
        # the thread says so, as a system line
        await expect(anna.locator('#thread .sys-line[data-kind="invited"]')).to_contain_text(
            "Anna Petrova invited Boris Ivanov (internal notes)"
        )

        # boris has it under "Invited", live; opening it shows the thread and the header has no operator's tools
        row = _row(boris, "invited", dialog_id)
        await expect(row).to_have_count(1, timeout=10_000)
        await row.click()
        thread = boris.locator("#thread")
        await expect(thread).to_contain_text("My parcel is lost")
        await expect(boris.locator("#btn-leave")).to_be_visible()
        await expect(boris.locator("#invite-box")).to_be_hidden()
        await expect(boris.locator("#btn-close")).to_be_hidden()
        await expect(boris.locator("#reply-internal")).to_be_checked()
        await expect(boris.locator("#reply-internal")).to_be_disabled()
        await expect(boris.locator("#reply-hint")).to_contain_text("answering the customer is not allowed")
        # the customer's card is anna's to edit: boris reads it
        await expect(boris.locator("#lead-readonly")).to_be_visible()
        await expect(boris.locator("#lead-name")).to_be_disabled()
        await expect(boris.locator("#lead-save")).to_be_hidden()
        await expect(anna.locator("#lead-readonly")).to_be_hidden()
        await expect(anna.locator("#lead-name")).to_be_enabled()

        # the customer writes: boris sees it live; his note reaches anna, never the visitor
        await visitor.say("It was due on Monday")
        await expect(thread).to_contain_text("It was due on Monday", timeout=10_000)
        await boris.fill("#reply-text", "Check the courier's tracking first")
        await boris.press("#reply-text", "Enter")
        note = anna.locator('#thread .msg[data-visibility="internal"]', has_text="courier's tracking")
        await expect(note).to_have_count(1, timeout=10_000)
        await visitor.absent("message", lambda f: "tracking" in str(f.get("text")), wait=0.5)
        await anna.screenshot(path=str(ARTIFACTS / "console-guests-header-desktop.png"))
        await boris.screenshot(path=str(ARTIFACTS / "console-guest-view-desktop.png"))

        # anna lets guests answer: boris switches the note off and his answer reaches the visitor
        await _invite(anna, "boris", replies=True)
        await expect(guests).to_contain_text("may answer the customer")
        await expect(boris.locator("#reply-internal")).to_be_enabled(timeout=10_000)
        await boris.locator("#reply-internal").uncheck()
        await boris.fill("#reply-text", "We are on it, sorry for the wait")
        await boris.press("#reply-text", "Enter")
        await visitor.expect(
            "message", lambda f: f.get("text") == "We are on it, sorry for the wait", timeout=10
        )
        await expect(anna.locator("#thread")).to_contain_text("We are on it, sorry for the wait")
        await expect(anna.locator("#dlg-state")).to_have_attribute("data-state", "assigned")
        await expect(anna.locator("#dlg-operator")).to_contain_text("Anna Petrova")

        # the same on a phone
        phone = await _page(browser, errors, viewport=PHONE, is_mobile=True, has_touch=True)
        await _sign_in(phone, d, "boris")
        await _row(phone, "invited", dialog_id).click()
        await expect(phone.locator("#thread")).to_contain_text("We are on it")
        await phone.screenshot(path=str(ARTIFACTS / "console-guest-view-phone.png"))
        anna_phone = await _page(browser, errors, viewport=PHONE, is_mobile=True, has_touch=True)
        await _sign_in(anna_phone, d, "anna")
        await _row(anna_phone, "mine", dialog_id).click()
        await expect(anna_phone.locator("#dlg-guests")).to_contain_text("Boris Ivanov")
        await anna_phone.locator("#dlg-guests").scroll_into_view_if_needed()
        await anna_phone.screenshot(path=str(ARTIFACTS / "console-guests-header-phone.png"))
        controls = [
            "#dlg-guests",
            "#transfer-target",
            "#invite-target",
            "#invite-replies",
            "#btn-invite",
            "#btn-close",
        ]
        boxes = {c: await anna_phone.locator(c).bounding_box() for c in controls}
        for i, a in enumerate(controls):
            box = boxes[a]
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (a, box)
            for b in controls[i + 1 :]:
                assert not _boxes_overlap(box, boxes[b] or {}), (a, b, box, boxes[b])
        await phone.context.close()
        await anna_phone.context.close()

        # a refused command is said politely: the menu never offers anna herself, so add her to be refused
        await anna.evaluate(
            """() => { const o = document.createElement("option"); o.value = "anna"; o.textContent = "anna";
            document.getElementById("invite-target").appendChild(o); }"""
        )
        await _invite(anna, "anna", replies=False)
        await expect(anna.locator("#guest-error")).not_to_be_empty()

        # boris leaves: the dialog leaves his list, the guest leaves anna's header
        await boris.click("#btn-leave")
        await expect(row).to_have_count(0, timeout=10_000)
        await expect(boris.locator("#btn-leave")).to_be_hidden()
        await expect(boris.locator("#reply-text")).to_be_disabled()
        await expect(guests).to_be_hidden()
    assert not errors, errors


async def test_hidden_tab_notifies_of_a_customer_message_unless_muted(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon)
    errors: list[str] = []
    async with chromium() as browser:
        context = await browser.new_context(viewport=DESKTOP, permissions=["notifications"])
        await context.add_init_script(RECORD_NOTIFICATIONS)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await _sign_in(page, d, "anna")
        visitor = await d.visitor("support")
        await visitor.say("Hello there")
        await _take_offer(page, "Hello there")
        dialog_id = await page.locator('[data-list="mine"] .item').first.get_attribute("data-dialog-id")

        # the bell menu: desktop notifications are on already (granted), sound and mute are choices
        await page.click("#alerts-open")
        await expect(page.locator("#alerts-menu")).to_be_visible()
        await expect(page.locator("#alerts-desktop-state")).to_have_text("Desktop notifications are on.")
        await page.screenshot(path=str(ARTIFACTS / "console-alerts-menu-desktop.png"))
        await page.locator("#alerts-sound").uncheck()
        await page.keyboard.press("Escape")
        await expect(page.locator("#alerts-menu")).to_be_hidden()

        # nothing while the tab is visible
        await visitor.say("Visible tab")
        await expect(page.locator("#thread")).to_contain_text("Visible tab")
        assert await page.evaluate("window.__notifications.length") == 0

        await page.evaluate(HIDE_TAB)
        long = "x" * 150
        await visitor.say(f"Where is my order? {long}")
        await page.wait_for_function("window.__notifications.length === 1", timeout=10_000)
        note = (await page.evaluate("window.__notifications"))[0]
        assert note["body"] == f"Where is my order? {long}"[:100]
        assert note["tag"] == dialog_id
        assert note["title"].startswith("Visitor"), note

        # muted (kept in localStorage): nothing more
        await page.evaluate("""() => {
            const m = document.getElementById("alerts-mute"); m.checked = true;
            m.dispatchEvent(new Event("change")); }""")
        saved = await page.evaluate("localStorage.getItem('openlines.console.alerts')")
        assert '"muted":true' in saved and '"sound":false' in saved, saved
        await visitor.say("Anyone?")
        await expect(page.locator("#thread")).to_contain_text("Anyone?")
        await page.wait_for_timeout(300)
        assert await page.evaluate("window.__notifications.length") == 1
    assert not errors, errors
