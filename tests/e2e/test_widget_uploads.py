"""Issue 19: a visitor sends files from the widget in a real Chromium — chosen with the paperclip, pasted, dropped on
the chat — each uploaded at once and shown in a tray (a picture as a thumbnail), refused with a clear reason when
the line does not take it (too large, a type not on its list, content that is not what its name says), sent with
or without words, opened by the operator, and shown back to the visitor after a reload. Screenshots at 1280 and
390×844 (a phone, with its camera button)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import config, line, settings_from
from tests.e2e.test_widget_files import PNG
from tests.e2e.widget_pages import MSG, chromium, console_and_site, embed, open_panel, shop_site
from tests.pictures import photo

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PDF = b"%PDF-1.4\n% the receipt\n%%EOF\n"


PHOTO = photo()
CHIP = '[data-ol="chip"]'


async def choose(page: Page, *files: tuple[str, str, bytes]) -> None:
    """Pick files with the paperclip's file chooser, as the visitor would."""
    async with page.expect_file_chooser() as chooser:
        await page.click('[data-ol="attach"]')
    await (await chooser.value).set_files(
        [{"name": name, "mimeType": mime, "buffer": body} for name, mime, body in files]
    )


async def hand_over(page: Page, how: str, name: str, mime: str, body: bytes) -> None:
    """Paste a file into the box, or drop it onto the chat (the browser's own events, with a real File)."""
    await page.evaluate(
        """([how, name, mime, bytes]) => {
             const dt = new DataTransfer();
             dt.items.add(new File([new Uint8Array(bytes)], name, {type: mime}));
             const root = document.querySelector("[data-openlines-line]").shadowRoot;
             if (how === "paste") {
               root.querySelector('[data-ol="input"]').dispatchEvent(
                 new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
             } else {
               const panel = root.querySelector('[data-ol="panel"]');
               panel.dispatchEvent(new DragEvent("dragenter", {dataTransfer: dt, bubbles: true, cancelable: true}));
               window.__olDropShown = !root.querySelector('[data-ol="drop"]').hidden;
               panel.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
             }
           }""",
        [how, name, mime, list(body)],
    )


