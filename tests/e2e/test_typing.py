"""Typing indicators in the two browser UIs (issue 18): the visitor typing in the demo page's widget shows in the
operator's console (in the open thread and on the dialog's row), the operator typing shows in the widget with their
name; each goes when the box is emptied, the message is sent or the typist goes quiet, and the typed text never
leaves the browser before it is sent."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest
from playwright.async_api import Page, WebSocket, expect

from tests.conftest import config, line, settings_from
from tests.e2e.test_browser import ARTIFACTS
from tests.e2e.test_console_defects import DESKTOP, PHONE, _page, _sign_in, _take_offer, chromium
from tests.e2e.widget_pages import MSG, open_panel, say

pytestmark = pytest.mark.e2e

FIRST = "Hi! Is the Trail 29 available in size M?"
UNSENT = "Actually, can you deliver it to Oslo by Friday"  # typed by the visitor, then erased: never sent
ANSWER = "Yes, we have two in M."
CUSTOMER = "Maria"
INPUT = '[data-ol="input"]'
WIDGET_TYPING = '[data-ol="typing"]'


class Frames:
    """Every websocket frame a page sent and received (a console `batch` counts as the frames it carries)."""

    def __init__(self, page: Page) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.raw: list[str] = []
        page.on("websocket", self._socket)

    def _socket(self, ws: WebSocket) -> None:
        ws.on("framesent", lambda payload: self._add(self.sent, payload))
        ws.on("framereceived", lambda payload: self._add(self.received, payload))

    def _add(self, into: list[dict[str, Any]], payload: str | bytes) -> None:
        text = payload.decode() if isinstance(payload, bytes) else payload
        self.raw.append(text)
        frame = orjson.loads(text)
        into.extend(frame["frames"] if frame.get("type") == "batch" else [frame])

    def typing(self, into: list[dict[str, Any]], since: int = 0) -> list[dict[str, Any]]:
        return [f for f in into[since:] if f.get("type") == "typing"]

    async def wait_for(
        self, into: list[dict[str, Any]], since: int, frame: dict[str, Any], timeout: float
    ) -> None:
        """Wait until `frame` is among the frames from index `since` on."""
        for _ in range(int(timeout * 20)):
            if frame in into[since:]:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {frame} among {self.typing(into, since)}")


async def test_typing_shows_both_ways_and_the_text_stays_in_the_browser(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        console = await _page(browser, errors, viewport=DESKTOP)
        site = await _page(browser, errors, viewport=PHONE, is_mobile=True, has_touch=True)
        widget_ws, console_ws = Frames(site), Frames(console)
        await _sign_in(console, d, "anna")

        # the visitor writes from the demo page; anna takes the dialog and names the lead
        await site.goto(f"{d.base}/demo/")
        await open_panel(site)
        await say(site, FIRST)
        await _take_offer(console, FIRST)
        dialog_id = await console.locator('[data-list="mine"] [data-dialog-id]').get_attribute(
            "data-dialog-id"
        )
        assert dialog_id
        await console.fill("#lead-name", CUSTOMER)
        await console.click("#lead-save")
        await expect(console.locator("#dlg-customer")).to_have_text(CUSTOMER)
        thread_typing = console.locator("#thread #typing")
        row = console.locator(f'[data-list="mine"] .item[data-dialog-id="{dialog_id}"]')
        await expect(thread_typing).to_have_count(0)

        # the visitor types (without sending): the console shows who, in the thread and on the dialog's row
        box = site.locator(INPUT)
        await box.press_sequentially(UNSENT[:20], delay=15)
        await expect(thread_typing).to_be_visible(timeout=5_000)
        await expect(thread_typing).to_have_text(f"{CUSTOMER} is typing…")
        await expect(thread_typing).to_have_attribute("aria-live", "polite")
        assert (
            await console.locator("#thread > :last-child").get_attribute("id") == "typing"
        )  # below the last
        await expect(row).to_have_class(re.compile(r"\bis-typing\b"))
        await expect(row.locator(".item-typing")).to_have_text("typing…")
        await expect(row.locator(".item-preview")).to_be_hidden()
        await box.press_sequentially(UNSENT[20:], delay=15)  # still typing: the indicator stays
        await expect(thread_typing).to_be_visible()
        await console.screenshot(path=str(ARTIFACTS / "console-typing-desktop.png"))

        # in Russian too
        await console.select_option("#lang", "ru")
        await box.press_sequentially("?", delay=15)
        await expect(thread_typing).to_have_text(f"{CUSTOMER} печатает…")
        await expect(row.locator(".item-typing")).to_have_text("печатает…")
        await console.select_option("#lang", "en")
        await expect(thread_typing).to_have_text(f"{CUSTOMER} is typing…")

        # the visitor erases it all: the widget says it stopped, and the indicator goes at once
        mark = len(console_ws.received)
        await box.press("Control+a")
        await box.press("Backspace")
        await expect(box).to_have_value("")
        stopped = {"type": "typing", "dialog_id": dialog_id, "who": "customer", "active": False}
        await console_ws.wait_for(console_ws.received, mark, stopped, timeout=3)
        await expect(thread_typing).to_have_count(0)
        await expect(row).not_to_have_class(re.compile(r"\bis-typing\b"))
        await expect(row.locator(".item-preview")).to_have_text(FIRST)

        # nothing of what the visitor typed reached the console: the widget sent "typing" frames, never the text
        sent = widget_ws.typing(widget_ws.sent)
        assert sent and all(set(f) == {"type", "active"} for f in sent), sent
        assert {"type": "typing", "active": True} in sent and sent[-1] == {"type": "typing", "active": False}
        for text in (UNSENT, UNSENT[:20], "Oslo"):
            assert not any(text in raw for raw in widget_ws.raw), text
            assert not any(text in raw for raw in console_ws.raw), text
            assert text not in await console.content(), text

        # an internal note is not typing to the customer
        reply = console.locator("#reply-text")
        await console.check("#reply-internal")
        await reply.press_sequentially("She asked about Oslo last week", delay=10)
        await asyncio.sleep(0.5)
        assert console_ws.typing(console_ws.sent) == []
        await reply.fill("")
        await console.uncheck("#reply-internal")

        # anna types an answer: the widget shows her name under the last message
        widget_typing = site.locator(WIDGET_TYPING)
        await expect(widget_typing).to_be_hidden()
        await reply.press_sequentially(ANSWER, delay=15)
        await expect(widget_typing).to_be_visible(timeout=5_000)
        await expect(widget_typing).to_have_text("Anna is typing…")
        await expect(widget_typing).to_have_attribute("aria-live", "polite")
        last = await site.evaluate(
            """() => {
              const root = document.querySelector('[data-openlines-line]').shadowRoot;
              const list = root.querySelector('[data-ol="messages"]');
              const shown = [...list.children].filter((n) => n.offsetParent !== null);
              return shown[shown.length - 1].getAttribute('data-ol');
            }"""
        )
        assert last == "typing"
        assert ANSWER not in await site.locator('[data-ol="messages"]').inner_text()
        assert console_ws.typing(console_ws.sent) == [
            {"type": "typing", "dialog_id": dialog_id, "active": True}
        ]
        await site.screenshot(path=str(ARTIFACTS / "widget-typing-390.png"))

        # she sends: the indicator goes and her message is there
        await reply.press("Enter")
        answer = site.locator(f'{MSG}[data-author="operator"]')
        await expect(answer).to_have_count(1, timeout=5_000)
        await expect(answer.locator('[data-ol="text"]')).to_have_text(ANSWER)
        await expect(widget_typing).to_be_hidden()
        assert console_ws.typing(console_ws.sent)[-1] == {
            "type": "typing",
            "dialog_id": dialog_id,
            "active": False,
        }

        # the visitor types a little and goes quiet: after 5 s without a key the widget says it stopped
        mark = len(console_ws.received)
        await box.press_sequentially("Thanks", delay=15)
        await expect(thread_typing).to_be_visible(timeout=5_000)
        await console_ws.wait_for(console_ws.received, mark, stopped, timeout=8)
        await expect(thread_typing).to_have_count(0)
        await expect(box).to_have_value("Thanks")  # still there to send
    assert not errors, errors
