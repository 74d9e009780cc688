"""One VK community bound to a line: its long poll (connectors.vk_longpoll) or Callback API handler, the senders'
names, sending with stable random_ids, and the customers' files streamed from VK on demand.

vk-api is synchronous: every call runs on this community's worker threads, never on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import aiohttp
import structlog
from aiohttp import web

import connectors.vk_rating as vk_rating
from connectors.base import AttachmentBody, Binding, ConnectorContext
from connectors.vk_client import VkCallError, VkClient
from connectors.vk_events import (
    Skipped,
    attachment_url,
    authors,
    classify,
    event_type,
    message_of,
    profile,
    random_id,
    split_text,
    translate,
)
from connectors.vk_longpoll import LongPoll
from connectors.vk_presses import Presses
from queues.messages import (
    CustomerConsent,
    CustomerRating,
    InboundMessage,
    OutboundMessage,
    Receipt,
    SenderProfile,
    SendResult,
)

log = structlog.get_logger("connectors.vk")
T = TypeVar("T")
RECEIPT_TIMEOUT = (
    10.0  # how long a callback answer waits for the router's commit (then 500: VK sends it again)
)
NAMES_CACHED = 10_000  # users.get answers kept per community
# file URLs of recent inbound messages, so the console's first download needs no API call
URLS_CACHED = 10_000
FETCH_CHUNK = 64 * 1024
# what VK takes as a photo; anything else goes as a document
PHOTO_TYPES = ("image/jpeg", "image/png", "image/gif")
CLIENTS_CACHED = 10_000  # the client_info (keyboard abilities, language) of customers' last messages
KEYBOARD_REFUSED = (911, 912)  # the keyboard's format, or the community's bot abilities are off


class VkCommunity:
    """One community (`group_id`) serving one line."""

    def __init__(self, binding: Binding, ctx: ConnectorContext) -> None:
        self.binding = binding
        self.settings = binding.settings
        self.account = binding.account
        self.ctx = ctx
        s = self.settings
        self.client = VkClient(s.token.get_secret_value(), s.group_id, s.api_base, s.requests_per_second)
        # calls are spaced under vk-api's lock anyway: two threads (one calling, one waiting) are enough
        self._calls = ThreadPoolExecutor(2, thread_name_prefix=f"vk-{s.group_id}")
        self._names: OrderedDict[int, SenderProfile] = OrderedDict()
        self._urls: OrderedDict[str, str] = OrderedDict()
        self._clients: OrderedDict[int, dict[str, Any]] = OrderedDict()  # peer -> client_info
        self._waiters: dict[str, list[asyncio.Future[Receipt]]] = {}  # callback answers waiting
        self.longpoll: LongPoll | None = None
        self._http: aiohttp.ClientSession | None = None
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._log = log.bind(line=binding.line_id, account=binding.account, group_id=s.group_id)
        self.presses = Presses(self.client, self.account, self._run, self._log)

    @property
    def checkpoint_key(self) -> str:
        """The checkpoint of this community's long-poll position (per group: a new group_id starts afresh)."""
        return f"ts:{self.settings.group_id}"

    def open_files(self) -> None:
        """Only fetch files (no long poll): the HTTP session downloads use."""
        if self._http is None:
            self._http = aiohttp.ClientSession(
                trust_env=True, timeout=aiohttp.ClientTimeout(total=None, sock_read=30)
            )

    async def start(self) -> None:
        """Start the long-poll loop (callback mode: the connector mounts the route)."""
        self.open_files()
        if self.settings.mode == "longpoll":
            self.ctx.health.set(self.account, "starting")
            self.longpoll = LongPoll(
                self.client,
                self.ctx,
                account=self.account,
                line_id=self.binding.line_id,
                checkpoint_key=self.checkpoint_key,
                wait=self.settings.longpoll_wait,
                translate=self._translate,
                run=self._run,
                log=self._log,
            )
            self.longpoll.start()
        else:
            self.ctx.health.set(self.account, "up")

    async def stop(self) -> None:
        """Stop the loop (a long poll in flight is abandoned: its events were not committed, so VK sends them
        again), fail the waiting callback answers (VK retries those), close the connections."""
        if self.longpoll is not None:
            await self.longpoll.stop()
        for futures in self._waiters.values():
            for f in futures:
                if not f.done():
                    f.cancel()
        self.presses.stop()
        self._calls.shutdown(wait=False, cancel_futures=True)
        await asyncio.get_running_loop().run_in_executor(None, self.client.close)
        if self._http is not None:
            await self._http.close()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._calls, fn, *args)

    async def on_receipt(self, receipt: Receipt) -> None:
        """The router committed an event of this community."""
        if receipt.error:
            self._log.warning("vk.event.not_stored", error=receipt.error)
        for future in self._waiters.get(receipt.external_id, []):
            if not future.done():
                future.set_result(receipt)
        if self.longpoll is not None:
            self.longpoll.committed(receipt.external_id)

    async def _translate(self, updates: list[dict[str, Any]]) -> list[InboundMessage | CustomerConsent]:
        """The inbound events of a batch, with the senders' names from users.get (one call for the batch)."""
        wanted = {uid for raw in updates for uid in authors(raw)} - set(self._names)
        if wanted:
            await self._load_names(sorted(wanted))
        names = {uid: self._names[uid] for raw in updates for uid in authors(raw) if uid in self._names}
        out: list[InboundMessage | CustomerConsent] = []
        ratings: list[CustomerRating] = []
        presses: list[tuple[dict[str, Any], object]] = []
        now = self.clock()
        for raw in updates:
            self._learn_client(raw)
            if event_type(raw) == "message_new" and (said := self.presses.take_comment(message_of(raw), now)):
                ratings.append(said)  # the comment a prompt asked for: never also a customer message
                continue
            result = translate(raw, self.account, names, now)
            if event_type(raw) == "message_event":  # a pressed callback button waits for its answer
                obj = raw.get("object")
                if isinstance(obj, dict):
                    presses.append((obj, result))
            if isinstance(result, Skipped):
                self._log.debug(f"vk.event.{result.reason}", **result.fields)
                if result.reason == "add_comment" and event_type(raw) == "message_new":  # as a text button
                    presses.append(({**message_of(raw), "conversation_message_id": None}, result))
                continue
            if isinstance(result, CustomerRating):
                ratings.append(result)
                continue
            if isinstance(result, InboundMessage):
                for a in result.attachments:
                    if a.ref and a.url:
                        self._remember(self._urls, a.ref, a.url, URLS_CACHED)
            out.append(result)
        if ratings:
            # a rating is done once on the bus (a later one of the dialog replaces it; a redelivery changes
            # nothing), so the ts need not wait for its receipt; the bus refusing it fails the whole batch
            await self.ctx.sink.publish(ratings)
        for obj, pressed in presses:
            lang = self._clients.get(obj.get("peer_id", 0), {}).get("lang_id")
            self.presses.answer_soon(obj, pressed, lang)
        return out

    def _learn_client(self, raw: dict[str, Any]) -> None:
        """Remember what a customer's VK client can show (keyboards, callback buttons) and its language."""
        obj = raw.get("object")
        if event_type(raw) != "message_new" or not isinstance(obj, dict):
            return
        info, peer = obj.get("client_info"), message_of(raw).get("peer_id")
        if isinstance(info, dict) and isinstance(peer, int):
            self._remember(self._clients, peer, info, CLIENTS_CACHED)

    async def _load_names(self, ids: list[int]) -> None:
        for i in range(0, len(ids), 1000):
            chunk = ids[i : i + 1000]
            try:
                found = await self._run(self.client.users, chunk)
            except VkCallError as exc:
                # the message matters more than the name: it is stored with a placeholder name
                self._log.warning("vk.users.failed", error=str(exc)[:300], count=len(chunk))
                continue
            for uid in chunk:
                self._remember(self._names, uid, profile(found.get(uid), uid), NAMES_CACHED)

    @staticmethod
    def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any, limit: int) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > limit:
            cache.popitem(last=False)

    # ---- Callback API -----------------------------------------------------------------------------

    async def callback(self, raw: dict[str, Any]) -> web.Response:
        """One Callback API request whose group_id is ours: confirmed, checked, stored, then answered `ok`."""
        s = self.settings
        given = raw.get("secret")
        expected = s.secret.get_secret_value() if s.secret else ""
        kind = event_type(raw)
        if kind == "confirmation" and given is None:
            return web.Response(text=s.confirmation or "")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected.encode()):
            self._log.warning(
                "vk.callback.refused", reason="missing_secret" if given is None else "wrong_secret"
            )
            return web.Response(status=403, text="forbidden")
        if kind == "confirmation":
            return web.Response(text=s.confirmation or "")
        try:
            events = await self._translate([raw])
        except Exception:  # the bus refused a rating: VK sends the event again
            self._log.exception("vk.publish.failed", count=1)
            return web.Response(status=500, text="not stored yet")
        if not events:
            return web.Response(text="ok")
        event = events[0]
        if isinstance(event, CustomerConsent):
            await cast(Any, self.ctx.sink).publish([event])
            return web.Response(text="ok")
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(event.external_id, []).append(future)
        try:
            await self.ctx.sink.publish([event])
            await asyncio.wait_for(future, RECEIPT_TIMEOUT)
        except (TimeoutError, asyncio.CancelledError):
            # VK sends the event again; the router stores it once
            self._log.warning("vk.callback.timeout", external_id=event.external_id)
            return web.Response(status=500, text="not stored yet")
        finally:
            waiting = self._waiters.get(event.external_id, [])
            if future in waiting:
                waiting.remove(future)
            if not waiting:
                self._waiters.pop(event.external_id, None)
        return web.Response(text="ok")

    # ---- outbound ---------------------------------------------------------------------------------

    async def send(self, msg: OutboundMessage) -> SendResult:
        """Upload the files, then messages.send each part of the text with its own stable random_id."""
        try:
            peer = int(msg.chat_id)
        except ValueError:
            return SendResult(ok=False, error=f"not a VK peer id: {msg.chat_id!r}", retryable=False)
        try:
            files = [await self._upload(peer, a.ref or "", a.name, a.mime) for a in msg.attachments]
            parts: list[str] = split_text(msg.text) or [""]
            ids = []
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                attach = ",".join(files) if last and files else None
                if not part and not attach:
                    continue
                asks = last and msg.ask_rating
                board = vk_rating.question_keyboard(msg, self._clients.get(peer)) if asks else None
                ids.append(await self._send_part(peer, part, random_id(msg.message_id, i), attach, board))
        except VkCallError as exc:
            retryable, reason = classify(exc.code, exc.message)
            self._log.warning("vk.send.failed", code=exc.code, retryable=retryable)
            return SendResult(ok=False, error=reason, retryable=retryable)
        except _MissingFile as exc:
            return SendResult(ok=False, error=str(exc), retryable=False)
        if not ids:
            return SendResult(ok=False, error="nothing to send: no text and no files", retryable=False)
        return SendResult(ok=True, external_id=",".join(map(str, ids)))

    async def _send_part(self, peer: int, text: str, rid: int, attach: str | None, board: str | None) -> int:
        """One messages.send; a keyboard VK refuses (the community's bot abilities off) is dropped, not fatal."""
        try:
            return await self._run(self.client.send, peer, text, rid, attach, board)
        except VkCallError as exc:
            if board is None or exc.code not in KEYBOARD_REFUSED:
                raise
            self._log.warning("vk.keyboard.refused", code=exc.code, error=exc.message[:200])
            return await self._run(self.client.send, peer, text, rid, attach, None)

    async def typing(self, chat_id: str) -> None:
        """messages.setActivity "typing" in the customer's conversation."""
        with contextlib.suppress(ValueError):
            await self._run(self.client.typing, int(chat_id))

    async def _upload(self, peer: int, ref: str, name: str, mime: str) -> str:
        data = await self.ctx.attachments.get(ref)
        if data is None:
            raise _MissingFile(f"the file {name!r} is no longer stored")
        if mime in PHOTO_TYPES:
            return await self._run(self.client.upload_photo, peer, data, name)
        return await self._run(self.client.upload_doc, peer, data, name)

    # ---- files ------------------------------------------------------------------------------------

    async def fetch(self, ref: str) -> AttachmentBody | None:
        """A customer's file by its ref (`peer:cmid:index`): from its URL, asking VK for a fresh one if needed."""
        url = self._urls.get(ref)
        if url is not None:
            body = await self._open(url)
            if body is not None:
                return body
        url = await self._fresh_url(ref)
        return await self._open(url) if url else None

    async def _fresh_url(self, ref: str) -> str | None:
        try:
            peer, cmid, index = (int(p) for p in ref.split(":"))
        except ValueError:
            return None
        try:
            message = await self._run(self.client.message, peer, cmid)
        except VkCallError as exc:
            self._log.warning("vk.fetch.failed", error=str(exc)[:300])
            return None
        url = attachment_url(message, index) if message else None
        if url:
            self._remember(self._urls, ref, url, URLS_CACHED)
        return url

    async def _open(self, url: str) -> AttachmentBody | None:
        if self._http is None or not url.startswith(("https://", "http://")):
            return None
        try:
            resp = await self._http.get(url)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._log.warning("vk.fetch.failed", error=f"{type(exc).__name__}: {exc}"[:300])
            return None
        if resp.status != 200:
            resp.release()
            return None
        mime = resp.content_type if resp.content_type != "application/octet-stream" else ""
        return AttachmentBody(mime, resp.content_length, _chunks(resp))


class _MissingFile(Exception):
    pass


async def _chunks(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.content.iter_chunked(FETCH_CHUNK):
            yield chunk
    finally:
        resp.release()
