"""A fake of the Telegram Bot API on 127.0.0.1, for the real aiogram client: getMe, getUpdates (long polling with
offset semantics), sendMessage/sendPhoto/sendDocument (multipart, with their reply_markup), getFile and file
downloads, setWebhook and deleteWebhook, answerCallbackQuery, editMessageText and editMessageReplyMarkup; with hooks
to enqueue updates (messages, edits, presses of inline buttons), make sends fail, and inspect what was sent."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

USER = {"id": 5001, "is_bot": False, "first_name": "Ivan", "last_name": "Petrov", "username": "ivanp",
        "language_code": "ru"}  # fmt: skip


@dataclass
class Call:
    """One API call the fake answered."""

    method: str
    params: dict[str, Any]
    at: float


@dataclass
class Sent:
    """A message the bot sent."""

    method: str
    chat_id: int
    message_id: int
    text: str | None = None
    caption: str | None = None
    file_name: str | None = None
    file_bytes: bytes | None = None
    reply_markup: dict[str, Any] | None = (
        None  # as sent (a JSON string in the form), decoded; edits change it
    )
    edits: list[dict[str, Any]] = field(
        default_factory=list
    )  # editMessageText / editMessageReplyMarkup params
    reply_to: int | None = None  # the message it answers (reply_to_message_id / reply_parameters)

    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data) of every inline button the message has now."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


@dataclass
class FakeBot:
    """The server-side state of one bot token."""

    id: int
    username: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    failures: list[tuple[int, str, dict[str, Any]]] = field(
        default_factory=list
    )  # (status, description, params)
    updates_failures: int = 0
    file_failures: int = 0  # the next getFile calls answer 502 Bad Gateway
    webhook: dict[str, Any] | None = None
    answers: list[dict[str, Any]] = field(default_factory=list)  # answerCallbackQuery params
    answer_late: float = 0.0  # seconds the answer to a send waits after the message is out
    answered: set[str] = field(default_factory=set)  # callback query ids answered (a second answer fails)

    def offsets(self) -> list[int | None]:
        """The offset of every getUpdates call so far."""
        return [c.params.get("offset") for c in self.calls if c.method == "getupdates"]


class FakeTelegram:
    """Start with `await fake.start()`; `fake.url` is the `api_base` of a telegram channel."""

    def __init__(self) -> None:
        self.bots: dict[str, FakeBot] = {}
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, body)
        self.declared_sizes: dict[str, int] = {}  # file_id -> getFile's file_size, when not the body's
        self.chunked: set[str] = set()  # file paths downloaded without a Content-Length
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.url = ""

    def add_bot(self, token: str, username: str = "shop_bot") -> FakeBot:
        """Make a token valid; any other token gets 401 Unauthorized."""
        bot = self.bots[token] = FakeBot(int(token.split(":")[0]), username)
        return bot

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        """Stop listening (waiting long polls end at once)."""
        async with self._changed:
            self._closing = True
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- test hooks -------------------------------------------------------------------------------

    async def push(self, token: str, update: dict[str, Any]) -> int:
        """Enqueue an update (an `update_id` is given when it has none); returns its update_id."""
        update = {"update_id": next(self._ids), **update}
        async with self._changed:
            self.bots[token].updates.append(update)
            self._changed.notify_all()
        return int(update["update_id"])

    async def message(self, token: str, text: str | None = "hello", *, user: dict[str, Any] | None = None,
                      chat: dict[str, Any] | None = None, **fields: Any) -> tuple[int, int]:  # fmt: skip
        """A customer's message in a private chat (or `chat`); returns (update_id, message_id)."""
        u = user or USER
        message_id = next(self._message_ids)
        msg: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat or {"id": u["id"], "type": "private", "first_name": u["first_name"]},
            "from": u,
            **fields,
        }
        if text is not None:
            msg["text"] = text
        return await self.push(token, {"message": msg}), message_id

    async def reply(self, token: str, sent: Sent, text: str) -> tuple[int, int]:
        """The customer answers the bot's message `sent` with Telegram's reply (what a ForceReply opens)."""
        bot = self.bots[token]
        quoted = {"message_id": sent.message_id, "date": int(time.time()), "text": sent.text or "",
                  "chat": {"id": sent.chat_id, "type": "private", "first_name": USER["first_name"]},
                  "from": {"id": bot.id, "is_bot": True, "first_name": "Shop", "username": bot.username}}  # fmt: skip
        return await self.message(token, text, reply_to_message=quoted)

    async def edit(self, token: str, message_id: int, text: str, *, edit_date: int,
                   user: dict[str, Any] | None = None, **fields: Any) -> int:  # fmt: skip
        """The customer edited their message `message_id`."""
        u = user or USER
        msg = {
            "message_id": message_id,
            "date": edit_date - 60,
            "edit_date": edit_date,
            "chat": {"id": u["id"], "type": "private", "first_name": u["first_name"]},
            "from": u,
            "text": text,
            **fields,
        }
        return await self.push(token, {"edited_message": msg})

    async def press(self, token: str, sent: Sent | None, data: str, *, user: dict[str, Any] | None = None,
                    chat: dict[str, Any] | None = None, query_id: str | None = None,
                    date: int | None = None) -> tuple[int, str]:  # fmt: skip
        """The customer pressed an inline button with `data` under the bot's message `sent` (None: a button of
        an inline-mode message, which has no message), whose date Telegram shows as `date` (default now; 0: a
        message too old for Telegram to show); returns (update_id, callback query id)."""
        u = user or USER
        qid = query_id or f"cbq{next(self._ids)}"
        query: dict[str, Any] = {"id": qid, "from": u, "chat_instance": "ci-1", "data": data}
        if sent is not None:
            query["message"] = {
                "message_id": sent.message_id,
                "date": int(time.time()) if date is None else date,
                "chat": chat or {"id": sent.chat_id, "type": "private", "first_name": u["first_name"]},
                "from": {"id": self.bots[token].id, "is_bot": True, "first_name": "Shop"},
                "text": sent.text or "",
            }
            if sent.reply_markup:
                query["message"]["reply_markup"] = sent.reply_markup
        else:
            query["inline_message_id"] = "inline-1"
        return await self.push(token, {"callback_query": query}), qid

    async def redeliver(self, token: str, update_id: int) -> None:
        """Send an update again with the same update_id, as Telegram does after a lost confirmation."""
        bot = self.bots[token]
        original = next(c for c in self.delivered(token) if c["update_id"] == update_id)
        async with self._changed:
            bot.updates.insert(0, {**original, "_again": True})
            self._changed.notify_all()

    def delivered(self, token: str) -> list[dict[str, Any]]:
        """Every update getUpdates has returned so far."""
        out: list[dict[str, Any]] = []
        for c in self.bots[token].calls:
            out += c.params.get("_returned", [])
        return out

    def add_file(
        self, data: bytes, path: str, file_id: str, *, declared_size: int | None = None, chunked: bool = False
    ) -> None:
        """A file the Bot API can serve via getFile + /file/bot<token>/<path>; an absolute `path` is what a local
        Bot API server (or a hostile one) answers. `declared_size`: getFile's `file_size`, when it should lie;
        `chunked`: the download is sent without a Content-Length."""
        self.files[file_id] = (path, data)
        if declared_size is not None:
            self.declared_sizes[file_id] = declared_size
        if chunked:
            self.chunked.add(path)

    def fail_sends(self, token: str, n: int, kind: str, retry_after: int = 1) -> None:
        """Make the next `n` send* calls fail: kind "retry_after" (429) or "blocked" (403)."""
        bot = self.bots[token]
        for _ in range(n):
            if kind == "retry_after":
                bot.failures.append(
                    (429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
                )
            elif kind == "blocked":
                bot.failures.append((403, "Forbidden: bot was blocked by the user", {}))
            else:
                raise ValueError(kind)

    async def fail_updates(self, token: str, n: int) -> None:
        """Make the next `n` getUpdates calls (the one waiting first) answer 502 Bad Gateway."""
        async with self._changed:
            self.bots[token].updates_failures += n
            self._changed.notify_all()

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        """Wait until `predicate()` holds (checked on every call the fake answers)."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
            except TimeoutError:
                raise AssertionError(f"condition not met within {timeout}s") from None

    # ---- the API ----------------------------------------------------------------------------------

    async def _method(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method = request.match_info["method"].lower()
        bot = self.bots.get(token)
        if bot is None:
            return _error(401, "Unauthorized")
        form = await request.post()
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = (value.filename, value.file.read())
            else:
                params[key] = _number(str(value))
        call = Call(method, params, time.monotonic())
        async with self._changed:  # recorded on arrival, so a test sees a long poll as soon as it starts
            bot.calls.append(call)
            self._changed.notify_all()
        try:
            if method == "getupdates":
                return await self._get_updates(bot, call)
            if method == "getme":
                return _ok({"id": bot.id, "is_bot": True, "first_name": "Shop", "username": bot.username})
            if method in ("sendmessage", "sendphoto", "senddocument"):
                return await self._send(bot, method, params, files)
            if method == "getfile" and bot.file_failures > 0:
                bot.file_failures -= 1
                return _error(502, "Bad Gateway")
            if method == "getfile":
                entry = self.files.get(str(params.get("file_id")))
                if entry is None:
                    return _error(400, "Bad Request: invalid file_id")
                path, data = entry
                size = self.declared_sizes.get(str(params["file_id"]), len(data))
                return _ok({"file_id": params["file_id"], "file_unique_id": "u" + path,
                            "file_size": size, "file_path": path})  # fmt: skip
            if method == "sendchataction":
                if params.get("action") not in ("typing", "upload_photo", "upload_document"):
                    return _error(400, "Bad Request: wrong parameter action in request")
                return _ok(True)
            if method == "answercallbackquery":
                qid = str(params.get("callback_query_id"))
                bot.answers.append(params)
                if qid in bot.answered:
                    return _error(
                        400,
                        "Bad Request: query is too old and response timeout expired or query ID is invalid",
                    )
                bot.answered.add(qid)
                return _ok(True)
            if method in ("editmessagetext", "editmessagereplymarkup"):
                return self._edit(bot, method, params)
            if method == "setwebhook":
                bot.webhook = params
                return _ok(True)
            if method == "deletewebhook":
                bot.webhook = None
                return _ok(True)
            return _error(404, "Not Found: method not found")
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def _get_updates(self, bot: FakeBot, call: Call) -> web.Response:
        offset = call.params.get("offset")
        timeout = float(call.params.get("timeout") or 0)

        def ready() -> list[dict[str, Any]]:
            if offset is not None:  # confirms every update below the offset
                bot.updates[:] = [u for u in bot.updates if u["update_id"] >= offset or u.get("_again")]
            return bot.updates[:100]

        async with self._changed:
            waiting = self._changed.wait_for(
                lambda: self._closing or bot.updates_failures > 0 or bool(ready())
            )
            with_timeout = asyncio.wait_for(waiting, timeout)
            with contextlib.suppress(TimeoutError):
                await with_timeout
            if bot.updates_failures:  # the network broke, also under a long poll already waiting
                bot.updates_failures -= 1
                return _error(502, "Bad Gateway")
            batch = list(ready())
            # a redelivered update is returned once more, then confirmed like the rest
            for u in batch:
                u.pop("_again", None)
        call.params["_returned"] = batch
        return _ok(batch)

    async def _send(
        self, bot: FakeBot, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> web.Response:
        if bot.failures:
            status, description, parameters = bot.failures.pop(0)
            return _error(status, description, parameters)
        chat_id = int(params["chat_id"])
        message_id = next(self._message_ids)
        result: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
        }
        sent = Sent(method, chat_id, message_id, text=params.get("text"), caption=params.get("caption"))
        if params.get("reply_markup"):
            sent.reply_markup = json.loads(str(params["reply_markup"]))
            if (
                "inline_keyboard" in sent.reply_markup
            ):  # a message shows only an inline keyboard (not ForceReply)
                result["reply_markup"] = sent.reply_markup
        if params.get("reply_to_message_id"):
            sent.reply_to = int(params["reply_to_message_id"])
        elif params.get("reply_parameters"):
            sent.reply_to = int(json.loads(str(params["reply_parameters"]))["message_id"])
        if method == "sendmessage":
            result["text"] = params["text"]
        else:
            field_name = "photo" if method == "sendphoto" else "document"
            ref = str(params.get(field_name, ""))
            name, data = (
                files[ref.removeprefix("attach://")] if ref.startswith("attach://") else files[field_name]
            )
            sent.file_name, sent.file_bytes = name, data
            if method == "sendphoto":
                result["photo"] = [{"file_id": f"sent{message_id}", "file_unique_id": f"s{message_id}",
                                    "width": 1, "height": 1}]  # fmt: skip
            else:
                result["document"] = {"file_id": f"sent{message_id}", "file_unique_id": f"s{message_id}",
                                      "file_name": name}  # fmt: skip
            if sent.caption:
                result["caption"] = sent.caption
        bot.sent.append(sent)
        if bot.answer_late:  # the message is out (the customer sees it) before the bot learns so
            await asyncio.sleep(bot.answer_late)
        return _ok(result)

    def _edit(self, bot: FakeBot, method: str, params: dict[str, Any]) -> web.Response:
        found = next(
            (
                s
                for s in bot.sent
                if s.chat_id == params.get("chat_id") and s.message_id == params.get("message_id")
            ),
            None,
        )
        if found is None:
            return _error(400, "Bad Request: message to edit not found")
        markup = json.loads(str(params["reply_markup"])) if params.get("reply_markup") else None
        text = str(params["text"]) if method == "editmessagetext" else found.text
        if text == found.text and markup == found.reply_markup:
            return _error(400, "Bad Request: message is not modified")
        found.edits.append(params)
        found.text, found.reply_markup = text, markup
        result: dict[str, Any] = {"message_id": found.message_id, "date": int(time.time()),
                                  "chat": {"id": found.chat_id, "type": "private"}, "text": found.text or ""}  # fmt: skip
        if markup:
            result["reply_markup"] = markup
        return _ok(result)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] not in self.bots:
            return web.Response(status=401)
        path = request.match_info["path"]
        for stored_path, data in self.files.values():
            if stored_path == path and path in self.chunked:
                resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
                resp.enable_chunked_encoding()
                await resp.prepare(request)
                for i in range(0, len(data), 50_000):
                    await resp.write(data[i : i + 50_000])
                await resp.write_eof()
                return resp
            if stored_path == path:
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404)


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        return value


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