async def test_a_visitor_sends_files_and_the_operator_gets_them(tmp_path: Path, start_daemon: Any) -> None:
    async with shop_site() as shop, chromium() as browser:
        support = {
            **line("support", ["anna"]),
            "channels": [
                {
                    "type": "widget",
                    "allowed_origins": [shop.base],
                    "files": {"max_bytes": 4096, "types": ["image/*", "application/pdf"], "per_message": 3},
                }
            ],
        }
        d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support])))
        ARTIFACTS.mkdir(exist_ok=True)
        errors: list[str] = []
        console, site = await console_and_site(browser, d, shop, errors)
        await expect(site.locator('[data-ol="attach"]')).to_be_visible()
        await expect(site.locator('[data-ol="camera"]')).to_be_hidden()  # a desktop: no camera button

        # a picture and a PDF are taken; too large, a type not on the list and a page named .png are not
        await choose(site, ("box.png", "image/png", PNG), ("receipt.pdf", "application/pdf", PDF))
        await choose(site, ("huge.pdf", "application/pdf", b"%PDF-" + b"0" * 8000))
        await choose(site, ("notes.txt", "text/plain", b"plain words"))
        await choose(site, ("cat.png", "image/png", b"<html><script>alert(1)</script></html>"))
        chips = site.locator(CHIP)
        await expect(chips).to_have_count(5)
        await expect(site.locator(f'{CHIP}[data-state="done"]')).to_have_count(2, timeout=10_000)
        await expect(site.locator(f'{CHIP}[data-state="failed"]')).to_have_count(3, timeout=10_000)
        await expect(chips.nth(0).locator("img")).to_be_visible()  # the picture as a thumbnail
        await expect(chips.nth(2)).to_contain_text("Too large: files up to 4 KB")
        await expect(chips.nth(3)).to_contain_text("Files of this type cannot be sent here")
        await expect(chips.nth(4)).to_contain_text("The file does not match its type")  # said by the server
        await site.fill('[data-ol="input"]', "The box came broken, photo and receipt attached")
        await site.screenshot(path=str(ARTIFACTS / "widget-uploads-tray-1280.png"))

        await site.click('[data-ol="send"]')
        mine = site.locator(f'{MSG}[data-author="customer"]').last
        await expect(mine).to_have_attribute("data-id", re.compile(r"\w+"), timeout=10_000)
        await expect(chips).to_have_count(0)  # the tray is emptied, the refused ones with it
        await expect(mine.locator('img[data-ol="preview"]')).to_be_visible()
        await expect(mine.locator('[data-ol="file-link"]', has_text="receipt.pdf")).to_have_count(1)

        offer = console.locator('[data-list="offered"] [data-dialog-id]')
        await expect(offer).to_have_count(1, timeout=10_000)
        await offer.first.click()
        got = console.locator('#thread [data-author-kind="customer"]').last
        await expect(got.locator(".m-files a")).to_have_text(["box.png", "receipt.pdf"])
        href = await got.locator(".m-files a", has_text="receipt.pdf").get_attribute("href")
        assert href is not None
        body = await console.evaluate("async (u) => await (await fetch(u)).text()", href)
        assert body == PDF.decode()

        # a pasted picture, sent without words; a dropped file (the drop zone shows while it is dragged)
        await hand_over(site, "paste", "image.png", "image/png", PNG)
        await expect(site.locator(f'{CHIP}[data-state="done"]')).to_have_count(1, timeout=10_000)
        await site.click('[data-ol="send"]')
        await expect(
            console.locator('#thread [data-author-kind="customer"]').last.locator(".m-files a")
        ).to_have_text(["image.png"], timeout=10_000)
        await hand_over(site, "drop", "scan.pdf", "application/pdf", PDF)
        assert await site.evaluate("window.__olDropShown") is True
        await expect(site.locator('[data-ol="drop"]')).to_be_hidden()
        await expect(site.locator(f'{CHIP}[data-state="done"]')).to_have_count(1, timeout=10_000)
        await expect(site.locator(CHIP)).to_contain_text("scan.pdf")
        # more than the line's per-message limit is said, not silently dropped
        await choose(site, *[(f"p{i}.png", "image/png", PNG) for i in range(3)])
        await expect(site.locator(CHIP)).to_have_count(3)
        await expect(site.locator('[data-ol="notice"]')).to_contain_text("up to 3 files")
        await expect(site.locator(f'{CHIP}[data-state="done"]')).to_have_count(3, timeout=10_000)
        await site.locator('[data-ol="chip-remove"]').last.click()
        await expect(site.locator(CHIP)).to_have_count(2)
        await site.fill('[data-ol="input"]', "And the scan")
        await site.click('[data-ol="send"]')
        last = console.locator('#thread [data-author-kind="customer"]').last
        await expect(last.locator(".m-files a")).to_have_text(["scan.pdf", "p0.png"], timeout=10_000)

        # back later: the visitor's own files are in their history
        await site.reload()
        await open_panel(site)
        first = site.locator(f'{MSG}[data-author="customer"]').first
        await expect(first.locator('img[data-ol="preview"]')).to_be_visible(timeout=10_000)
        await expect(first.locator('[data-ol="file-link"]', has_text="receipt.pdf")).to_have_count(1)
        assert not errors, errors


async def test_on_a_phone_the_visitor_can_take_a_photo(tmp_path: Path, start_daemon: Any) -> None:
    async with shop_site() as shop, chromium() as browser:
        support = {
            **line("support", ["anna"]),
            "channels": [{"type": "widget", "allowed_origins": [shop.base]}],
        }
        d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support])))
        ARTIFACTS.mkdir(exist_ok=True)
        phone = await browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2
        )
        site = await phone.new_page()
        await embed(site, d, shop, data_line="support", lang="ru")
        await open_panel(site)
        camera = site.locator('[data-ol="camera"]')
        await expect(camera).to_be_visible()
        assert await site.locator('[data-ol="shooter"]').get_attribute("capture") == "environment"
        async with site.expect_file_chooser() as chooser:
            await camera.click()
        await (await chooser.value).set_files(
            [{"name": "photo.png", "mimeType": "image/png", "buffer": PHOTO}]
        )
        await choose(site, ("договор.pdf", "application/pdf", PDF))
        await expect(site.locator(f'{CHIP}[data-state="done"]')).to_have_count(2, timeout=10_000)
        await expect(site.locator('[data-ol="attach"]')).to_have_attribute("aria-label", "Прикрепить файл")
        await site.screenshot(path=str(ARTIFACTS / "widget-uploads-tray-390.png"))
        await site.click('[data-ol="send"]')
        mine = site.locator(f'{MSG}[data-author="customer"]').last
        await expect(mine).to_have_attribute("data-id", re.compile(r"\w+"), timeout=10_000)
        await expect(mine.locator('[data-ol="file-link"]', has_text="договор.pdf")).to_have_count(1)
        await site.screenshot(path=str(ARTIFACTS / "widget-uploads-sent-390.png"))
