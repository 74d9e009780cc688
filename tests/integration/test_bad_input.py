"""The widget side of the bad-input matrix, against the real daemon: every hostile phase gets a clean answer
(an error code, a close code, a 4xx), nothing bad is stored, nothing good is lost, and the daemon keeps serving.

Forged, expired and other-line visitor tokens are covered in test_errors.py."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import time
from typing import Any

import aiohttp
import orjson
import pytest
import yaml

from connectors import VALIDATORS
from connectors.shared_limits import RedisLimits
from queues import sockets as sockets_module
from router.app.settings import load_settings
from tests.clients import Visitor
from tests.conftest import PASSWORD, Running, config, line, settings_from


def widget_line(line_id: str, **widget: Any) -> dict[str, Any]:
    """A line whose widget channel has these options."""
    return {**line(line_id, ["anna"]), "channels": [{"type": "widget", **widget}]}


async def start(tmp_path, start_daemon, *lines: dict[str, Any]) -> Running:
    return await start_daemon(settings_from(tmp_path, config(tmp_path, list(lines))))


@pytest.fixture
async def support(tmp_path, start_daemon) -> Running:
    return await start(tmp_path, start_daemon, line("support", ["anna"]))


def ws_url(d: Running, line_id: str = "support") -> str:
    return f"{d.base.replace('http', 'ws')}/widget/ws?line={line_id}"


async def visitor(
    d: Running, line_id: str = "support", token: str | None = None, **ws_options: Any
) -> Visitor:
    """A visitor connected with extra websocket options (headers, origin), hello exchanged."""
    v = Visitor(d.session, d.base, line_id, token)
    v.ws = await d.session.ws_connect(ws_url(d, line_id), **ws_options)
    v._start_reader()
    await v.send({"type": "hello", "protocol": 1, "visitor_token": token})
    v.hello = await v.expect("hello")
    v.token = v.hello["visitor_token"]
    return v


async def send_message(v: Visitor, cmid: str, text: str = "hi") -> dict[str, Any]:
    """Send a message and return its answer: the ack or the error that names it."""
    await v.send({"type": "message", "client_msg_id": cmid, "text": text})
    for _ in range(100):
        for i, f in enumerate(v.frames):
            if f.get("client_msg_id") == cmid and f.get("type") in ("ack", "error"):
                return v.frames.pop(i)
        await asyncio.sleep(0.02)
    raise AssertionError(f"no answer to {cmid}; got {v.frames}")


async def assert_serving(d: Running, *still_open: Visitor, line_id: str = "support") -> None:
    """The daemon still answers: /healthz is 200, a new visitor's message is acked, open sockets still work."""
    async with d.session.get(f"{d.base}/healthz") as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["status"] == "ok"
    fresh = await d.visitor(line_id)
    assert (await fresh.say("are you there?"))["id"]
    await fresh.close()
    for v in still_open:
        assert not v.ws.closed  # type: ignore[union-attr]
        assert (await v.say("me too"))["id"]


# ---- malformed frames ------------------------------------------------------------------------------------

DEEP = "[" * 5000 + "]" * 5000
MALFORMED = [
    ("", "bad_json"),
    ("null", "bad_json"),
    ('"a string"', "bad_json"),
    ("42", "bad_json"),
    ('{"type": "message"', "bad_json"),
    (DEEP, "bad_json"),  # nesting deeper than the parser's limit
    ('{"type": "message", "client_msg_id": "n", "text": NaN}', "bad_json"),
    ('{"type": "message", "client_msg_id": "s", "text": "lone \\ud800 surrogate"}', "bad_json"),
    (b'{"type": "hello"}', "bad_json"),  # a binary frame, even with JSON in it
    ({}, "unknown_type"),
    ({"type": 5}, "unknown_type"),
    ({"type": "MESSAGE", "client_msg_id": "u", "text": "hi"}, "unknown_type"),
    ({"type": "message", "client_msg_id": None, "text": "hi"}, "missing_field"),
    ({"type": "message", "client_msg_id": "t", "text": None}, "missing_field"),
    ({"type": "message", "client_msg_id": "", "text": "hi"}, "bad_field"),
    ({"type": "message", "client_msg_id": ["x"], "text": "hi"}, "bad_field"),
    ({"type": "message", "client_msg_id": "o", "text": {"text": "hi"}}, "bad_field"),
    ({"type": "message", "client_msg_id": "b", "text": True}, "bad_field"),
    ({"type": "hello", "protocol": 1, "visitor_token": 12345}, "bad_field"),
]


