"""Deals in a real Chromium, on SQLite and PostgreSQL: a new Telegram customer on a line that creates deals gets a
deal; the operator moves it to a stage whose required fields are empty and is refused with them named and marked,
fills them and moves it; on the board a drag to a stage that needs more is refused the same way; a widget customer's
lead is converted into a contact (with a company) and a deal from the lead card; the Telegram customer writes again
and the new dialog lands in the same deal card. Screenshots at desktop and 390x844."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import config, line, settings_from
from tests.connectors.fake_telegram import FakeTelegram
from tests.e2e.test_browser import ARTIFACTS
from tests.e2e.test_console_defects import DESKTOP, OPERATORS, PHONE, _page, _sign_in, _take_offer, chromium
from tests.pg_server import pg_database, pg_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e
TOKEN = "123:abc"
CRM = {
    "fields": {
        "deal": [
            {"id": "site", "name": "Client's site", "type": "link"},
            {"id": "address", "name": "Delivery address", "type": "address"},
            {
                "id": "extras",
                "name": "Extras",
                "type": "list",
                "values": ["assembly", "delivery"],
                "multiple": True,
            },
        ]
    },
    "pipelines": [
        {
            "id": "sales",
            "name": "Sales",
            "currency": "EUR",
            "stages": [
                {"id": "new", "name": "New"},
                {"id": "contract", "name": "Contract", "required": ["contact", "site"]},
                {"id": "invoice", "name": "Invoice", "required": ["amount"]},
                {"id": "shipping", "name": "Shipping", "required": ["address"]},
                {"id": "won", "name": "Closed won", "kind": "won"},
                {"id": "lost", "name": "Closed lost", "kind": "lost"},
            ],
        }
    ],
}


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    fake.add_bot(TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_database"))


async def _daemon(tmp_path, start_daemon, telegram, storage_url):  # type: ignore[no-untyped-def]
    shop = {
        **line("shop", ["anna"]),
        "channels": [{"type": "telegram", "token": TOKEN, "api_base": telegram.url, "polling_timeout": 1}],
        "crm": {"create": "deal", "pipeline": "sales"},
    }
    data = config(tmp_path, [shop, line("support", ["anna"])], operators=OPERATORS, storage_url=storage_url)
    data["crm"] = CRM
    return await start_daemon(settings_from(tmp_path, data))


async def _eventually(check: Any, timeout: float = 10.0) -> Any:
    for _ in range(int(timeout / 0.05)):
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_a_telegram_customer_gets_a_deal_that_moves_by_its_required_fields_and_keeps_every_contact(
    tmp_path, start_daemon, telegram, storage_url
):
    d = await _daemon(tmp_path, start_daemon, telegram, storage_url)
    admin, anna_api = await d.operator("admin"), await d.operator("anna")
    shots = storage_url is None  # one store's screenshots are enough
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(page, d, "anna")
        await telegram.message(TOKEN, "Do you deliver sofas?")
        await _take_offer(page, "Do you deliver sofas?")

        async def the_deal() -> list[dict[str, Any]]:
            return (await admin.get("/api/deals/list"))["deals"]

        (deal,) = await _eventually(the_deal)
        assert deal["title"] == "Ivan Petrov" and deal["stage"] == "new"

        await page.click("#deals-open")
        row = page.locator(f'#deals-rows [data-deal-id="{deal["id"]}"]')
        await expect(row).to_contain_text("Ivan Petrov")
        await row.get_by_role("button", name="Ivan Petrov").click()
        await expect(page.locator("#deal-heading")).to_have_text("Ivan Petrov")
        await expect(page.locator('#deal-stages [data-stage="new"]')).to_have_attribute(
            "aria-current", "step"
        )

        # skipping to the invoice: the contract's site and the invoice's amount are missing (the contact is there)
        await page.click('#deal-stages [data-stage="invoice"]')
        await expect(page.locator("#deal-error")).to_have_text(
            "Before this stage, please fill in: Client's site, Amount"
        )
        await expect(page.locator("#deal-f-site")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#deal-amount")).to_have_attribute("aria-invalid", "true")
        if shots:
            await _shot(page, "deal-refused-desktop")
        await page.fill("#deal-f-site", "https://petrov.example")
        await page.fill("#deal-amount", "25 000")
        await page.click('#deal-stages [data-stage="invoice"]')
        await expect(page.locator('#deal-stages [data-stage="invoice"]')).to_have_attribute(
            "aria-current", "step"
        )
        await expect(page.locator("#deal-amount")).to_have_value("25000.00")
        await expect(page.locator("#deal-timeline")).to_contain_text("Stage: New → Invoice")
        await page.fill("#deal-note", "Wants delivery on <Saturday>")
        await page.click("#deal-note-form button[type=submit]")
        await expect(page.locator("#deal-timeline .deal-ev-note .deal-ev-text")).to_have_text(
            "Wants delivery on <Saturday>"
        )
        if shots:
            await _shot(page, "deal-card-desktop")

        # the board: a drag to Shipping is refused for the address, named
        await page.click("#deal-back")
        await page.click('.deals-mode[data-mode="board"]')
        card = page.locator(f'.kanban-card[data-deal-id="{deal["id"]}"]')
        await expect(page.locator('.kanban-col[data-stage="invoice"]')).to_contain_text("Ivan Petrov")
        await card.drag_to(page.locator('.kanban-col[data-stage="shipping"]'))
        await expect(page.locator(".toast").last).to_contain_text("Delivery address")
        await expect(page.locator('.kanban-col[data-stage="invoice"] .kanban-card')).to_have_count(1)
        if shots:
            await _shot(page, "deal-board-desktop")

        # a saved filter of the list: named, chosen again, the operator's own
        await page.click('.deals-mode[data-mode="list"]')
        await page.select_option("#deals-stage", "invoice")
        await page.fill("#deals-filter-name", "My invoices")
        await page.click("#deals-save-filter")
        await expect(page.locator("#deals-saved option:checked")).to_have_text("My invoices")
        assert (await anna_api.get("/api/filters?entity=deals"))["filters"][0]["query"]["stage"] == "invoice"

        # a widget customer's lead converted into a contact with a company and a deal, from the lead card
        await page.click("#deals-back")
        visitor = await d.visitor("support")
        await visitor.say("I need a kitchen")
        await _take_offer(page, "I need a kitchen")
        await page.click("#lead-convert")
        await page.fill("#convert-company", "Kitchen LLC")
        await page.fill("#convert-title", "Kitchen for the new flat")
        if shots:
            await _shot(page, "lead-convert-desktop")
        await page.click("#convert-submit")
        await expect(page.locator("#deal-heading")).to_have_text("Kitchen for the new flat")
        await expect(page.locator("#deal-customer")).to_contain_text("Kitchen LLC")
        assert "null" not in await page.locator("#deal-customer").inner_text()
        await expect(page.locator("#deal-dialogs li")).to_have_count(1)
        # the deal card's dialog unfolds into its messages; the contact is on the Contacts list with its company
        await page.locator("#deal-dialogs summary").first.click()
        await expect(page.locator("#deal-dialogs .transcript")).to_contain_text("I need a kitchen")
        await page.click("#deal-back")
        await page.click("#list-open")
        await page.click("#list-contacts")
        await page.locator("#contacts-rows button").first.click()
        await expect(page.locator("#contact-company")).to_have_value("Kitchen LLC")
        await expect(page.locator("#contact-deals")).to_contain_text("Kitchen for the new flat")
        if shots:
            await _shot(page, "contact-card-desktop")
        await page.click("#contact-back")
        await page.click("#contacts-back")
        converted = [x for x in await the_deal() if x["title"] == "Kitchen for the new flat"]
        lead = await admin.get(f"/api/leads/{converted[0]['lead_id']}")
        assert lead["status"] == "converted" and len(lead["dialogs"]) == 1

        # the Telegram customer writes again after their dialog closed: the same deal card
        first = (await admin.get(f"/api/deals/{deal['id']}"))["dialogs"][0]["id"]
        await anna_api.send({"type": "close", "dialog_id": first})
        await anna_api.expect("dialog.closed", lambda f: f["dialog_id"] == first)
        await telegram.message(TOKEN, "And a table?")

        async def two_dialogs() -> bool:
            return len((await admin.get(f"/api/deals/{deal['id']}"))["dialogs"]) == 2

        await _eventually(two_dialogs)
        await page.click("#deals-open")
        await page.click('.deals-mode[data-mode="list"]')
        await page.locator(f'#deals-rows [data-deal-id="{deal["id"]}"]').get_by_role("button").click()
        await expect(page.locator("#deal-dialogs li")).to_have_count(2)
        assert len(await the_deal()) == 2  # the Telegram customer's one deal and the converted lead's
    assert errors == []


async def test_the_deals_pages_fit_a_phone(tmp_path, start_daemon, telegram):
    d = await _daemon(tmp_path, start_daemon, telegram, None)
    admin = await d.operator("admin")
    lead = (
        await admin.call(
            "POST", "/api/leads", {"name": "Мария Соколова", "responsible": "anna", "force": True}
        )
    )[1]
    status, deal = await admin.call(
        "POST",
        "/api/deals",
        {"lead_id": lead["id"], "title": "Кухня и стол", "amount": "120000", "responsible": "anna"},
    )
    assert status == 201, deal
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=PHONE)
        await _sign_in(page, d, "anna")
        await page.click("#deals-open-side")
        await expect(page.locator("#deals-rows")).to_contain_text("Кухня и стол")
        await _shot(page, "deals-list-phone")
        await page.click('.deals-mode[data-mode="board"]')
        await expect(page.locator('.kanban-col[data-stage="new"]')).to_contain_text("Кухня и стол")
        await _shot(page, "deal-board-phone")
        # a touch screen has no drag: each card has a stage picker, refused the same way
        await page.locator(".kanban-card .kanban-move").first.select_option("contract")
        await expect(page.locator(".toast").last).to_contain_text("Contact, Client's site")
        await expect(page.locator('.kanban-col[data-stage="new"] .kanban-card')).to_have_count(1)
        await page.click('.deals-mode[data-mode="list"]')
        await page.locator("#deals-rows").get_by_role("button", name="Кухня и стол").click()
        await expect(page.locator("#deal-heading")).to_have_text("Кухня и стол")
        await page.click('#deal-stages [data-stage="contract"]')
        await expect(page.locator("#deal-error")).to_contain_text("Contact")
        await expect(page.locator("#deal-make-contact")).to_have_attribute("aria-invalid", "true")
        await _shot(page, "deal-card-phone")
        await page.click("#deal-make-contact")  # the customer's lead converted from the deal card
        await expect(page.locator("#deal-customer")).to_contain_text("Contact")
        await expect(page.locator("#deal-make-contact")).to_have_count(0)
        await page.fill("#deal-f-site", "https://sokolova.example")
        await page.click('#deal-stages [data-stage="contract"]')
        await expect(page.locator('#deal-stages [data-stage="contract"]')).to_have_attribute(
            "aria-current", "step"
        )
        await page.click("#deal-back")
        await page.click("#deals-back")
        await page.click("#list-open-side")
        await page.click("#list-contacts")
        await expect(page.locator("#contacts-rows")).to_contain_text("Мария Соколова")
        await _shot(page, "contacts-list-phone")
        await page.locator("#contacts-rows button").first.click()
        await expect(page.locator("#contact-heading")).to_have_text("Мария Соколова")
        await _shot(page, "contact-card-phone")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width  # nothing wider than the phone
    assert errors == []
