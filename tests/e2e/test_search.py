"""Message search in the console, in a real Chromium: any script in any case, filters, pages, opening the thread at
the message found, customer text shown as text, lines an operator does not serve, and the closed list's pages.
Customers are widget visitors (tests/clients.py); the search is the daemon's own (GET /api/search)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, Route, WebSocketRoute, expect

from tests.conftest import Running, config, line, settings_from
from tests.e2e.test_browser import ARTIFACTS
from tests.e2e.test_console_defects import DESKTOP, OPERATORS, PHONE, _page, _sign_in, chromium

pytestmark = pytest.mark.e2e

XSS = "<img src=x onerror=alert(1)> посылка"
PARCELS = 22  # one customer's many messages: more than a page (20) of results on their own


def _line(line_id: str, queue: list[str]) -> dict[str, Any]:
    """A widget line whose customers may write many messages at once (the seeding below does)."""
    block = line(line_id, queue)
    block["channels"] = [{"type": "widget", "rate_per_visitor": 6000, "burst_per_visitor": 100}]
    return block


async def _daemon(tmp_path, start_daemon) -> Running:
    lines = [_line("support", ["anna"]), _line("sales", ["boris"])]
    return await start_daemon(settings_from(tmp_path, config(tmp_path, lines, operators=OPERATORS)))


async def _seed(d: Running) -> None:
    """Customers on both lines, in Latin and Cyrillic; sales is boris's line only."""
    latin = await d.visitor("support")
    await latin.say("Hello, where is my parcel from Kazan?")
    shouting = await d.visitor("support")
    await shouting.say("Здравствуйте! Где моя ПОСЫЛКА?")
    hostile = await d.visitor("support")
    await hostile.say(XSS)
    many = await d.visitor("support")
    for i in range(1, PARCELS + 1):
        await many.say(f"Посылка номер {i:02d}")
    sales = await d.visitor("sales")
    await sales.say("Секретная посылка для отдела продаж")


async def _search(page: Page, q: str) -> None:
    box = page.locator("#msearch-q")
    await box.fill(q)
    await box.press("Enter")
    await expect(page.locator("#msearch-status")).not_to_have_text(re.compile("Searching"), timeout=10_000)


def _results(page: Page) -> Any:
    return page.locator("#msearch-results .msearch-result")


async def test_search_finds_any_case_pages_opens_the_thread_at_the_message_and_shows_html_as_text(
    tmp_path, start_daemon
):
    d = await _daemon(tmp_path, start_daemon)
    errors: list[str] = []
    dialogs: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=DESKTOP)
        page.on("dialog", lambda dlg: dialogs.append(dlg.message))
        await _sign_in(page, d, "anna")
        await _seed(d)

        # lower case finds the customer's capitals; the word is marked, the rest is plain text
        await _search(page, "посылка")
        results = _results(page)
        await expect(results).to_have_count(20)
        await expect(page.locator("#msearch-status")).to_have_text("Found so far: 20")
        await expect(page.locator('.sidebar > .dlist[data-list="mine"]')).to_be_hidden()  # results stand in
        await page.screenshot(path=str(ARTIFACTS / "console-search-desktop.png"))
        shouted = results.filter(has_text="Где моя")
        more = page.locator("#msearch-more")
        if not await shouted.count():
            await more.click()
        await expect(shouted.locator("mark")).to_have_text("ПОСЫЛКА")
        await expect(shouted.locator(".item-line")).to_have_text("Support")
        await expect(shouted.locator(".chip")).to_have_text("widget")

        # the next page, then no more
        if await more.is_visible():
            await more.click()
        await expect(results).to_have_count(PARCELS + 2)  # no sales message: anna does not serve that line
        await expect(more).to_be_hidden()
        await expect(page.locator("#msearch-status")).to_have_text(f"Found: {PARCELS + 2}")

        # a customer's markup is text: no element made of it, no script run
        hostile = results.filter(has_text="onerror")
        await expect(hostile.locator(".msearch-snippet")).to_contain_text("<img src=x onerror=alert(1)>")
        await expect(page.locator("#msearch-results img")).to_have_count(0)
        await expect(hostile.locator("mark")).to_have_text("посылка")

        # a result opens its dialog at that message, in view and highlighted for a moment
        third = results.filter(has_text="номер 03")
        message_id = await third.get_attribute("data-result-msg")
        assert message_id
        await third.click()
        found = page.locator(f'#thread .msg[data-msg="{message_id}"]')
        await expect(found).to_have_class(re.compile(r"\bis-found\b"), timeout=10_000)
        await expect(found).to_be_in_viewport()
        await expect(
            page.locator(f'#thread .msg:has-text("Посылка номер {PARCELS:02d}")')
        ).not_to_be_in_viewport()
        await expect(third).to_have_attribute("aria-current", "true")
        await page.screenshot(path=str(ARTIFACTS / "console-search-opened-desktop.png"))
        await expect(found).not_to_have_class(re.compile(r"\bis-found\b"), timeout=8_000)

        # Latin in another case too; a word only another line's customer wrote: nothing (anna does not serve it)
        await _search(page, "KAZAN")
        await expect(results).to_have_count(1)
        await expect(results.locator("mark")).to_have_text("Kazan")
        await _search(page, "секретная")
        await expect(results).to_have_count(0)
        await expect(page.locator("#msearch-status")).to_have_text(
            "Nothing found. Try other words or fewer filters."
        )

        # Esc closes the search and the lists come back
        await page.locator("#msearch-q").press("Escape")
        await expect(page.locator("#msearch-panel")).to_be_hidden()
        await expect(page.locator("#msearch-q")).to_have_value("")
        await expect(page.locator('.sidebar > .dlist[data-list="mine"]')).to_be_visible()
    assert not dialogs, dialogs
    assert not errors, errors