async def test_malformed_frames_get_a_code_and_the_socket_keeps_working(support):
    v = await support.visitor("support")
    for frame, code in MALFORMED:
        if isinstance(frame, bytes):
            await v.ws.send_bytes(frame)  # type: ignore[union-attr]
        else:
            await v.send(frame)
        err = await v.expect("error")
        assert err["code"] == code, (frame if len(str(frame)) < 100 else "DEEP", err)
        assert err["message"]
    assert (await v.say("still here"))["id"]
    assert await support.daemon.store.count("messages") == 1
    await assert_serving(support, v)


async def test_extra_fields_are_ignored(support):
    v = Visitor(support.session, support.base, "support")
    v.ws = await support.session.ws_connect(ws_url(support))
    v._start_reader()
    await v.send({"type": "hello", "protocol": 1, "visitor_token": None, "theme": "dark", "debug": True})
    assert (await v.expect("hello"))["visitor_token"]
    await v.send({"type": "message", "client_msg_id": "x1", "text": "hi", "priority": "high", "to": "ceo"})
    ack = await v.expect("ack")
    assert ack["client_msg_id"] == "x1"
    assert await support.daemon.store.count("messages") == 1


# ---- oversized and undecodable frames --------------------------------------------------------------------


async def test_text_over_the_line_limit_but_under_the_frame_limit_is_message_too_long(support):
    v = await support.visitor("support")
    await v.send({"type": "message", "client_msg_id": "big", "text": "x" * 60_000})  # ~60 KiB < 64 KiB
    err = await v.expect("error")
    assert (err["code"], err["client_msg_id"]) == ("message_too_long", "big")
    assert not v.ws.closed  # type: ignore[union-attr]
    assert await support.daemon.store.count("messages") == 0
    await assert_serving(support, v)


async def test_regression_a_refused_hello_does_not_cut_the_socket_off_from_its_acks(support):
    v = await support.visitor("support")
    await v.send({"type": "hello", "protocol": 1, "visitor_token": 12345})
    assert (await v.expect("error"))["code"] == "bad_field"
    assert (await v.say("do I still get acks?"))["id"]


async def test_a_frame_over_64_kib_closes_that_socket_with_1009_only(support):
    bystander = await support.visitor("support")
    v = await support.visitor("support")
    await v.send({"type": "message", "client_msg_id": "huge", "text": "x" * (64 * 1024 + 1)})
    await asyncio.wait_for(v._reader, 5)  # type: ignore[arg-type]
    assert v.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG  # type: ignore[union-attr]
    assert await support.daemon.store.count("messages") == 0
    await assert_serving(support, bystander)


async def test_a_megabytes_frame_is_cut_off_while_it_is_still_being_sent(support):
    bystander = await support.visitor("support")
    v = await support.visitor("support")
    # the server refuses it from the frame header and closes; the client usually cannot even finish writing
    with contextlib.suppress(ConnectionError):
        await v.send({"type": "message", "client_msg_id": "huge", "text": "x" * (16 * 1024 * 1024)})
    await asyncio.wait_for(v._reader, 5)  # type: ignore[arg-type]
    assert v.ws.closed  # type: ignore[union-attr]
    assert v.frames == []
    assert await support.daemon.store.count("messages") == 0
    await assert_serving(support, bystander)


async def test_a_text_frame_that_is_not_utf8_closes_that_socket_with_1007_only(support):
    bystander = await support.visitor("support")
    v = await support.visitor("support")
    raw = b'{"type": "message", "client_msg_id": "u8", "text": "caf\xc3 \xff\xfe"}'
    await v.ws.send_frame(raw, aiohttp.WSMsgType.TEXT)  # type: ignore[union-attr]
    await asyncio.wait_for(v._reader, 5)  # type: ignore[arg-type]
    assert v.ws.close_code == aiohttp.WSCloseCode.INVALID_TEXT  # type: ignore[union-attr]
    assert await support.daemon.store.count("messages") == 0
    await assert_serving(support, bystander)


# ---- control characters ----------------------------------------------------------------------------------


