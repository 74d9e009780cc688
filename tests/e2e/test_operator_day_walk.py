"""Issue 18's walk through an operator's day in real Chromium pages, one step after another: the visitor types on
the site (the operator sees it), the operator answers with a quick answer, invites a colleague who writes a note,
closes the dialog, the visitor rates the answer, and the supervisor's board shows it all along. Screenshots of
every console (desktop and phone) are kept in tests/artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.conftest import config, line, settings_from
from tests.e2e.test_browser import ARTIFACTS
from tests.e2e.test_console_defects import DESKTOP, OPERATORS, PHONE, _page, _sign_in, _take_offer, chromium
from tests.e2e.widget_pages import MSG, open_panel, say

pytestmark = pytest.mark.e2e

FIRST = "Hello! My order 1042 has not arrived"
QUICK = {
    "title": "Order status",
    "text": "Hello {customer.name}, let me check your order.",
    "shortcut": "order",
}
NOTE = "The courier lost it: offer a free resend"
CLOSING = "Thank you for writing to us. Goodbye!"
COMMENT = "Quick & kind <b>help</b>"


async def test_an_operators_day_from_typing_to_the_customers_rating(tmp_path, start_daemon):
    support = {
        **line("support", ["anna", "boris"], mode="sequential"),
        "quick_answers": [QUICK],
        "auto_replies": {"closing": CLOSING},
        "rating": {"scale": "five", "comment": True},
    }
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support], operators=OPERATORS)))
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        anna = await _page(browser, errors, viewport=DESKTOP)
        boris = await _page(browser, errors, viewport=PHONE, is_mobile=True, has_touch=True)
        boss = await _page(browser, errors, viewport=DESKTOP)
        site = await _page(browser, errors, viewport=PHONE, is_mobile=True, has_touch=True)
        await _sign_in(anna, d, "anna")
        await _sign_in(boris, d, "boris")
        await _sign_in(boss, d, "admin")
        await boss.click("#board-open")
        board = boss.locator("#board-view")
        anna_row = board.locator('[data-operator="anna"]')
        await expect(anna_row.locator(".load-text")).to_have_text(re.compile(r"^0 of \d+$"))

        # the visitor writes from the site; anna takes the dialog; the board shows it in her hands
        await site.goto(f"{d.base}/demo/")
        await open_panel(site)
        await say(site, FIRST)
        await _take_offer(anna, FIRST)
        dialog_id = await anna.locator('[data-list="mine"] [data-dialog-id]').first.get_attribute(
            "data-dialog-id"
        )
        assert dialog_id
        await anna.fill("#lead-name", "Maria")
        await anna.click("#lead-save")
        await expect(anna.locator("#dlg-customer")).to_have_text("Maria")
        on_board = board.locator(f'tr[data-dialog-id="{dialog_id}"]')
        await expect(on_board.locator(".state-badge")).to_have_text("assigned", timeout=10_000)
        await expect(anna_row.locator(".load-text")).to_have_text(re.compile(r"^1 of \d+$"))
        await expect(on_board).to_contain_text("Anna Petrova")
        await expect(board.locator('[data-line="support"] [data-figure="rating"]')).to_have_text("—")

        # the visitor types: anna sees it in the thread while the text stays in the visitor's browser
        await site.locator('[data-ol="input"]').press_sequentially("Is it lost?", delay=20)
        await expect(anna.locator("#thread #typing")).to_have_text("Maria is typing…", timeout=5_000)
        await anna.screenshot(path=str(ARTIFACTS / "day-walk-typing-desktop.png"))
        await site.locator('[data-ol="input"]').fill("")

        # anna answers with a quick answer: "/" + its shortcut, Enter puts it in filled for Maria, Enter sends
        reply = anna.locator("#reply-text")
        await reply.press_sequentially("/order")
        await expect(anna.locator("#qa-popup")).to_be_visible()
        chosen = anna.locator("#qa-options [role=option]").first
        await expect(chosen.locator(".qa-opt-title")).to_have_text(QUICK["title"])
        await expect(chosen).to_have_attribute("aria-selected", "true")
        await reply.press("Enter")
        await expect(reply).to_have_value("Hello Maria, let me check your order.")
        await reply.press("Enter")
        answer = site.locator(
            f'{MSG}[data-author="operator"]', has_text="Hello Maria, let me check your order."
        )
        await expect(answer).to_have_count(1, timeout=10_000)

        # she invites boris (notes only); he writes a note from his phone; the visitor never sees it
        await anna.select_option("#invite-target", "boris")
        await anna.click("#btn-invite")
        invited = boris.locator(f'[data-list="invited"] .item[data-dialog-id="{dialog_id}"]')
        await expect(invited).to_have_count(1, timeout=10_000)
        await invited.click()
        await expect(boris.locator("#reply-internal")).to_be_checked()
        await boris.fill("#reply-text", NOTE)
        await boris.press("#reply-text", "Enter")
        await expect(anna.locator("#thread")).to_contain_text(NOTE, timeout=10_000)
        await expect(on_board).to_contain_text("Anna Petrova + Boris Ivanov", timeout=10_000)  # and her guest
        await boris.screenshot(path=str(ARTIFACTS / "day-walk-guest-note-390.png"), full_page=True)
        await boss.screenshot(path=str(ARTIFACTS / "day-walk-board-desktop.png"), full_page=True)

        # anna closes; the visitor is told and asked to rate; she gives 5 and a comment
        await anna.click("#btn-close")
        await expect(anna.locator("#dlg-state")).to_have_attribute("data-state", "closed")
        await expect(site.locator(MSG, has_text=CLOSING)).to_have_count(1, timeout=10_000)
        rating = site.locator('[data-ol="rating"]')
        await expect(rating).to_be_visible(timeout=10_000)
        await site.screenshot(path=str(ARTIFACTS / "day-walk-widget-rating-390.png"))
        await rating.locator('[data-score="5"]').click()
        comment = site.locator('[data-ol="rating-comment"]')
        await expect(comment).to_be_visible()
        await comment.fill(COMMENT)
        await site.locator('[data-ol="rating-send"]').click()
        await expect(site.locator('[data-ol="rating-thanks"]')).to_be_visible(timeout=10_000)
        await site.screenshot(path=str(ARTIFACTS / "day-walk-widget-rated-390.png"))

        # the console shows the rating in the thread, as text; the board no longer lists the closed dialog
        rated = anna.locator('#thread .sys-line[data-kind="rated"]')
        await expect(rated).to_contain_text("5", timeout=10_000)
        await expect(rated).to_contain_text(COMMENT)
        assert await anna.locator("#thread b").count() == 0
        await anna.screenshot(path=str(ARTIFACTS / "day-walk-rated-desktop.png"))
        await expect(on_board).to_have_count(0, timeout=20_000)
        await expect(anna_row.locator(".load-text")).to_have_text(re.compile(r"^0 of \d+$"))
        # the last day's figures: anna closed one, rated well; the line's average on its scale
        await expect(anna_row.locator('[data-figure="closed"]')).to_have_text("1", timeout=10_000)
        await expect(anna_row.locator('[data-figure="positive"]')).to_have_text("1 of 1", timeout=10_000)
        await expect(board.locator('[data-line="support"] [data-figure="rating"]')).to_have_text(
            "5.0 of 5 (1)"
        )
        await boss.screenshot(path=str(ARTIFACTS / "day-walk-board-after-desktop.png"), full_page=True)
        phone_boss = await _page(browser, errors, viewport=PHONE, is_mobile=True, has_touch=True)
        await _sign_in(phone_boss, d, "admin")
        await phone_boss.click("#board-open")
        await expect(phone_boss.locator('#board-view [data-operator="anna"]')).to_be_visible()
        await phone_boss.screenshot(path=str(ARTIFACTS / "day-walk-board-390.png"), full_page=True)

    stored = await (await d.operator("admin")).get(f"/api/dialogs/{dialog_id}")
    assert (stored["rating"], stored["rating_comment"]) == (5, COMMENT)
    assert not errors, errors