async def test_filters_narrow_the_results_for_an_admin_and_the_results_read_on_a_phone(
    tmp_path, start_daemon
):
    d = await _daemon(tmp_path, start_daemon)
    anna = await d.operator("anna")
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(page, d, "admin")
        await _seed(d)
        # anna takes the shouting customer's dialog: the only one assigned
        shouting = None
        for _ in range(100):
            rows = (await anna.get("/api/dialogs?state=offered"))["dialogs"]
            shouting = next(
                (r for r in rows if "ПОСЫЛКА" in ((r.get("last_message") or {}).get("text") or "")), None
            )
            if shouting:
                break
            await page.wait_for_timeout(100)
        assert shouting, "the dialog was not offered to anna"
        await anna.send({"type": "take", "dialog_id": shouting["id"]})
        await anna.expect("dialog.assigned", lambda f: f["dialog_id"] == shouting["id"])

        await _search(page, "посылка")
        results = _results(page)
        await expect(results).to_have_count(20)  # a page; the admin sees the sales line too

        # filters: the line, then the state, then the operator; a day in the future finds nothing
        await page.click("#msearch-filter-toggle")
        await expect(page.locator("#msearch-filters")).to_be_visible()
        await page.select_option("#msearch-line", "sales")
        await expect(results).to_have_count(1)
        await expect(results).to_contain_text("Секретная")
        await expect(page.locator("#msearch-filter-toggle .msearch-filter-count")).to_have_text("1")
        await page.select_option("#msearch-line", "")
        await page.select_option("#msearch-state", "assigned")
        await expect(results).to_have_count(1)
        await expect(results).to_contain_text("Где моя ПОСЫЛКА")
        await page.select_option("#msearch-state", "")
        await page.select_option("#msearch-operator", "anna")
        await expect(results).to_have_count(1)
        await page.select_option("#msearch-operator", "")
        await page.fill("#msearch-since", "2099-01-01")
        await page.locator("#msearch-since").dispatch_event("change")
        await expect(results).to_have_count(0)
        await page.click("#msearch-reset")
        await expect(results).to_have_count(20)
        await page.screenshot(path=str(ARTIFACTS / "console-search-filters-desktop.png"))

        # on a phone, in Russian
        phone = await _page(browser, errors, viewport=PHONE, is_mobile=True, has_touch=True, locale="ru-RU")
        await _sign_in(phone, d, "admin")
        await phone.screenshot(path=str(ARTIFACTS / "console-search-idle-390.png"))
        await _search(phone, "ПОСЫЛКА")
        await expect(_results(phone)).to_have_count(20)
        await expect(phone.locator("#msearch-status")).to_have_text("Найдено пока: 20")
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"
        await phone.screenshot(path=str(ARTIFACTS / "console-search-390.png"))
        await phone.click("#msearch-filter-toggle")
        await phone.screenshot(path=str(ARTIFACTS / "console-search-filters-390.png"))
        await _results(phone).filter(has_text="номер 10").click()
        await expect(phone.locator("#thread .msg.is-found")).to_be_in_viewport(timeout=10_000)
        await phone.screenshot(path=str(ARTIFACTS / "console-search-opened-390.png"))
    assert not errors, errors


