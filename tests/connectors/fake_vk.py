"""A fake of the VK API and the Bots Long Poll server on 127.0.0.1, for the real vk-api client: the methods the
connector uses (groups.getLongPollServer, users.get, messages.send with random_id deduplication,
messages.getByConversationMessageId, photos/docs message uploads, keyboards on messages.send, messages.edit,
messages.sendMessageEventAnswer), the long poll with `ts`/`key` semantics and `failed` answers, and file downloads;
with hooks to enqueue events (messages, presses of callback buttons), make calls fail, and inspect calls."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

GROUP_ID = 77
TOKEN = "vk1.a.test-token"
USER = {"id": 5001, "first_name": "Ivan", "last_name": "Petrov", "screen_name": "ivanp"}
FIRST_TS = 100  # the ts of the first event


@dataclass
class Call:
    """One API method call the fake answered."""

    method: str
    params: dict[str, str]
    at: float


@dataclass
class Sent:
    """A message the community sent (one per distinct random_id)."""

    id: int
    peer_id: int
    random_id: int
    text: str
    attachment: str | None
    keyboard: dict[str, Any] | None = None  # the keyboard JSON, decoded; messages.edit changes it
    cmid: int = 0
    edits: list[dict[str, str]] = field(default_factory=list)

    def buttons(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(type, label, payload) of every button the message has now."""
        rows = (self.keyboard or {}).get("buttons") or []
        return [
            (b["action"]["type"], b["action"]["label"], json.loads(b["action"].get("payload") or "null"))
            for row in rows
            for b in row
        ]


@dataclass
class Failure:
    """How the next call of a method fails: VK error `code`; `deliver`: the message goes out anyway (as when VK
    times out internally after sending), so only random_id deduplication saves a retry from a duplicate."""

    code: int
    message: str
    deliver: bool = False


@dataclass
class Upload:
    kind: str  # "photo" | "doc"
    filename: str
    body: bytes
    title: str | None = None


