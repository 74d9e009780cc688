"""A line's public chat page, `GET /chat/LINE`: the widget on a page of its own, open and filling it (a phone's
whole screen), for customers without the company's site in between — a link in a signature, a QR code on a shop
counter. Branded from the line's widget block: title, greeting, colour, logo and a privacy-policy link.

The page is rendered here with every value escaped; the loader reads them from its tag (data-mode="page")."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

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


def page_language(query: str | None, accept: str | None) -> str:
    """The page's language: `?lang=` when it is one we have, else the browser's first one we have, else English."""
    if query in LANGUAGES:
        return query
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


class PageRoute:
    """`GET /chat/{line}`."""

    def __init__(self, lines: Callable[[str], tuple[WidgetSettings, LineGuards] | None]) -> None:
        self.lines = lines

    async def handle(self, request: web.Request) -> web.Response:
        """The line's chat page; a page saying there is none (404) for an unknown line or one without a page."""
        account = request.match_info["line"]
        lang = page_language(request.query.get("lang"), request.headers.get("Accept-Language"))
        line = self.lines(account)
        host = request.host
        headers = {
            "Content-Security-Policy": _POLICY.format(sockets=f"ws://{host} wss://{host}"),
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-cache",
        }
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
