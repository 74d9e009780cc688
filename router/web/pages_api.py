"""The lines' public chat pages for admins (`GET /api/admin/chat-pages`): each page's address and its QR code, to
share as a link or print on a shop counter (the page itself is the widget's, connectors/widget_page.py)."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

import segno
from aiohttp import web

from router.app.blocks import channel_blocks
from router.app.settings import Settings
from router.web.gate import Gate
from router.web.http import ApiError, json_response

CHAT_PAGES = "/chat/"


def chat_pages(settings: Settings) -> list[tuple[str, str, str]]:
    """(line id, line name, page path) of every line whose widget has a public page."""
    return [
        (ln.id, ln.name, CHAT_PAGES + quote(account, safe=""))
        for ln, account, block in channel_blocks(settings, "widget")
        if block.get("page", True) is not False
    ]


def qr_svg(url: str) -> str:
    """A QR code of the address as a standalone SVG (medium error correction: it still reads when a bit is
    scuffed or covered)."""
    out = io.BytesIO()
    segno.make(url, error="m").save(
        out, kind="svg", scale=8, border=2, xmldecl=False, svgclass=None, lineclass=None
    )
    return out.getvalue().decode()


class ChatPageRoutes:
    """GET /api/admin/chat-pages."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.pages = chat_pages(gate.settings)
        self._codes: dict[str, str] = {}  # the codes by address: the same for every admin, made once

    def register(self, app: web.Application) -> None:
        """Mount the route."""
        app.router.add_get("/api/admin/chat-pages", self.list)

    async def list(self, request: web.Request) -> web.Response:
        """Every public chat page: its line, its address (the configured public URL's, else this request's
        origin) and its QR code as SVG."""
        v = self.gate.viewer(await self.gate.operator(request))
        if not v.admin:
            raise ApiError(403, "forbidden", "only an admin can see the lines' chat pages")
        base = (self.gate.settings.http.public_url or f"{request.scheme}://{request.host}").rstrip("/")
        pages: list[dict[str, Any]] = []
        for line_id, name, path in self.pages:
            url = base + path
            if url not in self._codes:
                self._codes[url] = qr_svg(url)
            pages.append({"line": line_id, "name": name, "url": url, "qr_svg": self._codes[url]})
        return json_response({"pages": pages})
