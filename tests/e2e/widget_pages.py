"""What the widget's browser tests share: a Chromium, pages that embed the widget as a site would, and the
visitor's side of the widget (its token, its panel)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from html import escape

from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import PASSWORD, Running
from tests.e2e.test_browser import ARGS, CHROMIUM

MSG = '[data-ol="msg"]'


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed at the end."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class Shop:
    """A customer's site on an origin of its own (another port of 127.0.0.1), whose pages embed the widget from the
    daemon the way a site owner would."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.base = ""

    async def handle(self, request: web.Request) -> web.Response:
        html = self.pages.get(request.path)
        if html is None:
            raise web.HTTPNotFound()
        return web.Response(text=html, content_type="text/html", charset="utf-8")


@contextlib.asynccontextmanager
async def shop_site() -> AsyncIterator[Shop]:
    """Serve a Shop on a free port of 127.0.0.1 until the end."""
    shop = Shop()
    app = web.Application()
    app.router.add_get("/{path:.*}", shop.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    shop.base = f"http://127.0.0.1:{port}"
    try:
        yield shop
    finally:
        await runner.cleanup()


async def embed(
    page: Page, d: Running, shop: Shop, *, lang: str = "en", path: str | None = None, **attrs: str
) -> None:
    """Open a page of the shop's site (at `path`, else a new one) that embeds the widget with the given `data-*`
    attributes (`data_line="support"` becomes `data-line="support"`)."""
    tags = " ".join(f'{k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    path = path or f"/page-{len(shop.pages)}.html"
    shop.pages[path] = (
        f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>shop</title></head>'
        f'<body><h1>A shop</h1><script src="{d.base}/widget/loader.js" {tags} async></script></body></html>'
    )
    await page.goto(shop.base + path)


async def open_panel(page: Page) -> None:
    """Open the chat panel (it may already be open: the widget remembers it per tab)."""
    panel = page.locator('[data-ol="panel"]')
    # mounted first (after the line's settings and strings): only then is the panel's remembered state applied
    await page.locator('[data-ol="launcher"]').wait_for(state="attached", timeout=10_000)
    if not await panel.is_visible():
        await page.click('[data-ol="launcher"]')
    await expect(panel).to_be_visible()


async def visitor_token(page: Page, line: str = "support") -> str:
    """The visitor token the widget keeps in the site's localStorage."""
    token = await page.evaluate("(k) => localStorage.getItem(k)", f"openlines.visitor.{line}")
    assert isinstance(token, str) and token, "the widget has no visitor token yet"
    return token


async def say(page: Page, text: str) -> None:
    """Write a message in the widget and wait until the server stored it (acked)."""
    await page.fill('[data-ol="input"]', text)
    await page.click('[data-ol="send"]')
    mine = page.locator(f'{MSG}[data-author="customer"]', has_text=text).last
    await expect(mine).to_have_attribute("data-id", re.compile(".+"), timeout=10_000)


async def sign_in(page: Page, d: Running, login: str) -> None:
    """Log an operator in to the console and wait until its socket is up."""
    await page.goto(f"{d.base}/console/")
    await page.fill("#login", login)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "up")


async def console_and_site(
    browser: Browser, d: Running, shop: Shop, errors: list[str], *, height: int = 800
) -> tuple[Page, Page]:
    """Anna signed in to the console, and a shop's page (1280 wide) with the widget of line `support` open; the
    pages' script errors go to `errors`."""
    console = await (await browser.new_context()).new_page()
    site = await (await browser.new_context(viewport={"width": 1280, "height": height})).new_page()
    for page in (console, site):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(console, d, "anna")
    await embed(site, d, shop, data_line="support")
    await open_panel(site)
    return console, site