async def test_control_characters_are_stripped_before_the_text_is_stored(support):
    v = await support.visitor("support")
    dirty = "\x00He\x07llo\x1b[31m\r\n\tworld\x7f\x85\x9b!\u200b"
    await v.say(dirty, client_msg_id="dirty")
    for only_controls in ("\x00\x01\x02", " \x85\x7f\r "):
        await v.send({"type": "message", "client_msg_id": "ctl", "text": only_controls})
        assert (await v.expect("error"))["code"] == "empty_message"
    again = await support.visitor("support", token=v.token)
    assert again.hello is not None
    [stored] = [m["text"] for m in again.hello["history"] if m.get("client_msg_id") == "dirty"]
    assert stored == "Hello[31m\n\tworld!\u200b"  # tab and newline stay; format characters are not controls
    assert await support.daemon.store.count("messages") == 1


# ---- rate limits -----------------------------------------------------------------------------------------


async def test_a_flood_of_messages_is_rate_limited_and_nothing_is_lost_or_duplicated(support):
    loop = asyncio.get_running_loop()
    flooder = await support.visitor("support")
    bystander = await support.visitor("support")
    frames = [
        orjson.dumps({"type": "message", "client_msg_id": f"f{i}", "text": f"spam {i}"}).decode()
        for i in range(10_000)
    ]
    halfway = asyncio.Event()

    async def flood() -> None:
        for i, data in enumerate(frames):
            await flooder.ws.send_str(data)  # type: ignore[union-attr]
            if i % 100 == 99:
                await asyncio.sleep(0.01)  # ~10,000 frames a second; the daemon shares this event loop
            if i == len(frames) // 2:
                halfway.set()

    async def bystander_during_the_flood() -> float:
        await halfway.wait()
        t0 = loop.time()
        await bystander.say("hello, anyone?")
        return loop.time() - t0

    t0 = loop.time()
    _, bystander_wait = await asyncio.gather(flood(), bystander_during_the_flood())
    flood_time = loop.time() - t0
    assert bystander_wait < 2.0
    assert flood_time < 5.0

    # the connection handles its frames in order: once a hello is answered, every message frame is through
    async with asyncio.timeout(10):
        while not any(f["type"] == "hello" for f in flooder.frames):
            await flooder.send({"type": "hello", "protocol": 1, "visitor_token": flooder.token})
            await asyncio.sleep(0.2)
    busy = loop.time() - t0
    await settle(support, lambda: len(acks_of(flooder)) + 1)

    acks = acks_of(flooder)
    acked = {f["client_msg_id"] for f in acks}
    errors = [f for f in flooder.frames if f["type"] == "error"]
    refused = {f.get("client_msg_id") for f in errors if f["code"] == "rate_limited"} - {None}
    assert errors and {f["code"] for f in errors} == {"rate_limited"}
    assert all(f["retry_after"] >= 1 for f in errors)
    assert len(acked) == len(acks)  # no message acked twice
    assert 10 <= len(acks) <= 10 + busy / 2 + 1  # the burst, then one every 2 s
    assert refused and not refused & acked
    # the frame cap: at most 50 + 20/s frames of the 10,000 were even read, and one notice a second
    assert len(acks) + len(errors) <= 50 + 20 * busy + busy + 2
    assert await support.daemon.store.count("messages") == len(acks) + 1
    assert not flooder.ws.closed  # type: ignore[union-attr]  # a flood this short is not closed
    # what was stored is exactly what was acked
    again = await support.visitor("support", token=flooder.token)
    assert again.hello is not None
    history = [m["client_msg_id"] for m in again.hello["history"] if m["author"]["kind"] == "customer"]
    assert sorted(history) == sorted(acked)
    await again.close()
    await flooder.close()
    await assert_serving(support, bystander)


def acks_of(v: Visitor) -> list[dict[str, Any]]:
    return [f for f in v.frames if f["type"] == "ack"]


async def settle(d: Running, expected: Any, quiet: float = 0.3) -> None:
    """Wait until the stored message count equals expected() and stays so for `quiet` seconds."""
    async with asyncio.timeout(10):
        stable_since = None
        while True:
            now = time.monotonic()
            if await d.daemon.store.count("messages") == expected():
                stable_since = stable_since or now
                if now - stable_since >= quiet:
                    return
            else:
                stable_since = None
            await asyncio.sleep(0.05)