async def test_a_search_the_server_refuses_says_why(tmp_path, start_daemon):
    d = await _daemon(tmp_path, start_daemon)
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(page, d, "anna")

        async def refuse(route: Route) -> None:
            await route.fulfill(
                status=400, json={"code": "bad_field", "message": "until must be after since"}
            )

        await page.route(re.compile(r"/api/search\?"), refuse)
        await _search(page, "anything")
        status = page.locator("#msearch-status")
        await expect(status).to_have_text("Search did not work: until must be after since")
        await expect(status).to_have_class(re.compile(r"\bis-error\b"))
        await expect(_results(page)).to_have_count(0)
    assert not errors, errors


async def test_the_closed_list_shows_more_by_its_cursor_and_a_closed_result_opens_read_only(
    tmp_path, start_daemon
):
    d = await _daemon(tmp_path, start_daemon)
    anna = await d.operator("anna")
    for i in range(5):
        v = await d.visitor("support")
        await v.say(f"Closed question {i}")
        offer = await anna.expect("dialog.offered", lambda f, n=i: f"Closed question {n}" in str(f))
        await anna.send({"type": "take", "dialog_id": offer["dialog_id"]})
        await anna.expect("dialog.assigned", lambda f, o=offer: f["dialog_id"] == o["dialog_id"])
        await anna.send({"type": "close", "dialog_id": offer["dialog_id"]})
        await anna.expect("dialog.closed", lambda f, o=offer: f["dialog_id"] == o["dialog_id"])
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=DESKTOP)

        # pages of two, so that five closed dialogs make three pages (the console asks for the server's default)
        first_pages: list[str] = []

        async def small_pages(route: Route) -> None:
            if "cursor=" not in route.request.url:
                first_pages.append(route.request.url)
            await route.continue_(url=route.request.url + "&limit=2")

        await page.route(re.compile(r"/api/dialogs\?state=closed"), small_pages)
        sockets: list[WebSocketRoute] = []

        async def keep(ws: WebSocketRoute) -> None:
            ws.connect_to_server()
            sockets.append(ws)

        await page.route_web_socket(re.compile(r"/api/console/ws"), keep)
        await _sign_in(page, d, "anna")
        closed = page.locator('[data-list="closed"] .items .item')
        more = page.locator('[data-list="closed"] .dlist-more')
        await expect(closed).to_have_count(2, timeout=10_000)
        await expect(more).to_have_text("Show more")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "console-closed-more-desktop.png"))
        await more.click()
        await expect(closed).to_have_count(4)
        await more.click()
        await expect(closed).to_have_count(5)
        await expect(more).to_be_hidden()

        # the socket drops and comes back: the lists are fetched again (the first page), the older ones stay
        fetched = len(first_pages)
        for ws in sockets:
            await ws.close()
        await expect(page.locator("#conn")).to_have_attribute("data-state", "up", timeout=15_000)
        for _ in range(100):
            if len(first_pages) > fetched:
                break
            await page.wait_for_timeout(100)
        assert len(first_pages) > fetched, "the lists were not fetched again"
        await page.wait_for_timeout(300)
        await expect(closed).to_have_count(5)
        await expect(more).to_be_hidden()

        # a closed dialog found by search opens as it does from the list: read-only, "Write again" offered
        await _search(page, "question 0")
        await expect(_results(page)).to_have_count(1)
        await _results(page).click()
        await expect(page.locator("#dlg-state")).to_have_attribute("data-state", "closed")
        await expect(page.locator("#thread .msg.is-found")).to_contain_text("Closed question 0")
        await expect(page.locator("#reply-form")).to_be_hidden()
        await expect(page.locator("#btn-reopen")).to_be_visible()
    assert not errors, errors
