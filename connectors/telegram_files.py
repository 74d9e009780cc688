"""Opening a customer's Telegram file for the console: a local Bot API server's file from its disk (only inside the
configured `local_files_root`) or the Bot API's download URL, each streamed with the length of what is really sent.

getFile's answer is not trusted: an absolute `file_path` would make us read any file of our machine (a hostile or
misconfigured Bot API server answering `/etc/passwd`), and its `file_size` is only what the server declares — a
Content-Length that differs from the body hangs or cuts the console's download.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
import stat
from collections.abc import AsyncIterator
from typing import Any, BinaryIO

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramBadRequest, TelegramNotFound

from connectors.base import AttachmentBody

FETCH_CHUNK = 64 * 1024
# a slow download goes on as long as bytes keep coming (a total limit would cut big files on slow links)
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30)
_PROC_FD = "/proc/self/fd"


class FileRefused(Exception):
    """getFile pointed at a local file we must not read; `reason` is a stable word for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FileUnavailable(Exception):
    """The file could not be opened (the Bot API unreachable, an error status, an unreadable file)."""


Opened = tuple[int | None, AsyncIterator[bytes]]  # the real length (None: unknown, sent chunked) and the body


def inside(root: str, real: str) -> bool:
    """Whether the resolved path `real` is `root` or below it (not merely starting with its name)."""
    return os.path.commonpath([root, real]) == root


async def open_local(root: str | None, path: str) -> Opened | None:
    """A local Bot API server's file: only with a root configured and inside it, symlinks and `..` resolved first;
    None when the file is gone."""
    if root is None:
        raise FileRefused("no_local_files_root")
    try:
        f, size = await asyncio.to_thread(_open_inside, root, path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileUnavailable(f"{type(exc).__name__}: {exc.strerror or exc}") from None
    return size, _read(f, size)


def _open_inside(root: str, path: str) -> tuple[BinaryIO, int]:
    real = os.path.realpath(path)
    if not inside(root, real):
        raise FileRefused("outside_local_files_root")
    # O_NOFOLLOW and O_NONBLOCK: a symlink swapped in after realpath is not followed, a FIFO does not block us
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        # a directory above swapped for a symlink after realpath would still lead out: ask the kernel which file
        # was opened (where /proc is there to say)
        with contextlib.suppress(OSError):
            if not inside(root, os.readlink(f"{_PROC_FD}/{fd}").removesuffix(" (deleted)")):
                raise FileRefused("outside_local_files_root")
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused("not_a_file")
        f = os.fdopen(fd, "rb", buffering=0)  # a file object: closed when collected if never read
    except BaseException:
        os.close(fd)
        raise
    return f, st.st_size


async def _read(f: BinaryIO, size: int) -> AsyncIterator[bytes]:
    try:
        left = size
        while left > 0:
            chunk = await asyncio.to_thread(f.read, min(FETCH_CHUNK, left))
            if not chunk:
                # the file shrank after its length was sent: fail, so the console's connection is cut, not left
                # waiting for bytes that never come
                raise FileUnavailable("the file got shorter while it was sent")
            left -= len(chunk)
            yield chunk
    finally:
        f.close()


async def open_download(session: aiohttp.ClientSession, url: str) -> Opened | None:
    """The Bot API's download of a file, with the length its response declares; None on 404 (the file expired)."""
    try:
        resp = await session.get(url, timeout=DOWNLOAD_TIMEOUT)
    except (aiohttp.ClientError, TimeoutError) as exc:
        # the URL carries the bot token: never put `exc` itself (which may quote it) into the reason
        raise FileUnavailable(type(exc).__name__) from None
    if resp.status != 200:
        resp.release()
        if resp.status == 404:
            return None
        raise FileUnavailable(f"HTTP {resp.status}")
    size = resp.content_length
    if resp.headers.get("Content-Encoding", "identity").lower() != "identity":
        size = None  # the body is decompressed on the way: its length is not the header's
    return size, _chunks(resp)


async def _chunks(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.content.iter_chunked(FETCH_CHUNK):
            yield chunk
    finally:
        resp.release()


async def fetch_file(
    bot: Bot, http: AiohttpSession, local_root: str | None, ref: str, log: Any
) -> AttachmentBody | None:
    """A customer's file by its file_id: getFile, then the file streamed with its real length — from the disk
    of a local Bot API server (inside `local_files_root` only) or from its download URL."""
    try:
        info = await bot.get_file(ref)
    except (TelegramBadRequest, TelegramNotFound):
        return None  # an unknown or expired file id
    if not info.file_path:
        return None
    # "" when the extension says nothing: the caller falls back to the mime stored with the message
    mime = mimetypes.guess_type(info.file_path)[0] or ""
    # never info.file_size: it is what the server declares, not what it sends. A local Bot API server in
    # --local mode hands out absolute paths on its disk
    try:
        if os.path.isabs(info.file_path):
            opened = await open_local(local_root, info.file_path)
        else:
            url = http.api.file_url(bot.token, info.file_path)
            opened = await open_download(await http.create_session(), url)
    except FileRefused as exc:
        path = info.file_path.replace(bot.token, "<token>")  # a local server's paths name the token
        log.warning("telegram.file.refused", reason=exc.reason, path=path)
        return None
    except FileUnavailable as exc:
        log.warning("telegram.file.failed", error=str(exc).replace(bot.token, "<token>"))
        return None
    return None if opened is None else AttachmentBody(mime, *opened)