async def test_a_refused_message_is_stored_when_sent_again_after_retry_after(tmp_path, start_daemon):
    d = await start(tmp_path, start_daemon, widget_line("support", rate_per_visitor=60, burst_per_visitor=1))
    v = await d.visitor("support")
    assert (await send_message(v, "m1"))["type"] == "ack"
    refused = await send_message(v, "m2")
    assert (refused["type"], refused["code"], refused["retry_after"]) == ("error", "rate_limited", 1)
    assert await d.daemon.store.count("messages") == 1
    await asyncio.sleep(refused["retry_after"])
    assert (await send_message(v, "m2"))["type"] == "ack"
    assert await d.daemon.store.count("messages") == 2


async def test_the_address_limit_spans_every_visitor_of_that_address(tmp_path, start_daemon):
    limits = {"rate_per_ip": 1, "burst_per_ip": 5}  # one a minute: nothing refills during the test
    d = await start(
        tmp_path,
        start_daemon,
        widget_line("support", **limits),
        widget_line("proxied", trust_forwarded_for=True, **limits),
    )
    # three visitors from 127.0.0.1, three messages each: the address lets five through in all
    visitors = [await d.visitor("support") for _ in range(3)]
    answers = [(await send_message(v, f"v{i}m{j}"))["type"] for j in range(3) for i, v in enumerate(visitors)]
    assert answers.count("ack") == 5 and answers.count("error") == 4
    # without trust_forwarded_for, a forged X-Forwarded-For does not buy a fresh allowance
    forger = await visitor(d, "support", headers={"X-Forwarded-For": "203.0.113.9"})
    assert (await send_message(forger, "forged"))["code"] == "rate_limited"
    assert await d.daemon.store.count("messages") == 5
    # behind a trusted proxy, each forwarded address has its own allowance (and each line its own buckets)
    first = await visitor(d, "proxied", headers={"X-Forwarded-For": "198.51.100.1, 10.0.0.1"})
    second = await visitor(d, "proxied", headers={"X-Forwarded-For": "198.51.100.2"})
    first_answers = [(await send_message(first, f"p{j}"))["type"] for j in range(6)]
    assert first_answers == ["ack"] * 5 + ["error"]
    assert (await send_message(second, "q0"))["type"] == "ack"
    assert await d.daemon.store.count("messages") == 11


async def test_a_connection_that_keeps_flooding_is_closed_with_1008(support, monkeypatch):
    widget = support.daemon.connectors["widget"]
    origin = time.monotonic()
    # the connector's clock runs 20 times faster: five seconds of flooding take a quarter of a second
    monkeypatch.setattr(widget, "clock", lambda: origin + (time.monotonic() - origin) * 20)
    bystander = await support.visitor("support")
    v = await support.visitor("support")
    loop = asyncio.get_running_loop()
    t0, sent = loop.time(), 0
    with contextlib.suppress(ConnectionError):
        while not v._reader.done() and loop.time() - t0 < 5:  # type: ignore[union-attr]
            await v.send("garbage")
            sent += 1
            if sent % 20 == 0:
                await asyncio.sleep(0.001)
    await asyncio.wait_for(v._reader, 5)  # type: ignore[arg-type]
    assert v.ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION  # type: ignore[union-attr]
    flooded = (loop.time() - t0) * 20  # seconds, as the connector saw them
    assert 5 <= flooded < 20
    codes = [f["code"] for f in v.frames]
    assert codes.count("bad_json") <= 50 + 20 * flooded  # only frames under the cap were even parsed
    assert 1 <= codes.count("rate_limited") <= flooded + 1  # one notice a second at most
    assert sent > len(codes) * 5  # most were dropped unread
    monkeypatch.undo()
    await assert_serving(support, bystander)


