"""One IMAP session with the support mailbox (aioimaplib): select, find new mail, fetch it, acknowledge it, wait."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

import aioimaplib

from connectors.email.settings import EmailSettings

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")
IDLE_REFRESH = 300.0  # seconds: re-issue IDLE well before servers (29 min) and NAT boxes drop a quiet link
FETCH_BATCH = 50  # mails fetched per round before receipts are acknowledged
T = TypeVar("T")


class ImapError(Exception):
    """The server refused a command or the connection is gone."""


class ImapSession:
    """A logged-in connection with the folder selected; every method raises ImapError when it breaks."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self.uidvalidity = 0
        self.uidnext = 1
        self.lost = asyncio.Event()
        self._imap: aioimaplib.IMAP4 | None = None

    async def open(self) -> None:
        """Connect (TLS, STARTTLS or plain), log in, create the move_to folder, select the folder."""
        s = self.settings.imap
        context = ssl.create_default_context() if (s.use_ssl or s.starttls) else None
        if s.use_ssl:
            imap = aioimaplib.IMAP4_SSL(host=s.host, port=s.real_port, timeout=s.timeout, ssl_context=context)
            imap.protocol.conn_lost_cb = self._on_lost
        else:
            imap = aioimaplib.IMAP4(
                host=s.host, port=s.real_port, timeout=s.timeout, conn_lost_cb=self._on_lost
            )
        self._imap = imap
        try:
            await imap.wait_hello_from_server()
        except (OSError, TimeoutError) as exc:
            raise ImapError(f"cannot connect to {s.host}:{s.real_port}: {exc or type(exc).__name__}") from exc
        if s.starttls:
            assert context is not None
            await self._starttls(context)
        response = await self._call(imap.login(self.settings.imap_user, s.password.get_secret_value()))
        if response.result != "OK":
            raise ImapError(f"login refused: {_text(response.lines)}")
        if s.move_to:
            await self._call(imap.create(_quote(s.move_to)))  # NO when it exists: fine
        response = await self._call(imap.select(_quote(s.folder)))
        if response.result != "OK":
            raise ImapError(f"cannot select {s.folder!r}: {_text(response.lines)}")
        for line in response.lines:
            if isinstance(line, bytes):
                if m := _UIDVALIDITY.search(line):
                    self.uidvalidity = int(m.group(1))
                if m := _UIDNEXT.search(line):
                    self.uidnext = int(m.group(1))

    async def _starttls(self, context: ssl.SSLContext) -> None:
        """RFC 2595 STARTTLS: aioimaplib has no helper, so upgrade its transport in place."""
        assert self._imap is not None
        protocol = self._imap.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError("the server does not offer STARTTLS")
        response = await self._call(
            protocol.execute(aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop))
        )
        if response.result != "OK":
            raise ImapError(f"STARTTLS refused: {_text(response.lines)}")
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(
            protocol.transport, protocol, context, server_hostname=self.settings.imap.host
        )
        protocol.transport = transport
        await self._call(protocol.capability())  # capabilities may change once encrypted

    @property
    def can_idle(self) -> bool:
        """The server offers IDLE (and the config allows it)."""
        return self.settings.imap.idle and self._imap is not None and self._imap.has_capability("IDLE")

    async def search(self, after_uid: int) -> list[int]:
        """UIDs to look at, ascending: every unseen mail, and every mail above `after_uid` however flagged
        (someone may have read it in a mail client before we fetched it)."""
        unseen = await self._search("UNSEEN")
        newer = [uid for uid in await self._search("UID", f"{after_uid + 1}:*") if uid > after_uid]
        return sorted(set(unseen) | set(newer))

    async def _search(self, *criteria: str) -> list[int]:
        imap = self._require()
        response = await self._call(imap.uid_search(*criteria, charset=None))
        if response.result != "OK":
            raise ImapError(f"search refused: {_text(response.lines)}")
        first = response.lines[0] if response.lines else b""
        return [int(x) for x in bytes(first).split() if x.isdigit()]

    async def fetch(self, uid: int) -> bytes | None:
        """The whole mail (without setting \\Seen); None when it is gone (expunged meanwhile)."""
        imap = self._require()
        response = await self._call(imap.uid("fetch", str(uid), "(BODY.PEEK[])"), bounded=False)
        if response.result != "OK":
            raise ImapError(f"fetch refused: {_text(response.lines)}")
        for line in response.lines:
            if isinstance(line, bytearray):
                return bytes(line)
        return None

    async def acknowledge(self, uids: Iterable[int]) -> None:
        """Mark committed mail \\Seen, and move it when the config says so."""
        imap = self._require()
        wanted = ",".join(str(u) for u in sorted(uids))
        if not wanted:
            return
        response = await self._call(imap.uid("store", wanted, "+FLAGS.SILENT", "(\\Seen)"))
        if response.result != "OK":
            raise ImapError(f"store refused: {_text(response.lines)}")
        folder = self.settings.imap.move_to
        if not folder:
            return
        if imap.has_capability("MOVE"):
            response = await self._call(imap.uid("move", wanted, _quote(folder)))
        else:  # RFC 3501 without MOVE: copy, flag deleted, expunge those (UIDPLUS) or all deleted
            response = await self._call(imap.uid("copy", wanted, _quote(folder)))
            if response.result == "OK":
                await self._call(imap.uid("store", wanted, "+FLAGS.SILENT", "(\\Deleted)"))
                if imap.has_capability("UIDPLUS"):
                    response = await self._call(imap.uid("expunge", wanted))
                else:
                    response = await self._call(imap.expunge())
        if response.result != "OK":
            raise ImapError(f"move to {folder!r} refused: {_text(response.lines)}")

    async def wait(self, poll_interval: float, wake: asyncio.Event) -> None:
        """Until new mail may be there: IDLE when offered (else sleep `poll_interval`), or until `wake` is set."""
        if wake.is_set():
            return
        waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(self.lost.wait())]
        imap = self._require()
        idle: asyncio.Future[Any] | None = None
        if self.can_idle:
            idle = await self._call(imap.idle_start(timeout=IDLE_REFRESH))
            waiters.append(asyncio.ensure_future(imap.wait_server_push(timeout=IDLE_REFRESH)))
        try:
            await asyncio.wait(
                waiters, timeout=IDLE_REFRESH if idle else poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for w in waiters:
                w.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
            if idle is not None and self.lost.is_set():
                idle.cancel()  # it can never complete on a dead link
            elif idle is not None:
                imap.idle_done()
                await self._call(idle)
        if self.lost.is_set():
            raise ImapError("the connection was lost")

    async def close(self) -> None:
        """Log out (best effort)."""
        imap, self._imap = self._imap, None
        if imap is None:
            return
        with contextlib.suppress(Exception):
            if not self.lost.is_set():
                await asyncio.wait_for(imap.logout(), 2)
        with contextlib.suppress(Exception):
            if imap.protocol.transport is not None:
                imap.protocol.transport.close()

    def _on_lost(self, exc: Exception | None) -> None:
        self.lost.set()

    def _require(self) -> aioimaplib.IMAP4:
        if self._imap is None or self.lost.is_set():
            raise ImapError("the connection was lost")
        return self._imap

    async def _call(self, awaitable: Awaitable[T], *, bounded: bool = True) -> T:
        """Await an aioimaplib call within the timeout (a fetch is bounded by silence instead), turning its
        errors and a dropped link into ImapError. A link dropped while the call waits ends it at once: aioimaplib
        leaves a command pending on a closed connection (an IDLE sent as the server died waited for its
        continuation until the timeout, the channel saying "up" all the while)."""
        call = asyncio.ensure_future(awaitable)
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            done, _ = await asyncio.wait(
                {call, lost},
                timeout=self.settings.imap.timeout if bounded else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if call in done:
                return call.result()
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
            if lost in done:
                raise ImapError("the connection was lost")
            raise TimeoutError()
        except ImapError:
            raise
        except (aioimaplib.AioImapException, OSError, TimeoutError, ValueError) as exc:
            raise ImapError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            lost.cancel()
            if not call.done():  # our own cancellation: the call goes with it, as under wait_for
                call.cancel()


def _quote(folder: str) -> str:
    """A folder name as an IMAP quoted string, non-ASCII names in modified UTF-7 (RFC 3501 5.1.3)."""
    return '"' + utf7_folder(folder).replace("\\", "\\\\").replace('"', '\\"') + '"'


def utf7_folder(name: str) -> str:
    """`Обработанные` → `&BB4EMQRABDAEMQQ+BEIEMAQ9BD0ESwQ1-`: IMAP's modified UTF-7 for mailbox names."""
    out: list[str] = []
    wide: list[str] = []

    def flush() -> None:
        if wide:
            packed = base64.b64encode("".join(wide).encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + packed.replace("/", ",") + "-")
            wide.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            wide.append(ch)
    flush()
    return "".join(out)


def _text(lines: list[bytes | bytearray]) -> str:
    return " ".join(bytes(x).decode("utf-8", "replace") for x in lines if isinstance(x, bytes))[:300]
