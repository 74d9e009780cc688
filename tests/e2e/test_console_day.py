"""An operator's working day in a real Chromium: unread counts on the dialog rows and in the tab's title, the
thread's system lines (taken, transferred, closed), "Write again" on a closed dialog, and the supervisor's board.
Customers and colleagues are protocol clients (tests/clients.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import Running, config, line, settings_from
from tests.e2e.test_browser import ARTIFACTS
from tests.e2e.test_console_defects import DESKTOP, OPERATORS, PHONE, _page, _sign_in, _take_offer, chromium

pytestmark = pytest.mark.e2e

TITLE = "openlines console"


async def _daemon(tmp_path, start_daemon) -> Running:
    return await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])], operators=OPERATORS))
    )


def _row(page: Page, list_name: str, dialog_id: str) -> Any:
    return page.locator(f'[data-list="{list_name}"] .item[data-dialog-id="{dialog_id}"]')


async def test_unread_badge_counts_customer_messages_until_opened_and_survives_a_reload(
    tmp_path, start_daemon
):
    d = await _daemon(tmp_path, start_daemon)
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(page, d, "anna")
        first, second = await d.visitor("support"), await d.visitor("support")
        await first.say("Hello, first customer")
        await _take_offer(page, "Hello, first customer")
        await second.say("Hello, second customer")
        await _take_offer(page, "Hello, second customer")
        ids = [
            await page.locator('[data-list="mine"] .item', has_text=t).get_attribute("data-dialog-id")
            for t in ("Hello, first customer", "Hello, second customer")
        ]
        first_id, second_id = ids
        assert first_id and second_id
        await expect(page).to_have_title(TITLE)

        # anna reads the first dialog; the second customer writes twice: its row counts, the title too
        await _row(page, "mine", first_id).click()
        await expect(page.locator("#thread")).to_contain_text("Hello, first customer")
        await second.say("Are you there?")
        badge = _row(page, "mine", second_id).locator(".unread-badge")
        await expect(badge).to_have_text("1", timeout=10_000)
        await second.say("Hello??")
        await expect(badge).to_have_text("2")
        await expect(badge).to_have_attribute("aria-label", "2 unread")
        await expect(page).to_have_title(f"(2) {TITLE}")
        # the open dialog's customer writes: read at once, no badge
        await first.say("Still here")
        await expect(page.locator("#thread")).to_contain_text("Still here")
        await expect(_row(page, "mine", first_id).locator(".unread-badge")).to_have_count(0)
        # ...and the console told the server (its read mark is posted in the background: wait for it, a loaded
        # machine may still be sending it when the page reloads)
        api = await d.operator("anna", online=False)
        for _ in range(100):
            if {x["id"]: x["unread"] for x in (await api.get("/api/dialogs?state=mine"))["dialogs"]}[
                first_id
            ] == 0:
                break
            await page.wait_for_timeout(100)

        # the count is the server's: a reload shows it again
        await page.reload()
        await expect(page.locator("#conn")).to_have_attribute("data-state", "up")
        await expect(_row(page, "mine", second_id).locator(".unread-badge")).to_have_text("2", timeout=10_000)
        await expect(_row(page, "mine", first_id).locator(".unread-badge")).to_have_count(0)
        await expect(page).to_have_title(f"(2) {TITLE}")

        # opening it reads it, and that too is kept on the server
        await _row(page, "mine", second_id).click()
        await expect(page.locator("#thread")).to_contain_text("Hello??")
        await expect(_row(page, "mine", second_id).locator(".unread-badge")).to_have_count(0)
        await expect(page).to_have_title(TITLE)
        anna = await d.operator("anna", online=False)
        for _ in range(50):
            mine = {x["id"]: x for x in (await anna.get("/api/dialogs?state=mine"))["dialogs"]}
            if mine[second_id]["unread"] == 0:
                break
            await page.wait_for_timeout(100)
        assert mine[second_id]["unread"] == 0 and mine[first_id]["unread"] == 0, mine
        await page.reload()
        await expect(_row(page, "mine", second_id)).to_have_count(1, timeout=10_000)
        await expect(_row(page, "mine", second_id).locator(".unread-badge")).to_have_count(0)
    assert not errors, errors


async def test_thread_shows_system_lines_live_and_write_again_reopens_a_closed_dialog(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon)
    anna, boris = await d.operator("anna"), await d.operator("boris")
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(page, d, "admin")
        visitor = await d.visitor("support")
        await visitor.say("My order has not arrived")
        offer = await anna.expect("dialog.offered")
        dialog_id = offer["dialog_id"]
        await _row(page, "all", dialog_id).click()
        thread = page.locator("#thread")
        await expect(thread).to_contain_text("My order has not arrived")
        system = thread.locator(".sys-line")
        await expect(system.first).to_have_text(re.compile(r"^Offered to Anna Petrova"))

        # what colleagues do shows in the admin's open thread without a reload
        await anna.send({"type": "take", "dialog_id": dialog_id})
        await expect(thread.locator('.sys-line[data-kind="assigned"]')).to_contain_text(
            "Taken by Anna Petrova"
        )
        await anna.reply(dialog_id, "Let me check")
        await anna.send({"type": "transfer", "dialog_id": dialog_id, "to_operator": "boris"})
        await expect(thread.locator('.sys-line[data-kind="transferred"]')).to_contain_text(
            "Transferred from Anna Petrova to Boris Ivanov"
        )
        await boris.reply(dialog_id, "It arrives tomorrow")
        await boris.send({"type": "close", "dialog_id": dialog_id})
        await expect(thread.locator('.sys-line[data-kind="closed"]')).to_contain_text(
            "Closed by Boris Ivanov"
        )
        await expect(page.locator("#dlg-state")).to_have_attribute("data-state", "closed")
        # in time order: the take before anna's answer, the transfer before boris's
        order = await thread.locator(".sys-line, .msg").evaluate_all(
            "ns => ns.map(n => n.dataset.kind || n.querySelector('.m-text').textContent)"
        )
        assert (
            order.index("Let me check") < order.index("transferred") < order.index("It arrives tomorrow")
        ), order
        assert order.index("closed") == len(order) - 1, order
        await page.screenshot(path=str(ARTIFACTS / "console-system-lines-desktop.png"))

        # the same after a reload, and on a phone
        phone = await _page(browser, errors, viewport=PHONE, is_mobile=True, has_touch=True)
        await _sign_in(phone, d, "admin")
        await _row(phone, "closed", dialog_id).click()
        await expect(phone.locator('#thread .sys-line[data-kind="closed"]')).to_have_count(1)
        await expect(phone.locator("#btn-reopen")).to_be_visible()
        await phone.locator("#thread").scroll_into_view_if_needed()
        await phone.screenshot(path=str(ARTIFACTS / "console-system-lines-390.png"))
        await phone.close()

        # closed: "Write again" instead of the reply box; it reopens, and the reply reaches the customer
        await expect(page.locator("#reply-form")).to_be_hidden()
        await expect(page.locator("#btn-reopen")).to_have_text("Write again")
        await page.click("#btn-reopen")
        await expect(page.locator("#dlg-state")).to_have_attribute("data-state", "assigned", timeout=10_000)
        await expect(page.locator("#reply-form")).to_be_visible()
        await expect(page.locator("#reply-text")).to_be_enabled()
        await page.fill("#reply-text", "One more thing about your order")
        await page.press("#reply-text", "Enter")
        got = await visitor.expect(
            "message", lambda f: f["text"] == "One more thing about your order", timeout=10
        )
        assert got["author"]["kind"] == "operator"
        await expect(thread.locator('.sys-line[data-kind="assigned"]').last).to_contain_text("Alice Admin")
    assert not errors, errors


async def test_write_again_refused_says_why_in_russian(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon)
    anna = await d.operator("anna")
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=DESKTOP, locale="ru-RU")
        await _sign_in(page, d, "admin")
        visitor = await d.visitor("support")
        await visitor.say("First question")
        first = (await anna.expect("dialog.offered"))["dialog_id"]
        await anna.send({"type": "take", "dialog_id": first})
        await anna.send({"type": "close", "dialog_id": first})
        await expect(_row(page, "closed", first)).to_have_count(1, timeout=10_000)
        await visitor.say(
            "A new question"
        )  # the customer's new dialog is open: the old one cannot be reopened
        second = (await anna.expect("dialog.offered", lambda f: f["dialog_id"] != first))["dialog_id"]
        # the admin opens the new dialog, and the old one from the lead card's previous dialogs
        await _row(page, "all", second).click()
        previous = page.locator(f'#lead-dialogs [data-dialog-id="{first}"]')
        await previous.locator("summary").click()
        await previous.get_by_role("button", name="Открыть этот диалог").click()
        await expect(page.locator("#thread")).to_contain_text("First question")
        await expect(page.locator("#btn-reopen")).to_have_text("Написать снова")
        await page.click("#btn-reopen")
        await expect(page.locator("#reopen-error")).to_have_text(
            "У клиента есть другой открытый диалог — ответьте, пожалуйста, в нём."
        )
        await expect(page.locator("#btn-reopen")).to_be_enabled()
        await expect(page.locator("#dlg-state")).to_have_attribute("data-state", "closed")
    assert not errors, errors


async def test_admin_board_shows_load_and_the_waiting_dialog_and_operators_have_no_board(
    tmp_path, start_daemon
):
    d = await _daemon(tmp_path, start_daemon)
    anna = await d.operator("anna")
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        first, second = await d.visitor("support"), await d.visitor("support")
        await first.say("I need help with a refund")
        taken = (await anna.expect("dialog.offered"))["dialog_id"]
        await anna.send({"type": "take", "dialog_id": taken})
        await anna.expect("dialog.assigned", lambda f: f["dialog_id"] == taken)
        await second.say("Is anyone there?")
        waiting = (await anna.expect("dialog.offered", lambda f: f["dialog_id"] != taken))["dialog_id"]

        page = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(page, d, "admin")
        await expect(page.locator("#board-open")).to_be_visible()
        await page.click("#board-open")
        board = page.locator("#board-view")
        await expect(board).to_be_visible()
        row = board.locator('[data-operator="anna"]')
        await expect(row).to_contain_text("Anna Petrova")
        await expect(row.locator(".load-text")).to_have_text(re.compile(r"^1 of \d+$"))
        await expect(row.locator(".presence-dot")).to_have_attribute("data-status", "online")
        await expect(board.locator('[data-line="support"]')).to_contain_text("Support")
        dialogs = board.locator("#board-dialogs tbody tr[data-dialog-id]")
        await expect(dialogs).to_have_count(2)
        await expect(board.locator(f'tr[data-dialog-id="{waiting}"] .state-badge')).to_have_text("offered")
        await page.screenshot(path=str(ARTIFACTS / "console-board-desktop.png"))

        # live: anna takes the waiting one, and the board follows without a click
        await anna.send({"type": "take", "dialog_id": waiting})
        await expect(board.locator(f'tr[data-dialog-id="{waiting}"] .state-badge')).to_have_text(
            "assigned", timeout=10_000
        )
        await expect(row.locator(".load-text")).to_have_text(re.compile(r"^2 of \d+$"))

        # a dialog on the board opens in the normal view
        await board.locator(f'tr[data-dialog-id="{waiting}"] button.linkish').click()
        await expect(board).to_be_hidden()
        await expect(page.locator("#thread")).to_contain_text("Is anyone there?")

        phone = await _page(browser, errors, viewport=PHONE, is_mobile=True, has_touch=True)
        await _sign_in(phone, d, "admin")
        await phone.click("#board-open")
        await expect(phone.locator('#board-view [data-operator="anna"]')).to_be_visible()
        await phone.screenshot(path=str(ARTIFACTS / "console-board-390.png"), full_page=True)

        # an operator has no board
        op = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(op, d, "anna")
        await expect(op.locator("#board-open")).to_be_hidden()
        await expect(op.locator("#board-view")).to_be_hidden()
    assert not errors, errors


async def test_a_supervisor_watches_takes_over_and_transfers_from_the_board_with_a_note(
    tmp_path, start_daemon
):
    lines = [line("support", ["anna", "boris"], mode="sequential")]
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines, operators=OPERATORS)))
    anna, boris = await d.operator("anna"), await d.operator("boris")
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        v = await d.visitor("support")
        await v.say("The parcel never came")
        dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
        await anna.send({"type": "take", "dialog_id": dialog_id})
        await anna.expect("dialog.assigned", lambda f: f["dialog_id"] == dialog_id)

        page = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(page, d, "admin")
        await page.click("#board-open")
        row = page.locator(f'#board-dialogs tr[data-dialog-id="{dialog_id}"]')
        await expect(row.locator('[data-action="takeover"]')).to_have_text("Take over")

        # watching reads along: the thread opens, anna's dialog stays hers and she is told nothing
        await row.locator('[data-action="watch"]').click()
        await expect(page.locator("#thread")).to_contain_text("The parcel never came")
        await v.say("Hello? Anyone?")
        await expect(page.locator("#thread")).to_contain_text("Hello? Anyone?", timeout=10_000)
        assert (await anna.get(f"/api/dialogs/{dialog_id}"))["operator"] == "anna"
        assert not [f for f in anna.frames if f.get("type") in ("dialog.invited", "dialog.transferred")]

        # take over from the board: the dialog becomes the supervisor's
        await page.click("#board-open")
        await page.locator(
            f'#board-dialogs tr[data-dialog-id="{dialog_id}"] [data-action="takeover"]'
        ).click()
        await expect(page.locator("#dlg-operator")).to_contain_text("Alice Admin", timeout=10_000)
        taken = await anna.expect(
            "dialog.assigned", lambda f: f["dialog_id"] == dialog_id and f["operator"] == "admin"
        )
        assert taken["dialog"]["operator"] == "admin"

        # and transfer to boris with a note: boris is told the note, the thread keeps it
        await page.click("#board-open")
        await page.locator(
            f'#board-dialogs tr[data-dialog-id="{dialog_id}"] [data-action="transfer"]'
        ).click()
        await expect(page.locator("#transfer-target")).to_be_focused()
        await page.select_option("#transfer-target", "op:boris")
        await expect(page.locator("#transfer-note")).to_be_visible()
        await page.fill("#transfer-note", "Parcel 1042: courier never called, please check the tracking")
        await page.screenshot(path=str(ARTIFACTS / "console-transfer-note-desktop.png"))
        await page.press("#transfer-note", "Enter")
        moved = await boris.expect("dialog.transferred", lambda f: f["dialog_id"] == dialog_id)
        assert moved["note"] == "Parcel 1042: courier never called, please check the tracking"
        assert moved["by"] == "admin"
        await expect(page.locator('#thread .sys-line[data-kind="transferred"]')).to_contain_text(
            "courier never called", timeout=10_000
        )

        # boris's console shows the note as it arrives
        other = await _page(browser, errors, viewport=PHONE, is_mobile=True, has_touch=True)
        await _sign_in(other, d, "boris")
        await other.locator(f'[data-dialog-id="{dialog_id}"]').first.click()
        await expect(other.locator("#thread")).to_contain_text("courier never called", timeout=10_000)
        await other.screenshot(path=str(ARTIFACTS / "console-transfer-note-390.png"), full_page=True)
    assert not [f for f in v.frames if "courier" in str(f)]
    assert not errors, errors


async def test_the_board_says_how_many_queued_dialogs_it_does_not_list(tmp_path, start_daemon, monkeypatch):
    from router.web import board_api

    monkeypatch.setattr(board_api, "QUEUED_SHOWN", 1)
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("sales", ["anna"])], operators=OPERATORS))
    )  # anna never signs in: every dialog waits in the queue
    errors: list[str] = []
    async with chromium() as browser:
        for text in ("first", "second", "third"):
            v = await d.visitor("sales")
            await v.say(text)
        page = await _page(browser, errors, viewport=PHONE)
        await _sign_in(page, d, "admin")
        await page.click("#board-open")
        board = page.locator("#board-view")
        await expect(board.locator('[data-line="sales"] [data-figure="queued"]')).to_have_text("3")
        await expect(board.locator("#board-dialogs tbody tr[data-dialog-id]")).to_have_count(1)
        more = board.locator('[data-figure="queued-not-listed"]')
        await expect(more).to_have_text(
            "Also in the queue, not listed here: 2 (the longest-waiting are shown first)"
        )
        await more.scroll_into_view_if_needed()
        await page.screenshot(path=str(ARTIFACTS / "console-board-long-queue-phone.png"))
        await page.set_viewport_size(DESKTOP)
        await expect(more).to_be_visible()
        await page.screenshot(path=str(ARTIFACTS / "console-board-long-queue-desktop.png"))
    assert not errors, errors
