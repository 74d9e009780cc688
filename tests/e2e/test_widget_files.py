"""B2: an operator's files reach the widget's visitor — an image preview and a download link that only that visitor
can open — in a real Chromium; a file that cannot be delivered makes the reply `failed`, never `sent`."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import orjson
import pytest
from playwright.async_api import Page, expect

from tests.conftest import Running, config, line, settings_from
from tests.e2e.widget_pages import MSG, chromium, embed, open_panel, say, shop_site, sign_in, visitor_token
from tests.pictures import png

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


PNG = png(3, 2, lambda x, y: b"\xe5\x48\x4d")  # tiny and red: the browser decodes the preview
PDF = b"%PDF-1.4\n% the spring price list\n%%EOF\n"


async def _attach(console: Page, name: str, mime: str, body: bytes) -> None:
    count = await console.locator("#reply-files [data-file]").count()
    await console.set_input_files("#reply-file", files=[{"name": name, "mimeType": mime, "buffer": body}])
    await expect(console.locator("#reply-files [data-file]")).to_have_count(count + 1)


async def _get(d: Running, url: str, token: str | None) -> tuple[int, bytes, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with d.session.get(url, headers=headers) as r:
        return r.status, await r.read(), r.headers.get("Content-Type", "")


def _resign(d: Running, url: str, **changes: object) -> str:
    """The same link with its payload changed and signed again with the daemon's key (a link the server issued,
    then aged or pointed elsewhere): only the signature's freshness and binding are then under test."""
    token = url.rsplit("/", 1)[1]
    body = token.split(".", 1)[0]
    payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert d.daemon.channels is not None
    return url.rsplit("/", 1)[0] + "/" + d.daemon.channels.signer.sign({**payload, **changes})


async def test_operator_files_reach_the_visitor_as_a_preview_and_a_link_only_they_can_open(
    tmp_path, start_daemon
):
    async with shop_site() as shop, chromium() as browser:
        # the widget on a shop's own site (another origin), the only one the line lets embed it
        support = {
            **line("support", ["anna"]),
            "channels": [{"type": "widget", "allowed_origins": [shop.base]}],
        }
        d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support])))
        ARTIFACTS.mkdir(exist_ok=True)
        console = await (await browser.new_context()).new_page()
        site = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
        errors: list[str] = []
        for page in (console, site):
            page.on("pageerror", lambda exc: errors.append(str(exc)))
        await sign_in(console, d, "anna")
        await embed(site, d, shop, data_line="support")
        await open_panel(site)
        await say(site, "Can you send me the price list?")

        offer = console.locator('[data-list="offered"] [data-dialog-id]')
        await expect(offer).to_have_count(1, timeout=10_000)
        await offer.first.click()
        await _attach(console, "bike.png", "image/png", PNG)
        await _attach(console, "prices.pdf", "application/pdf", PDF)
        await console.fill("#reply-text", "Here they are.")
        await console.click("#reply-send")

        answer = site.locator(f'{MSG}[data-author="operator"]').last
        await expect(answer).to_contain_text("Here they are.", timeout=10_000)
        await expect(console.locator('#thread [data-author-kind="operator"]').last).to_have_attribute(
            "data-delivery", "sent"
        )
        # the image is shown inline, the PDF as a link with its name; both open through the visitor's own link
        preview = answer.locator('img[data-ol="preview"]')
        await expect(preview).to_be_visible(timeout=10_000)
        await site.wait_for_function(
            "(img) => img.complete && img.naturalWidth === 3", arg=await preview.element_handle()
        )
        pdf = answer.locator('[data-ol="file-link"]', has_text="prices.pdf")
        await expect(pdf).to_have_count(1)
        await site.screenshot(path=str(ARTIFACTS / "widget-files-1280.png"))

        async with site.expect_download() as download_info:
            await pdf.click()
        download = await download_info.value
        assert download.suggested_filename == "prices.pdf"
        assert await asyncio.to_thread(Path(await download.path()).read_bytes) == PDF

        links = answer.locator('[data-ol="file-link"]')
        png_url, pdf_url = await links.evaluate_all("(as) => as.map((a) => a.dataset.url)")
        token = await visitor_token(site)
        assert await _get(d, png_url, token) == (200, PNG, "image/png")
        # the PDF downloads, never renders as a page of the server's
        assert await _get(d, pdf_url, token) == (200, PDF, "application/octet-stream")

        # nobody else opens them: no token, another visitor's token, a forged or an expired link
        other = await (await browser.new_context()).new_page()
        await embed(other, d, shop, data_line="support")
        await open_panel(other)
        await say(other, "I am somebody else")
        other_token = await visitor_token(other)
        status_in_their_browser = await other.evaluate(
            """async ([url, key]) => (await fetch(url, {
                 headers: {Authorization: "Bearer " + localStorage.getItem(key)}})).status""",
            [pdf_url, "openlines.visitor.support"],
        )
        assert status_in_their_browser == 403
        assert (await _get(d, pdf_url, None))[0] == 403
        async with d.session.get(
            pdf_url, headers={"Authorization": f"Bearer {token}", "Origin": "http://evil.example"}
        ) as r:
            assert r.status == 403  # another site's page, even with the token
        assert (await _get(d, pdf_url, other_token))[0] == 403
        forged = pdf_url[:-2] + ("AA" if not pdf_url.endswith("AA") else "BB")
        assert (await _get(d, forged, token))[0] == 403
        expired = _resign(d, pdf_url, iat=int(time.time()) - 2 * 86400)
        assert (await _get(d, expired, token))[0] == 403
        assert (await _get(d, _resign(d, pdf_url), token))[0] == 200  # re-signing alone changes nothing
        # a genuine link of the other visitor's that names this visitor's message: not theirs
        other_visitor = d.daemon.channels.signer.verify(other_token, 3600)  # type: ignore[union-attr]
        assert other_visitor is not None
        stolen = _resign(d, pdf_url, visitor=other_visitor["v"])
        assert (await _get(d, stolen, other_token))[0] == 404

        # after a reload the history still carries the files
        await site.reload()
        await open_panel(site)
        answer = site.locator(f'{MSG}[data-author="operator"]').last
        await expect(answer.locator('img[data-ol="preview"]')).to_be_visible(timeout=10_000)
        await expect(answer.locator('[data-ol="file-link"]', has_text="prices.pdf")).to_have_count(1)
        await site.set_viewport_size({"width": 390, "height": 844})
        await site.screenshot(path=str(ARTIFACTS / "widget-files-390.png"))
        # text is text: nothing the operator or the visitor wrote ran as markup
        assert not errors, errors