@dataclass
class FakeVK:
    """Start with `await fake.start()`; `fake.url` is the `api_base` of a vk channel."""

    group_id: int = GROUP_ID
    token: str = TOKEN
    users: dict[int, dict[str, Any]] = field(default_factory=lambda: {USER["id"]: USER})
    calls: list[Call] = field(default_factory=list)
    polls: list[dict[str, str]] = field(default_factory=list)  # the query of every long-poll request
    events: list[dict[str, Any]] = field(default_factory=list)  # events[i] has ts FIRST_TS + i
    sent: list[Sent] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # name -> (mime, body)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)  # (peer, cmid) -> message
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    poll_failures: list[dict[str, Any]] = field(default_factory=list)
    event_answers: list[dict[str, str]] = field(
        default_factory=list
    )  # messages.sendMessageEventAnswer params
    bot_abilities: bool = True  # off: a messages.send with a keyboard fails with error 912
    key: str = "key-1"
    url: str = ""

    def __post_init__(self) -> None:
        self._keys = itertools.count(2)
        self._cmids = itertools.count(1)
        self._ids = itertools.count(1000)
        self._by_random: dict[tuple[int, int], int] = {}
        self._uploaded: dict[str, tuple[str, bytes]] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = False

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/method/{name}", self._method)
        app.router.add_get("/lp/{group}", self._long_poll)
        app.router.add_post("/upload/{kind}", self._upload)
        app.router.add_get("/files/{name}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        """Stop listening (waiting long polls end at once)."""
        async with self._changed:
            self._closing = True
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- test hooks -------------------------------------------------------------------------------

    @property
    def next_ts(self) -> int:
        """The ts the next event will have."""
        return FIRST_TS + len(self.events)

    def event(self, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        """A Bots Long Poll / Callback API event of this community."""
        return {
            "group_id": self.group_id,
            "type": type_,
            "event_id": uuid.uuid4().hex,
            "v": "5.199",
            "object": obj,
        }

    async def push(self, event: dict[str, Any]) -> int:
        """Enqueue an event for the long poll; returns its ts."""
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()
        return self.next_ts - 1

    def new_message(
        self, text: str = "hello", *, peer_id: int | None = None, **fields: Any
    ) -> dict[str, Any]:
        """A customer's message object (remembered for messages.getByConversationMessageId)."""
        peer = peer_id or int(USER["id"])
        cmid = next(self._cmids)
        msg = {
            "date": int(time.time()),
            "from_id": peer,
            "id": next(self._ids),
            "out": 0,
            "peer_id": peer,
            "text": text,
            "conversation_message_id": cmid,
            "fwd_messages": [],
            "attachments": [],
            "important": False,
            "is_hidden": False,
            **fields,
        }
        self.messages[(peer, cmid)] = msg
        return msg

    def message_new_event(
        self, msg: dict[str, Any], client_info: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The message_new event of a message (API 5.103+: the message wrapped with client_info)."""
        info = client_info or {
            "button_actions": ["text"],
            "keyboard": True,
            "inline_keyboard": True,
            "lang_id": 0,
        }
        return self.event("message_new", {"message": msg, "client_info": info})

    async def message(self, text: str = "hello", *, client_info: dict[str, Any] | None = None,
                      **fields: Any) -> dict[str, Any]:  # fmt: skip
        """A customer writes to the community (long poll); returns the message object."""
        msg = self.new_message(text, **fields)
        await self.push(self.message_new_event(msg, client_info))
        return msg

    def press_event(self, sent: Sent | None, payload: Any, *, user_id: int | None = None,
                    peer_id: int | None = None) -> dict[str, Any]:  # fmt: skip
        """The message_event of a callback button pressed under the community's message `sent`."""
        uid = user_id or int(USER["id"])
        obj: dict[str, Any] = {
            "user_id": uid,
            "peer_id": peer_id or (sent.peer_id if sent else uid),
            "event_id": uuid.uuid4().hex[:12],
            "payload": payload,
        }
        if sent is not None:
            obj["conversation_message_id"] = sent.cmid
        return self.event("message_event", obj)

    async def press(self, sent: Sent | None, payload: Any, **kw: Any) -> dict[str, Any]:
        """A customer presses a callback button (long poll); returns the event."""
        event = self.press_event(sent, payload, **kw)
        await self.push(event)
        return event

    async def edit(self, msg: dict[str, Any], text: str) -> None:
        """The customer edits a message (message_edit carries the bare message object)."""
        edited = {**msg, "text": text, "update_time": int(msg["date"]) + 30}
        self.messages[(msg["peer_id"], msg["conversation_message_id"])] = edited
        await self.push(self.event("message_edit", edited))

    async def consent(self, allowed: bool, user_id: int | None = None) -> None:
        """message_allow / message_deny."""
        uid = user_id or int(USER["id"])
        obj = {"user_id": uid, "key": "k"} if allowed else {"user_id": uid}
        await self.push(self.event("message_allow" if allowed else "message_deny", obj))

    def photo(self, body: bytes) -> dict[str, Any]:
        """A photo attachment whose largest size downloads `body` (smaller sizes download other bytes)."""
        pid = next(self._ids)
        self.files[f"photo{pid}_s.jpg"] = ("image/jpeg", b"small")
        self.files[f"photo{pid}_w.jpg"] = ("image/jpeg", body)
        sizes = [
            {"type": "s", "width": 75, "height": 56, "url": f"{self.url}/files/photo{pid}_s.jpg"},
            {"type": "w", "width": 1280, "height": 960, "url": f"{self.url}/files/photo{pid}_w.jpg"},
            {"type": "m", "width": 130, "height": 97, "url": f"{self.url}/files/photo{pid}_m.jpg"},
        ]
        return {
            "type": "photo",
            "photo": {"id": pid, "owner_id": USER["id"], "access_key": "pk", "sizes": sizes},
        }

    def doc(self, title: str, body: bytes, ext: str) -> dict[str, Any]:
        """A document attachment."""
        did = next(self._ids)
        self.files[f"doc{did}.{ext}"] = ("application/octet-stream", body)
        obj = {
            "id": did,
            "owner_id": USER["id"],
            "title": title,
            "size": len(body),
            "ext": ext,
            "url": f"{self.url}/files/doc{did}.{ext}",
            "type": 1,
            "access_key": "dk",
        }
        return {"type": "doc", "doc": obj}

    def voice(self, body: bytes) -> dict[str, Any]:
        """An audio message attachment."""
        vid = next(self._ids)
        self.files[f"voice{vid}.ogg"] = ("audio/ogg", body)
        obj = {
            "id": vid,
            "owner_id": USER["id"],
            "duration": 3,
            "access_key": "vk",
            "link_ogg": f"{self.url}/files/voice{vid}.ogg",
            "link_mp3": f"{self.url}/files/voice{vid}.mp3",
        }
        return {"type": "audio_message", "audio_message": obj}

    def fail_next(self, method: str, code: int, message: str = "", *, deliver: bool = False) -> None:
        """The next call of `method` answers VK error `code`."""
        text = message or {
            6: "Too many requests per second",
            9: "Flood control",
            10: "Internal server error",
            901: "Can't send messages for users without permission",
        }.get(code, "error")
        self.failures.setdefault(method, []).append(Failure(code, text, deliver))

    async def fail_poll(self, failed: int, *, lose: int = 0) -> None:
        """The next long poll (or the one waiting now) answers `failed`: 2 and 3 also expire the key;
        1 skips `lose` events, as when VK lost part of the history, and gives the ts after them."""
        async with self._changed:
            self.poll_failures.append({"failed": failed, "lose": lose})
            self._changed.notify_all()

    def method_calls(self, method: str) -> list[Call]:
        """The calls of one method so far."""
        return [c for c in self.calls if c.method == method]

    # ---- the API --------------------------------------------------------------------------------------

    async def _method(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        params = {k: str(v) for k, v in (await request.post()).items()}
        self.calls.append(Call(name, params, time.monotonic()))
        if params.get("access_token") != self.token:
            return _error(5, "User authorization failed: invalid access_token (4).")
        queued = self.failures.get(name)
        failure = queued.pop(0) if queued else None
        if failure is not None and not failure.deliver:
            return _error(failure.code, failure.message)
        handler = getattr(self, "m_" + name.replace(".", "_"), None)
        if handler is None:
            return _error(3, f"Unknown method passed: {name}")
        result = handler(params)
        if failure is not None:
            return _error(failure.code, failure.message)
        return web.json_response(
            result if isinstance(result, dict) and "error" in result else {"response": result}
        )

    def m_groups_getLongPollServer(self, p: dict[str, str]) -> Any:
        if p.get("group_id") != str(self.group_id):
            return {
                "error": {
                    "error_code": 100,
                    "error_msg": "One of the parameters specified was missing or invalid",
                }
            }
        return {"key": self.key, "server": f"{self.url}/lp/{self.group_id}", "ts": str(self.next_ts)}

    def m_users_get(self, p: dict[str, str]) -> Any:
        ids = [int(x) for x in p.get("user_ids", "").split(",") if x]
        return [self.users[i] for i in ids if i in self.users]

    def m_messages_send(self, p: dict[str, str]) -> Any:
        peer, rid = int(p["peer_id"]), int(p["random_id"])
        if rid and (peer, rid) in self._by_random:
            return self._by_random[(peer, rid)]  # VK: the same random_id is sent once
        if p.get("keyboard") and not self.bot_abilities:
            return {
                "error": {
                    "error_code": 912,
                    "error_msg": "This is a chat bot feature, change this status in settings",
                }
            }
        mid = next(self._ids)
        self._by_random[(peer, rid)] = mid
        cmid = next(self._cmids)
        keyboard = json.loads(p["keyboard"]) if p.get("keyboard") else None
        self.sent.append(Sent(mid, peer, rid, p.get("message", ""), p.get("attachment"), keyboard, cmid))
        self.messages[(peer, cmid)] = {"id": mid, "peer_id": peer, "from_id": -self.group_id, "out": 1,
                                       "conversation_message_id": cmid, "text": p.get("message", ""),
                                       "date": int(time.time())}  # fmt: skip
        return mid

    def m_messages_edit(self, p: dict[str, str]) -> Any:
        peer, cmid = int(p["peer_id"]), int(p.get("conversation_message_id", "0"))
        found = next((s for s in self.sent if s.peer_id == peer and s.cmid == cmid), None)
        if found is None:
            return {
                "error": {
                    "error_code": 100,
                    "error_msg": "One of the parameters specified was missing or invalid",
                }
            }
        found.edits.append(p)
        found.text = p.get("message", "")
        found.keyboard = json.loads(p["keyboard"]) if p.get("keyboard") else None
        self.messages[(peer, cmid)]["text"] = found.text
        return 1

    def m_messages_sendMessageEventAnswer(self, p: dict[str, str]) -> Any:
        self.event_answers.append(p)
        if any(a["event_id"] == p.get("event_id") for a in self.event_answers[:-1]):
            # VK: an event is answered once (and expires in a minute)
            return {
                "error": {
                    "error_code": 100,
                    "error_msg": "One of the parameters specified was missing or invalid",
                }
            }
        return 1

    def m_messages_setActivity(self, p: dict[str, str]) -> Any:
        if p.get("type") not in ("typing", "audiomessage") or "peer_id" not in p:
            return {
                "error": {
                    "error_code": 100,
                    "error_msg": "One of the parameters specified was missing or invalid",
                }
            }
        return 1

    def m_messages_getByConversationMessageId(self, p: dict[str, str]) -> Any:
        ids = [int(x) for x in p.get("conversation_message_ids", "").split(",") if x]
        items = [
            self.messages[(int(p["peer_id"]), i)] for i in ids if (int(p["peer_id"]), i) in self.messages
        ]
        return {"count": len(items), "items": items}

    def m_photos_getMessagesUploadServer(self, p: dict[str, str]) -> Any:
        return {"upload_url": f"{self.url}/upload/photo", "album_id": -3, "group_id": self.group_id}

    def m_photos_saveMessagesPhoto(self, p: dict[str, str]) -> Any:
        token = json.loads(p["photo"])[0]["token"]
        filename, body = self._uploaded.pop(token)
        self.uploads.append(Upload("photo", filename, body))
        return [{"id": next(self._ids), "owner_id": -self.group_id, "access_key": "ak", "sizes": []}]

    def m_docs_getMessagesUploadServer(self, p: dict[str, str]) -> Any:
        return {"upload_url": f"{self.url}/upload/doc"}

    def m_docs_save(self, p: dict[str, str]) -> Any:
        filename, body = self._uploaded.pop(p["file"])
        self.uploads.append(Upload("doc", filename, body, p.get("title")))
        doc = {"id": next(self._ids), "owner_id": -self.group_id, "title": p.get("title"), "size": len(body)}
        return {"type": "doc", "doc": doc}

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        kind = request.match_info["kind"]
        part = form.get("file0" if kind == "photo" else "file")
        if part is None or isinstance(part, str):
            return web.json_response({"error": "no file"})
        token = uuid.uuid4().hex
        self._uploaded[token] = (part.filename, part.file.read())
        if kind == "photo":
            return web.json_response({"server": 1, "photo": json.dumps([{"token": token}]), "hash": "h"})
        return web.json_response({"file": token})

    async def _file(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=found[1], content_type=found[0])

    # ---- Bots Long Poll ------------------------------------------------------------------------------

    async def _long_poll(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.polls.append(q)
        ts, wait = int(q.get("ts", "0")), min(int(q.get("wait", "25")), 90)
        if q.get("key") != self.key:
            return web.json_response({"failed": 2})
        if ts < FIRST_TS:
            return web.json_response({"failed": 1, "ts": str(self.next_ts)})

        def ready() -> bool:
            return self._closing or bool(self.poll_failures) or self.next_ts > ts

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(ready), wait)
            if self.poll_failures:
                return web.json_response(self._failed(self.poll_failures.pop(0)))
            updates = self.events[ts - FIRST_TS :]
        return web.json_response({"ts": str(max(ts, self.next_ts)), "updates": updates})

    def _failed(self, f: dict[str, Any]) -> dict[str, Any]:
        if f["failed"] == 1:
            for _ in range(f["lose"]):
                self.events.append(self.message_new_event(self.new_message("this one VK lost")))
            return {"failed": 1, "ts": str(self.next_ts)}
        self.key = f"key-{next(self._keys)}"
        return {"failed": f["failed"]}


def _error(code: int, message: str) -> web.Response:
    return web.json_response({"error": {"error_code": code, "error_msg": message, "request_params": []}})
