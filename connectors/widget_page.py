"""A line's public chat page, `GET /chat/LINE`: the widget on a page of its own, open and filling it (a phone's
whole screen), for customers without the company's site in between — a link in a signature, a QR code on a shop
counter. Branded from the line's widget block: title, greeting, colour, logo and a privacy-policy link.

The page is rendered here with every value escaped; the loader reads them from its tag (data-mode="page")."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

import orjson
from aiohttp import web

from connectors.widget_settings import LineGuards, WidgetSettings

CHAT_PAGES = "/chat/"
LANGUAGES = ("en", "ru")  # widget/site/strings.LANG.js
# the page loads only our loader and its strings, talks only to us, shows the line's logo (any https address)
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data: blob:; "
    "connect-src 'self' {sockets}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
_MISSING = {
    "en": ("Chat not found", "There is no chat here. Please check the link, or reach us another way."),
    "ru": ("Чат не найден", "Здесь нет чата. Проверьте ссылку или свяжитесь с нами другим способом."),
}


def page_headers(host: str) -> dict[str, str]:
    """The headers of a page of ours that hosts the widget or a web form (the chat page, /forms/ID)."""
    return {
        "Content-Security-Policy": _POLICY.format(sockets=f"ws://{host} wss://{host}"),
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }


def page_language(query: str | None, accept: str | None, line: str = "auto") -> str:
    """The page's language: `?lang=` when it is one we have, else the line's (unless `auto`), else the browser's
    first one we have, else English."""
    if query in LANGUAGES:
        return query
    if line in LANGUAGES:
        return line
    for part in (accept or "").split(","):
        code = part.split(";", 1)[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"


def chat_page(account: str, settings: WidgetSettings, lang: str) -> str:
    """The page's HTML: the loader in page mode, with the line's branding."""
    attrs = {
        "data-line": account,
        "data-mode": "page",
        "data-lang": lang,
        "data-title": settings.title,
        "data-color": settings.color,
        "data-logo": settings.logo_url,
        "data-privacy": settings.privacy_url,
    }
    tags = " ".join(f'{k}="{escape(v)}"' for k, v in attrs.items() if v)
    title = escape(settings.title or account)
    return (
        f'<!doctype html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">\n'
        f"<title>{title}</title>\n"
        '<link rel="stylesheet" href="/widget/page.css">\n</head>\n<body>\n'
        f'<script src="/widget/loader.js" {tags} async></script>\n'
        f"<noscript><p>{escape(_NOSCRIPT[lang])}</p></noscript>\n</body>\n</html>\n"
    )


_NOSCRIPT = {
    "en": "The chat needs JavaScript. Please turn it on, or reach us another way.",
    "ru": "Для чата нужен JavaScript. Включите его или свяжитесь с нами другим способом.",
}


class SettingsRoute:
    """`GET /widget/settings?line=LINE`: what the loader needs before it draws anything (the line's language, title,
    colour, corner and when to show), so nothing flashes in the page's defaults first."""

    def __init__(self, lines: Callable[[str], tuple[WidgetSettings, LineGuards] | None]) -> None:
        self.lines = lines

    async def handle(self, request: web.Request) -> web.Response:
        """The line's settings for its widget (cached a minute by the browser), or a JSON error."""
        account = request.query.get("line", "")
        line = self.lines(account)
        origin = request.headers.get("Origin")
        if line is not None and origin is not None and not line[1].origins.allows(origin):
            return _json(
                403, {"code": "origin_not_allowed", "message": "this site may not open the chat of this line"}
            )
        cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}
        if line is None:
            return _json(
                404,
                {"code": "unknown_line", "message": f"there is no chat line {account[:100]!r} here"},
                cors,
            )
        s = line[0]
        body: dict[str, object] = {
            "language": s.language,
            "title": s.title,
            "color": s.color,
            "position": s.position,
            "show": s.show.model_dump(mode="json"),
        }
        return _json(200, body, {**cors, "Cache-Control": "public, max-age=60"})


def _json(status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers or {}
    )


class PageRoute:
    """`GET /chat/{line}`."""

    def __init__(self, lines: Callable[[str], tuple[WidgetSettings, LineGuards] | None]) -> None:
        self.lines = lines

    async def handle(self, request: web.Request) -> web.Response:
        """The line's chat page; a page saying there is none (404) for an unknown line or one without a page."""
        account = request.match_info["line"]
        line = self.lines(account)
        lang = page_language(
            request.query.get("lang"),
            request.headers.get("Accept-Language"),
            line[0].language if line is not None else "auto",
        )
        headers = page_headers(request.host)
        if line is None or not line[0].page:
            head, text = _MISSING[lang]
            body = (
                f'<!doctype html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
                '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                f'<title>{head}</title>\n<link rel="stylesheet" href="/widget/page.css">\n</head>\n'
                f'<body class="missing">\n<main><h1>{head}</h1><p>{text}</p></main>\n</body>\n</html>\n'
            )
            return web.Response(status=404, text=body, content_type="text/html", headers=headers)
        return web.Response(text=chat_page(account, line[0], lang), content_type="text/html", headers=headers)