async def test_a_file_that_cannot_be_delivered_fails_the_reply_instead_of_showing_sent(
    tmp_path, start_daemon
):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    widget = d.daemon.connectors["widget"]
    async with chromium() as browser:
        console = await (await browser.new_context()).new_page()
        site = await (await browser.new_context()).new_page()
        await sign_in(console, d, "anna")
        await site.goto(f"{d.base}/demo/")
        await open_panel(site)
        await say(site, "Send me the form, please")
        offer = console.locator('[data-list="offered"] [data-dialog-id]')
        await expect(offer).to_have_count(1, timeout=10_000)
        await offer.first.click()
        await _attach(console, "form.pdf", "application/pdf", PDF)

        # the file is accepted with the reply, then gone from the store before the widget sends it
        real = widget.ctx.attachments

        class Lost:
            async def put(self, data: bytes, *, name: str, mime: str) -> str:
                return await real.put(data, name=name, mime=mime)

            async def get(self, key: str) -> bytes | None:
                return None

            async def exists(self, key: str) -> bool:
                return False

        widget.ctx.attachments = Lost()
        await console.fill("#reply-text", "Here is the form.")
        await console.click("#reply-send")
        mine = console.locator('#thread [data-author-kind="operator"]').last
        await expect(mine).to_have_attribute("data-delivery", "failed", timeout=10_000)
        await expect(mine).to_contain_text("form.pdf")
        # the visitor got nothing of it, then or after a reload
        assert await site.locator(f'{MSG}[data-author="operator"]').count() == 0
        await site.reload()
        await open_panel(site)
        await expect(site.locator(f'{MSG}[data-author="customer"]')).to_have_count(1, timeout=10_000)
        assert await site.locator(f'{MSG}[data-author="operator"]').count() == 0
