"""The operator console's own flows in a real Chromium: reconnect and resync, presence, take, transfer, lead search,
sign-out and a session that ends on the server. Customers and colleagues are protocol clients (tests/clients.py)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import Page, WebSocketRoute, async_playwright, expect

from tests.conftest import PASSWORD, Running, config, line, settings_from
from tests.e2e.test_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.e2e

TOKEN_KEY = "openlines.console.token"


async def _sign_in(page: Page, d: Running, login: str) -> None:
    await page.goto(f"{d.base}/console/")
    await page.fill("#login", login)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "up")


async def _token(page: Page) -> str | None:
    """The session token the console keeps in sessionStorage."""
    token: str | None = await page.evaluate("(key) => sessionStorage.getItem(key)", TOKEN_KEY)
    return token


async def _dialog_with(admin: Any, text: str) -> dict[str, Any]:
    """The open dialog whose last message is `text`, as an admin sees it."""
    for _ in range(50):
        rows = (await admin.get("/api/dialogs?state=open"))["dialogs"]
        found = [r for r in rows if (r.get("last_message") or {}).get("text") == text]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no open dialog ends with {text!r}")


async def _presence_of(admin: Any, login: str) -> str:
    ops = (await admin.get("/api/meta"))["operators"]
    return next(o["presence"] for o in ops if o["login"] == login)


async def test_console_reconnects_catches_up_and_sends_the_reply_typed_while_offline(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            # every console socket passes through the test, which can drop it and refuse new ones
            sockets: list[WebSocketRoute] = []
            refused: list[str] = []
            accept = True

            async def route(ws: WebSocketRoute) -> None:
                if not accept:
                    refused.append(ws.url)
                    await ws.close()
                    return
                ws.connect_to_server()
                sockets.append(ws)

            await page.route_web_socket(re.compile(r"/api/console/ws"), route)
            await _sign_in(page, d, "anna")
            visitor = await d.visitor("support")
            await visitor.say("Do you deliver to Kazan?")
            offer = page.locator('[data-list="offered"] [data-dialog-id]')
            await expect(offer).to_have_count(1, timeout=10_000)
            await offer.first.click()
            await page.click("#btn-take")
            await expect(page.locator('[data-list="mine"] [data-dialog-id]')).to_have_count(1)
            await expect(page.locator("#dlg-state")).to_have_text("assigned")

            # the socket drops and the next attempts are refused
            accept = False
            for ws in sockets:
                await ws.close()
            conn = page.locator("#conn")
            await expect(conn).to_have_attribute("data-state", "down")
            await expect(conn).to_have_text("Reconnecting…")

            # meanwhile the customer writes (nothing reaches the console) and the operator answers (it waits)
            await visitor.say("Are you still there?")
            await page.fill("#reply-text", "Yes, one moment please.")
            await page.press("#reply-text", "Enter")
            pending = page.locator('#thread [data-pending="1"]')
            await expect(pending).to_have_count(1)
            await expect(pending).to_contain_text("sending…")
            await expect(page.locator("#toast")).to_have_attribute("data-code", "offline")
            for _ in range(100):  # the console tried again at least once, and was refused
                if refused:
                    break
                await asyncio.sleep(0.1)
            assert refused, "the console did not try to reconnect"
            await expect(conn).to_have_attribute("data-state", "down")
            await expect(page.locator("#thread")).not_to_contain_text("Are you still there?")

            # the server takes sockets again: the console reconnects by itself and catches up
            accept = True
            await expect(conn).to_have_attribute("data-state", "up", timeout=15_000)
            await expect(conn).to_have_text("Connected")
            customer = page.locator('#thread [data-author-kind="customer"]')
            await expect(customer).to_have_count(2, timeout=10_000)
            await expect(customer.last).to_contain_text("Are you still there?")

            # the reply typed while offline went out, once
            await expect(pending).to_have_count(0, timeout=10_000)
            mine = page.locator('#thread [data-author-kind="operator"]', has_text="Yes, one moment please.")
            await expect(mine).to_have_count(1)
            await expect(mine).to_have_attribute("data-msg", re.compile(r"."))

            def the_reply(f: dict[str, Any]) -> bool:
                return bool(f["text"] == "Yes, one moment please.")

            answer = await visitor.expect("message", the_reply, timeout=10)
            assert answer["author"]["kind"] == "operator"
            await visitor.absent("message", the_reply, wait=1.0)
            assert len(sockets) >= 2  # the first socket, and the one after the outage
            assert not errors, errors
        finally:
            await browser.close()
    assert await d.daemon.store.count("messages") == 3


async def test_console_presence_take_and_transfer(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    admin = await d.operator("admin")
    boris = await d.operator("boris")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await _sign_in(page, d, "anna")
            presence = page.locator("#presence")
            await expect(presence).to_have_attribute("data-status", "online")

            # away: the router stops offering anna dialogs, so a new one waits in her line's queue
            await presence.click()
            await expect(presence).to_have_attribute("data-status", "away")
            await expect(presence).to_have_text("Away")
            await expect(presence).to_have_attribute("aria-pressed", "false")
            for _ in range(50):
                if await _presence_of(admin, "anna") == "away":
                    break
                await asyncio.sleep(0.1)
            assert await _presence_of(admin, "anna") == "away"
            visitor = await d.visitor("support")
            await visitor.say("Hello, anyone?")
            dialog = await _dialog_with(admin, "Hello, anyone?")
            assert dialog["state"] == "queued"
            queued = page.locator(f'[data-list="queued"] [data-dialog-id="{dialog["id"]}"]')
            await expect(queued).to_have_count(1)
            await expect(page.locator('[data-list="offered"] [data-dialog-id]')).to_have_count(0)

            # back online; anna opens the dialog and takes it with the button
            await presence.click()
            await expect(presence).to_have_attribute("data-status", "online")
            await expect(presence).to_have_text("Online")
            await page.locator(f'.sidebar [data-dialog-id="{dialog["id"]}"]').first.click()
            await expect(page.locator("#thread")).to_contain_text("Hello, anyone?")
            take = page.locator("#btn-take")
            await expect(take).to_be_visible()
            await take.click()
            mine = page.locator('[data-list="mine"] [data-dialog-id]')
            await expect(mine).to_have_attribute("data-dialog-id", dialog["id"])
            await expect(page.locator("#dlg-state")).to_have_text("assigned")
            await expect(take).to_be_hidden()
            await expect(page.locator("#dlg-operator")).to_have_text("with Anna")

            # transfer to a colleague: it leaves anna's dialogs and boris has it
            target = page.locator("#transfer-target")
            await expect(target.locator("option")).to_have_count(5)  # "Transfer to…", 3 colleagues, 1 line
            await expect(target.locator('option[value="op:anna"]')).to_have_count(0)
            await target.select_option("op:boris")
            await page.click("#btn-transfer")
            moved = await boris.expect("dialog.transferred", lambda f: f["dialog_id"] == dialog["id"])
            assert moved["to_operator"] == "boris" and moved["from_operator"] == "anna"
            await expect(mine).to_have_count(0)
            await expect(page.locator("#dlg-operator")).to_have_text("with Boris")
            await expect(target).to_have_value("")
            assert not errors, errors
        finally:
            await browser.close()


async def test_console_lead_search_sign_out_and_a_session_ended_on_the_server(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    admin = await d.operator("admin")
    # two customers; the second one's lead is named and handed to anna by an admin
    first, second = await d.visitor("support"), await d.visitor("support")
    await first.say("First customer here")
    await second.say("Second customer here")
    lead_id = (await _dialog_with(admin, "Second customer here"))["lead"]["id"]
    status, _ = await admin.patch(f"/api/leads/{lead_id}", {"name": "Olga Smirnova", "responsible": "anna"})
    assert status == 200
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await _sign_in(page, d, "anna")

            # anna has the first customer's dialog open; the search finds the second customer's lead
            item = page.locator(".sidebar [data-dialog-id]", has_text="First customer here")
            await expect(item).to_have_count(1, timeout=10_000)
            await item.click()
            await expect(page.locator("#lead-form")).to_be_visible()
            first_name = await page.locator("#lead-name").input_value()
            assert first_name and first_name != "Olga Smirnova"
            search = page.locator("#lead-search")
            results = page.locator("#lead-search-results")
            await search.fill("smirn")
            await expect(results).to_be_visible()
            found = results.locator(".result")
            await expect(found).to_have_count(1)
            await expect(found).to_have_attribute("data-lead-id", lead_id)
            await expect(found.locator(".result-name")).to_have_text("Olga Smirnova")
            await found.click()
            await expect(page.locator("#lead-name")).to_have_value("Olga Smirnova")
            await expect(page.locator("#lead-responsible")).to_have_value("anna")
            await search.fill("nobody-has-this-name")
            await expect(results.locator("li")).to_have_text(["No leads found"])
            await search.press("Escape")
            await expect(results).to_be_hidden()
            await expect(search).to_have_value("")

            # sign-out: back to the login view, and the session is over on the server too
            token = await _token(page)
            assert token
            await page.click("#logout")
            await expect(page.locator("#login-view")).to_be_visible()
            await expect(page.locator("#app")).to_be_hidden()
            await expect(page.locator("#login-error")).to_have_text("")
            assert await _token(page) is None
            async with d.session.get(f"{d.base}/api/me", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 401
            await page.reload()
            await expect(page.locator("#login-view")).to_be_visible()

            # signed in again, the session ends elsewhere: the console's next call asks for the password again
            await page.fill("#login", "anna")
            await page.fill("#password", PASSWORD)
            await page.click("#login-submit")
            await expect(page.locator("#conn")).to_have_attribute("data-state", "up")
            await expect(page.locator("#lead-search")).to_have_value("")
            bearer = {"Authorization": f"Bearer {await _token(page)}"}
            async with d.session.post(f"{d.base}/api/logout", headers=bearer) as r:
                assert r.status == 200
            await search.fill("smirn")
            await expect(page.locator("#login-view")).to_be_visible()
            ended = "Your session has ended. Please sign in again."
            await expect(page.locator("#login-error")).to_have_text(ended)
            await expect(page.locator("#app")).to_be_hidden()
            assert await _token(page) is None
            assert not errors, errors
        finally:
            await browser.close()
