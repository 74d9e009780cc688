"""Rating the answer in a real Chromium (issue 18): the operator closes the dialog in the console, the visitor gets
the closing text and the question with 1–5 stars in the widget, picks four and writes a comment; the console shows
the system line and the rating in the dialog's header, then on the lead card; after a reload the widget shows the
question answered (also on a phone)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.conftest import config, line, settings_from
from tests.e2e.test_browser import ARTIFACTS
from tests.e2e.test_console_defects import DESKTOP, OPERATORS, PHONE, _page, _sign_in, _take_offer, chromium
from tests.e2e.widget_pages import MSG, embed, open_panel, say, shop_site, visitor_token

pytestmark = pytest.mark.e2e
RATING = '[data-ol="rating"]'
COMMENT = "Fixed in two minutes, <b>thanks</b>!"


def _line() -> dict[str, Any]:
    support = line("support", ["anna"])
    support["auto_replies"] = {"closing": "Thank you for contacting {line_name}!"}
    support["rating"] = {"scale": "five", "comment": True}
    return support


async def test_the_visitor_rates_with_stars_and_a_comment_and_the_console_shows_it(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [_line()], operators=OPERATORS)))
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        console = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(console, d, "anna")
        site = await _page(browser, errors, viewport=DESKTOP)
        await site.goto(f"{d.base}/demo/")
        await open_panel(site)

        await say(site, "My brakes squeak")
        await _take_offer(console, "My brakes squeak")
        await console.fill("#reply-text", "Adjust the pads: turn the screw a quarter turn.")
        await console.press("#reply-text", "Enter")
        await expect(site.locator(MSG, has_text="quarter turn")).to_have_count(1, timeout=10_000)
        await console.click("#btn-close")
        await expect(console.locator("#dlg-state")).to_have_attribute("data-state", "closed")

        # the closing text, then the question with five stars, each a button with a name
        await expect(site.locator(MSG, has_text="Thank you for contacting Support!")).to_have_count(1)
        question = site.locator(MSG, has_text="Please rate the answer from 1 to 5.")
        await expect(question.locator(RATING)).to_be_visible(timeout=10_000)
        stars = question.locator('[data-ol="score"]')
        await expect(stars).to_have_count(5)
        await expect(stars.nth(3)).to_have_attribute("aria-label", "4 of 5")
        await stars.nth(2).hover()  # three stars light up under the pointer
        await site.screenshot(path=str(ARTIFACTS / "widget-rating-ask-desktop.png"))

        await stars.nth(3).click()
        comment = question.locator('[data-ol="rating-comment"]')
        await expect(comment).to_be_visible(timeout=10_000)
        await expect(comment).to_be_focused()
        await comment.fill(COMMENT)
        await site.screenshot(path=str(ARTIFACTS / "widget-rating-comment-desktop.png"))
        await question.locator('[data-ol="rating-send"]').click()
        await expect(question.locator('[data-ol="rating-thanks"]')).to_have_text("Thank you for your rating!")
        await expect(question.locator('[data-ol="score"][aria-pressed="true"]')).to_have_attribute(
            "data-score", "4"
        )
        await expect(question.locator('[data-ol="score"]:enabled')).to_have_count(0)  # not offered twice
        await site.screenshot(path=str(ARTIFACTS / "widget-rating-thanks-desktop.png"))

        # the console: the thread's system line and the header, live; the comment as text
        # one line: the score and the comment sent after it read as one rating
        rated = console.locator('#thread .sys-line[data-kind="rated"]')
        await expect(rated).to_have_text(
            re.compile(f"^Rated 4 of 5 — «{re.escape(COMMENT)}»"), timeout=10_000
        )
        await expect(console.locator("#dlg-rating")).to_contain_text("Rated ★★★★☆ 4/5")
        await expect(console.locator("#dlg-rating .rating-comment")).to_have_text(f"«{COMMENT}»")
        assert await console.locator("#thread b, #dlg-rating b").count() == 0
        await expect(console.locator('#thread .sys-line[data-kind="auto_reply"]').last).to_contain_text(
            "rating question"
        )
        await console.screenshot(path=str(ARTIFACTS / "console-rating-desktop.png"))

        # the visitor comes back: a new dialog; its lead card lists the rated one with its rating
        await say(site, "One more thing: the chain")
        await _take_offer(console, "One more thing: the chain")
        earlier = console.locator("#lead-dialogs li .rating-badge")
        await expect(earlier).to_contain_text("Rated ★★★★☆ 4/5", timeout=10_000)
        await console.screenshot(path=str(ARTIFACTS / "console-rating-lead-desktop.png"))

        # after a reload, on a phone too, the question shows as answered
        token = await visitor_token(site)
        phone = await _page(browser, errors, viewport=PHONE)
        await phone.add_init_script(f"localStorage.setItem('openlines.visitor.support', {token!r})")
        await phone.goto(f"{d.base}/demo/")
        await open_panel(phone)
        answered = phone.locator(MSG, has_text="Please rate the answer from 1 to 5.")
        await expect(answered.locator('[data-ol="rating-thanks"]')).to_be_visible(timeout=10_000)
        await expect(answered.locator('[data-ol="score"]:enabled')).to_have_count(0)
        await answered.scroll_into_view_if_needed()
        await phone.screenshot(path=str(ARTIFACTS / "widget-rating-answered-phone.png"))
    assert errors == []


async def test_a_phone_visitor_answers_with_a_thumb_by_keyboard(tmp_path, start_daemon):
    support = line("support", ["anna"])
    support["rating"] = {"scale": "like"}
    support["language"] = "ru"
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support], operators=OPERATORS)))
    anna = await d.operator("anna")
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser, shop_site() as shop:
        site = await _page(browser, errors, viewport=PHONE, locale="ru-RU")
        await embed(site, d, shop, lang="ru", data_line="support")
        await open_panel(site)
        await say(site, "Где мой заказ?")
        offer = await anna.expect("dialog.offered")
        await anna.reply(offer["dialog_id"], "Уже в пути, будет завтра.")
        await anna.send({"type": "close", "dialog_id": offer["dialog_id"]})
        question = site.locator(MSG, has_text="Оцените, пожалуйста, ответ: мы вам помогли?")
        thumbs = question.locator('[data-ol="score"]')
        await expect(thumbs).to_have_count(2, timeout=10_000)
        await expect(thumbs.first).to_have_attribute("aria-label", "Помогло")
        await site.screenshot(path=str(ARTIFACTS / "widget-rating-ask-phone.png"))
        await thumbs.first.focus()
        await site.keyboard.press("Enter")  # a real button: the keyboard rates as a click does
        thanks = question.locator('[data-ol="rating-thanks"]')
        await expect(thanks).to_have_text("Спасибо за оценку!", timeout=10_000)
        await expect(question.locator('[data-ol="rating-comment"]')).to_have_count(0)  # the line takes none
        rated = await anna.expect("dialog.rated")
        assert (rated["rating"], rated["scale"], rated["comment"]) == (1, "like", None)
        await site.screenshot(path=str(ARTIFACTS / "widget-rating-thanks-phone.png"))
    assert errors == []
