"""Attachment bodies for the console: where they come from, and headers that keep them from being rendered as
pages of ours."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from aiohttp import web


class FileStore(Protocol):
    async def put(self, data: bytes, *, name: str, mime: str) -> str:
        """Store a file; its key."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether a key is stored."""
        ...


@dataclass
class Files:
    """Where attachment bodies come from: our store (operators' uploads) or the channel, lazily."""

    store: FileStore
    open: Callable[[str, str, dict[str, Any]], Awaitable[tuple[str, int | None, AsyncIterator[bytes]] | None]]


_INLINE_SAFE = ("image/png", "image/jpeg", "image/gif", "image/webp")


def download_headers(name: str, mime: str) -> dict[str, str]:
    # a customer's file is never rendered as a page of ours: only plain images open inline, all else downloads
    disposition = "inline" if mime in _INLINE_SAFE else "attachment"
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return {
        "Content-Type": mime if mime in _INLINE_SAFE else "application/octet-stream",
        "Content-Disposition": f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=300",
    }


async def send_file(
    request: web.Request, name: str, body: tuple[str, int | None, AsyncIterator[bytes]]
) -> web.StreamResponse:
    """Stream a file body (mime, size, chunks) as a download of that name (`download_headers`)."""
    mime, size, chunks = body
    resp = web.StreamResponse(headers=download_headers(name, mime))
    if size is not None:
        resp.content_length = size
    await resp.prepare(request)
    async for chunk in chunks:
        await resp.write(chunk)
    await resp.write_eof()
    return resp
