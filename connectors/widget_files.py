"""An operator's files in the widget: the `message` frame a visitor gets (each file with a link of its own), and
`GET /widget/files/{link}`, which serves a file only to the visitor the link was made for.

A link alone opens nothing: the request must also carry that visitor's token (`Authorization: Bearer TOKEN`), so a
link copied out of a page, a log or a proxy is useless to anyone else. The widget fetches the file with the token
and shows it from memory (an image preview, a download). The link names the visitor, the message and the file
number, and expires after a day; the message must still be a public one of that visitor's dialogs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import orjson
import structlog
from aiohttp import web

from connectors.base import ConnectorContext, HistoryFile, HistoryMessage
from connectors.widget_settings import LineGuards, WidgetSettings
from connectors.widget_tokens import file_link, link_target, visitor_of
from queues.messages import Attachment

log = structlog.get_logger("connectors.widget")
# only plain images are shown inline; everything else is a download and is never rendered as a page of ours
INLINE_SAFE = ("image/png", "image/jpeg", "image/gif", "image/webp")


def message_frame(ctx: ConnectorContext, account: str, visitor: str, m: HistoryMessage) -> dict[str, Any]:
    """A stored message as the `message` frame this visitor gets (their own carry the client_msg_id they chose)."""
    frame = {
        "type": "message",
        "id": m.id,
        "dialog_id": m.dialog_id,
        "author": {"kind": m.author_kind, "name": m.author_name},
        "text": m.text,
        "ts": m.ts,
        "attachments": file_views(ctx, account, visitor, m.id, m.files),
    }
    if m.author_kind == "customer" and m.external_id:
        frame["client_msg_id"] = m.external_id.partition(":")[2]
    if m.ask_rating:
        frame["ask_rating"] = {"scale": m.ask_rating, "comment": m.ask_comment, "rating": m.rating}
    return frame


def file_views(
    ctx: ConnectorContext,
    account: str,
    visitor: str,
    message_id: str,
    files: Sequence[HistoryFile | Attachment],
) -> list[dict[str, Any]]:
    """What the visitor is told of a message's files: name, type, size and their own link to each (files the
    widget cannot serve, those not in our attachment store, are left out)."""
    return [
        {
            "name": f.name,
            "mime": f.mime,
            "size": f.size,
            "url": file_link(ctx.signer, account, visitor, message_id, n),
        }
        for n, f in enumerate(files)
        if f.ref and (not isinstance(f, HistoryFile) or f.stored)
    ]


class FileRoute:
    """`GET` (and the browsers' CORS preflight `OPTIONS`) of `/widget/files/{link}`."""

    def __init__(
        self,
        ctx: ConnectorContext,
        channel: str,
        lines: Callable[[str], tuple[WidgetSettings, LineGuards] | None],
    ) -> None:
        self.ctx, self.channel, self.lines = ctx, channel, lines

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve a file to the visitor its link was made for, with their token; 403 or 404 to anyone else."""
        target = link_target(self.ctx.signer, request.match_info["link"])
        line = self.lines(target[0]) if target else None
        if target is None or line is None:
            return _refuse(403, "forbidden", "this file link is not valid, or it has expired", {})
        account, visitor, message_id, n = target
        settings, guards = line
        origin = request.headers.get("Origin")
        if origin is not None and not guards.origins.allows(origin):
            return _refuse(403, "origin_not_allowed", "this site may not open files of this line", {})
        cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin, Authorization"} if origin else {}
        if request.method == "OPTIONS":
            return web.Response(
                status=204,
                headers={
                    **cors,
                    "Access-Control-Allow-Methods": "GET",
                    "Access-Control-Allow-Headers": "Authorization",
                    "Access-Control-Max-Age": "600",
                },
            )
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        who = visitor_of(self.ctx.signer, token.strip(), account, settings.token_ttl_days)
        if scheme.lower() != "bearer" or who is None or who != visitor:
            return _refuse(403, "forbidden", "this file is not yours", cors)
        m = await self.ctx.history.message(self.channel, account, visitor, message_id)
        f = m.files[n] if m is not None and n < len(m.files) else None
        data = await self.ctx.attachments.get(f.ref) if f is not None and f.stored and f.ref else None
        if f is None or data is None:
            return _refuse(404, "not_found", "no such file", cors)
        return web.Response(body=data, headers={**cors, **download_headers(f.name, f.mime)})


def download_headers(name: str, mime: str) -> dict[str, str]:
    """Headers that keep a file from being rendered as a page of ours: only plain images open inline."""
    inline = mime in INLINE_SAFE
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return {
        "Content-Type": mime if inline else "application/octet-stream",
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",  # bound to a token sent in a header: no shared cache keeps it
    }


def _refuse(status: int, code: str, message: str, cors: dict[str, str]) -> web.Response:
    log.info("widget.file.refused", code=code, status=status)
    body = orjson.dumps({"code": code, "message": message})
    return web.Response(status=status, body=body, content_type="application/json", headers=cors)
