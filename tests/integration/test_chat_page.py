"""A line's public chat page /chat/LINE (issue 19): its HTML with the line's branding, every value escaped; a page
saying there is none for an unknown line or one that turned its page off; the branding reaching the widget in
hello; admins (only) get each page's address and QR code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.widget_settings import WidgetSettings
from tests.conftest import config, line, settings_from

BRANDED = {
    "type": "widget",
    "title": 'Acme <script>alert("x")</script>',
    "color": "#e4572e",
    "position": "left",
    "logo_url": "https://cdn.acme.example/logo.png",
    "privacy_url": "https://acme.example/privacy?lang=en&v=2",
}


def lines() -> list[dict[str, Any]]:
    return [
        {**line("support", ["anna"]), "channels": [BRANDED]},
        {**line("quiet", ["anna"]), "channels": [{"type": "widget", "page": False}]},
        {**line("phone", ["anna"]), "channels": []},
    ]


async def test_the_page_is_the_lines_own_and_escaped(tmp_path: Path, start_daemon: Any) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines())))
    async with d.session.get(f"{d.base}/chat/support", headers={"Accept-Language": "ru-RU,ru;q=0.9"}) as r:
        assert r.status == 200 and r.content_type == "text/html"
        html = await r.text()
        policy = r.headers["Content-Security-Policy"]
    assert '<html lang="ru">' in html
    assert 'data-line="support"' in html and 'data-mode="page"' in html and 'data-color="#e4572e"' in html
    assert 'data-logo="https://cdn.acme.example/logo.png"' in html
    assert 'data-privacy="https://acme.example/privacy?lang=en&amp;v=2"' in html
    assert "<script>alert" not in html  # the title is text on the page, never markup
    assert "<title>Acme &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</title>" in html
    assert (
        "script-src 'self'" in policy
        and "img-src 'self' https:" in policy
        and "frame-ancestors 'none'" in policy
    )
    async with d.session.get(f"{d.base}/chat/support?lang=en") as r:
        assert '<html lang="en">' in await r.text()

    for missing in ("quiet", "phone", "nowhere"):
        async with d.session.get(f"{d.base}/chat/{missing}?lang=en") as r:
            assert r.status == 404, missing
            assert "Chat not found" in await r.text()

    v = await d.visitor("support")  # the widget hears the branding too (a site's own tag may override it)
    assert (v.hello["color"], v.hello["position"]) == ("#e4572e", "left")


async def test_the_widget_reads_its_lines_settings_before_it_draws(tmp_path: Path, start_daemon: Any) -> None:
    russian = {
        **line("ru", ["anna"]),
        "channels": [{**BRANDED, "language": "ru", "allowed_origins": ["https://shop.example"]}],
    }
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [*lines(), russian])))
    async with d.session.get(f"{d.base}/widget/settings?line=support") as r:
        got = await r.json()
        assert r.status == 200 and r.headers["Cache-Control"] == "public, max-age=60"
    assert got == {
        "language": "auto",
        "title": BRANDED["title"],
        "color": "#e4572e",
        "position": "left",
        "show": {"pages": [], "hide": [], "delay_seconds": 0},
    }
    shop = {"Origin": "https://shop.example"}
    async with d.session.get(f"{d.base}/widget/settings?line=ru", headers=shop) as r:
        assert (await r.json())["language"] == "ru" and r.headers[
            "Access-Control-Allow-Origin"
        ] == "https://shop.example"
    async with d.session.get(
        f"{d.base}/widget/settings?line=ru", headers={"Origin": "https://evil.example"}
    ) as r:
        assert r.status == 403 and (await r.json())["code"] == "origin_not_allowed"
    async with d.session.get(f"{d.base}/widget/settings?line=nowhere") as r:
        assert r.status == 404 and (await r.json())["code"] == "unknown_line"
    # the line's language is its chat page's unless the link asks another
    async with d.session.get(f"{d.base}/chat/ru", headers={"Accept-Language": "en-US"}) as r:
        assert '<html lang="ru">' in await r.text()
    async with d.session.get(f"{d.base}/chat/ru?lang=en") as r:
        assert '<html lang="en">' in await r.text()


async def test_admins_get_every_pages_address_and_qr_code(tmp_path: Path, start_daemon: Any) -> None:
    data = config(tmp_path, lines())
    data["http"]["public_url"] = "https://chat.acme.example"
    d = await start_daemon(settings_from(tmp_path, data))
    admin = await d.operator("admin")
    got = await admin.get("/api/admin/chat-pages")
    [page] = got["pages"]  # "quiet" turned its page off; "phone" has no widget
    assert (page["line"], page["name"], page["url"]) == (
        "support",
        "Support",
        "https://chat.acme.example/chat/support",
    )
    assert page["qr_svg"].startswith('<svg xmlns="http://www.w3.org/2000/svg"') and "<path" in page["qr_svg"]

    anna = await d.operator("anna")
    async with d.session.get(f"{d.base}/api/admin/chat-pages", headers=anna.headers) as r:
        assert r.status == 403 and (await r.json())["code"] == "forbidden"
    async with d.session.get(f"{d.base}/api/admin/chat-pages") as r:
        assert r.status == 401


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("color", "red", "not a colour"),
        ("color", "#12345", "not a colour"),
        ("logo_url", "http://acme.example/logo.png", "https://host/path"),
        ("logo_url", "javascript:alert(1)", "https://host/path"),
        ("privacy_url", "/privacy", "https://host/path"),
        ("position", "top", "Input should be"),
    ],
)
def test_branding_that_cannot_work_is_refused(field: str, value: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        WidgetSettings.model_validate({"type": "widget", field: value})