class StalledTab:
    """A real widget connection whose browser stopped reading: the handshake and hello are sent over a raw socket
    with a tiny receive buffer, then nothing is ever read again."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))

    def open(self, line_id: str, token: str) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /widget/ws?line={line_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)  # byte by byte: nothing past the handshake is read
        assert head.startswith(b"HTTP/1.1 101"), head
        payload = orjson.dumps({"type": "hello", "protocol": 1, "visitor_token": token})
        mask = os.urandom(4)
        masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        assert 126 <= len(payload) < 1 << 16
        self.sock.sendall(bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + mask + masked)

    def dropped(self, within: float = 5.0) -> bool:
        """Whether the server drops the connection within `within` seconds (what it had sent is thrown away)."""
        self.sock.settimeout(within)
        try:
            while self.sock.recv(1 << 20):
                pass
            return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True


async def test_a_tab_that_stopped_reading_does_not_hold_up_deliveries(tmp_path, start_daemon, monkeypatch):
    monkeypatch.setattr(sockets_module, "STALLED", 64 * 1024)
    data = config(tmp_path, [line("support", ["anna"])])
    data["limits"] = {"max_message_length": 200_000}
    d = await start_daemon(settings_from(tmp_path, data))
    widget = d.daemon.connectors["widget"]
    anna = await d.operator("anna")
    v = await d.visitor("support")
    assert v.hello is not None and v.token
    await v.say("hello")
    offer = await anna.expect("dialog.offered")
    stalled = StalledTab(d.daemon.port)
    await asyncio.to_thread(stalled.open, "support", v.token)  # the same visitor in a second tab
    key = next(k for k in widget._sockets if k[0] == "support")
    for _ in range(100):
        if len(widget._sockets[key]) == 2:
            break
        await asyncio.sleep(0.02)
    assert len(widget._sockets[key]) == 2
    big = "x" * 150_000
    for i in range(200):  # until the kernel buffers of the stalled connection (4 MB here) are full and more
        await anna.reply(offer["dialog_id"], f"{i} {big}")
        got = await v.expect("message", lambda f, i=i: f["text"].startswith(f"{i} "), timeout=10)
        assert got["author"]["kind"] == "operator"  # the reading tab gets every reply meanwhile
        if len(widget._sockets[key]) == 1:
            break
    assert len(widget._sockets[key]) == 1, "the stalled tab was given up"
    assert await asyncio.to_thread(stalled.dropped)
    stalled.sock.close()
    await assert_serving(d, v)


# ---- origins ---------------------------------------------------------------------------------------------

ALLOWED = ["https://shop.example", "https://*.shop.example", "*.partner.example", "http://localhost:8080"]
ORIGINS = [
    ("https://shop.example", True),
    ("https://shop.example:443", True),  # the default port is the same origin
    ("https://eu.shop.example", True),
    ("https://a.b.shop.example", True),
    ("http://eu.shop.example", False),  # the wildcard entry names https
    ("https://shop.example:8443", False),
    ("http://shop.example", False),
    ("https://evilshop.example", False),
    ("https://shop.example.evil.example", False),
    ("https://x.partner.example", True),
    ("http://x.partner.example", True),  # a bare wildcard allows both schemes
    ("https://partner.example", False),  # a wildcard is for subdomains only
    ("http://localhost:8080", True),
    ("http://localhost", False),
    ("null", False),  # sandboxed iframes and file:// pages
    ("https://shop.example/evil", False),
    (None, False),  # no Origin header (not a browser) with a non-empty list
]


@pytest.fixture
async def shop(tmp_path, start_daemon) -> Running:
    """A line that only some sites may embed, and an open one."""
    return await start(tmp_path, start_daemon, widget_line("shop", allowed_origins=ALLOWED), line("open", []))


async def refused_upgrade(d: Running, line_id: str, origin: str | None) -> aiohttp.ClientResponse:
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }
    if origin is not None:
        headers["Origin"] = origin
    async with d.session.get(f"{d.base}/widget/ws?line={line_id}", headers=headers) as r:
        await r.read()
        return r


async def test_only_allowed_origins_may_open_the_widget(shop):
    for origin, allowed in ORIGINS:
        if allowed:
            v = await visitor(shop, "shop", origin=origin)
            assert (await v.say("from the shop"))["id"], origin
            await v.close()
            continue
        r = await refused_upgrade(shop, "shop", origin)
        assert (r.status, r.content_type) == (403, "application/json"), origin
        body = await r.json()
        assert body["code"] == "origin_not_allowed" and body["message"], origin
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await shop.session.ws_connect(ws_url(shop, "shop"), origin=origin)
        assert refused.value.status == 403, origin
    assert await shop.daemon.store.count("messages") == sum(allowed for _, allowed in ORIGINS)
    # a line without allowed_origins takes any origin, and clients that send none
    for origin in ("https://anything.example", None):
        v = await visitor(shop, "open", origin=origin)
        assert (await v.say("from anywhere"))["id"]
        await v.close()
    await assert_serving(shop, line_id="open")


@pytest.mark.parametrize(
    "entry",
    ["shop.example", "ftp://shop.example", "https://shop.example/path", "https://*", "https://x:99999"],
)
def test_an_allowed_origin_that_is_not_an_origin_is_a_config_error(tmp_path, entry):
    path = tmp_path / "openlines.yaml"
    data = config(tmp_path, [widget_line("shop", allowed_origins=[entry])])
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    settings, problems = load_settings(path, env={}, channel_validators=VALIDATORS)
    assert settings is None
    assert any("allowed_origins" in str(p) and "is not an origin" in str(p) for p in problems), problems


# ---- REST ------------------------------------------------------------------------------------------------


async def test_rest_refuses_oversized_mistyped_and_non_object_bodies(support):
    s, base = support.session, support.base
    async with s.post(
        f"{base}/api/login",
        data=b"{" + b" " * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    ) as r:
        assert r.status == 413
        assert (await r.json())["code"] == "too_large"
    for body in (b"[]", b'"anna"', b"null", b"42", b"", b'{"login": "\xff"}'):
        async with s.post(f"{base}/api/login", data=body, headers={"Content-Type": "application/json"}) as r:
            assert (r.status, (await r.json())["code"]) == (400, "bad_json"), body
    # a form, or JSON disguised as text/plain (what a cross-site form can send without a CORS preflight), is
    # refused before it is read: no login CSRF
    async with s.post(f"{base}/api/login", data={"login": "anna", "password": "x"}) as r:
        assert (r.status, (await r.json())["code"]) == (415, "unsupported_media_type")
    body = orjson.dumps({"login": "anna", "password": PASSWORD})
    async with s.post(f"{base}/api/login", data=body, headers={"Content-Type": "text/plain"}) as r:
        assert (r.status, (await r.json())["code"]) == (415, "unsupported_media_type")
    await assert_serving(support)


# ---- the console websocket ------------------------------------------------------------------------


async def test_console_socket_survives_hostile_frames(support):
    anna = await support.operator("anna")
    v = await support.visitor("support")
    await v.say("hello")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    for frame, code in (
        ({"type": "take", "dialog_id": 42}, "missing_field"),
        ({"type": "reply", "dialog_id": dialog_id, "client_msg_id": ["x"], "text": "hi"}, "missing_field"),
        (
            {"type": "reply", "dialog_id": dialog_id, "client_msg_id": "c", "text": {"html": "<b>"}},
            "missing_field",
        ),
        ({"type": "presence", "status": None}, "bad_field"),
        ({"type": None}, "unknown_type"),
        ("\x00\x01\x02", "bad_json"),
        ('"just a string"', "bad_json"),
        ({"type": "transfer", "dialog_id": dialog_id, "to_operator": 7}, "missing_field"),
    ):
        await anna.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())
        assert (await anna.expect("error"))["code"] == code, frame
    # control characters are stripped from what an operator stores too? no: operators' text is kept as typed,
    # but it is always rendered as text; and the socket still works
    await anna.reply(dialog_id, "still here")
    # a frame over the console's 256 KiB limit closes only that socket
    big = await support.session.ws_connect(f"{support.base}/api/console/ws", headers=anna.headers)
    await big.receive()  # hello
    await big.send_str("x" * (300 * 1024))
    closing = await big.receive()
    while closing.type == aiohttp.WSMsgType.TEXT:  # frames already on their way (the reply's message.status)
        closing = await big.receive()
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert big.close_code == 1009
    await anna.reply(dialog_id, "the first socket is unaffected")
    await assert_serving(support)


async def test_console_socket_with_invalid_utf8_is_closed_alone(support):
    anna = await support.operator("anna")
    raw = await support.session.ws_connect(f"{support.base}/api/console/ws", headers=anna.headers)
    await raw.receive()  # hello
    # a text frame (opcode 1) whose payload is not UTF-8, written below aiohttp's client API
    await raw._writer.send_frame(b"\xff\xfe{\x80}", aiohttp.WSMsgType.TEXT)  # type: ignore[attr-defined]
    msg = await raw.receive()
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert raw.close_code == 1007
    await anna.send({"type": "presence", "status": "away"})
    assert (await anna.expect("presence", lambda f: f["status"] == "away"))["status"] == "away"


# ---- every REST endpoint ----------------------------------------------------------------------------


async def test_every_rest_endpoint_answers_bad_input_with_a_coded_json_error(support):
    anna = await support.operator("anna")
    s, base, h = support.session, support.base, anna.headers
    long_id = "x" * 5_000
    # past aiohttp's request-line limit (8 KiB) its parser answers 400 before our app sees anything
    async with s.get(f"{base}/api/dialogs/{'x' * 10_000}", headers=h) as r:
        assert r.status == 400
    cases = [
        ("GET", f"/api/dialogs/{long_id}", None, 404, "not_found"),
        ("GET", f"/api/dialogs/{long_id}/messages", None, 404, "not_found"),
        ("GET", "/api/dialogs/%00%ff", None, 404, "not_found"),
        ("GET", "/api/dialogs?state=" + "z" * 5000, None, 400, "bad_field"),
        ("GET", f"/api/leads/{long_id}", None, 404, "not_found"),
        ("PATCH", f"/api/leads/{long_id}", {"name": "x"}, 404, "not_found"),
        ("GET", "/api/nothing-here", None, 404, "not_found"),
        ("DELETE", "/api/leads/x", None, 405, "method_not_allowed"),
        ("POST", "/api/me", {}, 405, "method_not_allowed"),
    ]
    for method, path, body, status, code in cases:
        async with s.request(method, f"{base}{path}", json=body, headers=h) as r:
            assert r.status == status, (method, path[:60], r.status)
            assert r.content_type == "application/json", (method, path[:60])
            assert (await r.json())["code"] == code, (method, path[:60])
    # a query far longer than any lead field: searched as given (truncated), never an error
    async with s.get(f"{base}/api/leads", params={"query": "%" * 2_000}, headers=h) as r:
        assert r.status == 200 and (await r.json())["leads"] == []
    v = await support.visitor("support")
    await v.say("lead please")
    lead_id = (await anna.expect("dialog.offered"))["dialog"]["lead"]["id"]
    for raw, ctype, status, code in (
        (b"[1,2]", "application/json", 400, "bad_json"),
        (b"\xff\xfe", "application/json", 400, "bad_json"),
        (b'{"name": "x"}', "text/plain", 415, "unsupported_media_type"),
        (b'{"name": "' + b"n" * 300 + b'"}', "application/json", 400, "bad_field"),
        (b'{"status": null}', "application/json", 400, "unknown_status"),
        (b'{"email": ["a@b.c"]}', "application/json", 400, "bad_field"),
    ):
        async with s.patch(
            f"{base}/api/leads/{lead_id}", data=raw, headers={**h, "Content-Type": ctype}
        ) as r:
            assert (r.status, (await r.json())["code"]) == (status, code), raw[:40]
    await assert_serving(support)


# ---- the YAML ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        b"\xff\xfe\x00garbage",
        b"version: 1\n" + b"lines: [" * 2000,
        b"&a [*a]",
        b"version: 1\noperators: !!python/object/apply:os.system ['echo pwned']\n",
        b"- just\n- a\n- list\n",
        b"",
    ],
    ids=["binary", "deep-nesting", "alias-loop", "python-tag", "not-a-mapping", "empty"],
)
def test_hostile_yaml_is_reported_never_raised(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_bytes(text)
    settings, problems = load_settings(path, env={}, channel_validators=VALIDATORS)
    assert settings is None
    assert problems and all(str(p).startswith(f"{path}:") for p in problems)


async def test_a_message_is_refused_as_unavailable_while_shared_limits_are_away(tmp_path, start_daemon):
    d = await start(tmp_path, start_daemon, widget_line("support"))
    widget = d.daemon.connectors["widget"]
    with socket.socket() as s:  # a port nothing listens on: the shared limits' Redis is away
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    away, kept = RedisLimits(f"redis://127.0.0.1:{port}"), widget.limits
    widget.limits = away
    try:
        v = await d.visitor("support")
        refused = await send_message(v, "m1")
        assert (refused["type"], refused["code"], refused["client_msg_id"]) == ("error", "unavailable", "m1")
        assert refused["retry_after"] >= 1
        assert await d.daemon.store.count("messages") == 0
        widget.limits = kept  # back: the same message sent again is stored
        assert (await send_message(v, "m1"))["type"] == "ack"
        assert await d.daemon.store.count("messages") == 1
    finally:
        await away.close()
