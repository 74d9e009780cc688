"""Real websocket clients of the public protocol, for integration tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

Frame = dict[str, Any]


class _Socket:
    def __init__(self) -> None:
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.frames: list[Frame] = []
        self._new = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    def _start_reader(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                async with self._new:
                    self.frames.append(orjson.loads(msg.data))
                    self._new.notify_all()

    async def send(self, frame: Frame | str) -> None:
        """Send a frame (a dict as JSON, or a raw string as is)."""
        assert self.ws is not None
        await self.ws.send_str(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    async def expect(
        self,
        type_: str | tuple[str, ...],
        where: Callable[[Frame], bool] = lambda f: True,
        timeout: float = 5.0,
    ) -> Frame:
        """Wait for (and consume) the first frame of a type (or one of several) that matches."""
        types = type_ if isinstance(type_, tuple) else (type_,)

        def matches() -> bool:
            return any(f.get("type") in types and where(f) for f in self.frames)

        async with self._new:
            try:
                await asyncio.wait_for(self._new.wait_for(matches), timeout)
            except TimeoutError:
                raise AssertionError(f"no {type_} frame within {timeout}s; got {self.frames}") from None
        i = next(i for i, f in enumerate(self.frames) if f.get("type") in types and where(f))
        return self.frames.pop(i)

    async def absent(
        self, type_: str, where: Callable[[Frame], bool] = lambda f: True, wait: float = 0.5
    ) -> None:
        """Assert no matching frame arrives within `wait` seconds."""
        await asyncio.sleep(wait)
        matching = [f for f in self.frames if f.get("type") == type_ and where(f)]
        assert not matching, f"unexpected {type_} frames: {matching}"

    async def close(self) -> None:
        """Close the socket."""
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


class Visitor(_Socket):
    """A site visitor speaking the widget protocol."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        line: str,
        token: str | None = None,
        identity: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.session, self.base, self.line, self.token = session, base, line, token
        self.identity = identity  # the site's signed user (connectors/widget_identity.py)
        self.hello: Frame | None = None

    async def connect(self) -> Frame:
        """Open the socket and exchange hello."""
        self.ws = await self.session.ws_connect(
            f"{self.base.replace('http', 'ws')}/widget/ws?line={self.line}"
        )
        self._start_reader()
        hello: dict[str, Any] = {"type": "hello", "protocol": 1, "visitor_token": self.token}
        if self.identity is not None:
            hello["identity"] = self.identity
        await self.send(hello)
        self.hello = await self.expect("hello")
        self.token = self.hello["visitor_token"]
        return self.hello

    async def upload(
        self, data: bytes, name: str, mime: str, *, token: str | None = None, field: str = "file"
    ) -> tuple[int, dict[str, Any]]:
        """POST a file to /widget/upload with this visitor's token (or `token`); the status and the JSON body."""
        form = aiohttp.FormData(quote_fields=False)  # the name as a browser sends it
        form.add_field(field, data, filename=name, content_type=mime)
        auth = {"Authorization": f"Bearer {token if token is not None else self.token}"}
        async with self.session.post(
            f"{self.base}/widget/upload?line={self.line}", data=form, headers=auth
        ) as r:
            return r.status, dict(await r.json())

    async def say(self, text: str, client_msg_id: str | None = None) -> Frame:
        """Send a message and wait for its ack."""
        cmid = client_msg_id or uuid.uuid4().hex
        await self.send({"type": "message", "client_msg_id": cmid, "text": text})
        return await self.expect("ack", lambda f: f["client_msg_id"] == cmid)


class Operator(_Socket):
    """An operator logged in to the console API."""

    def __init__(self, session: aiohttp.ClientSession, base: str, login: str, password: str) -> None:
        super().__init__()
        self.session, self.base, self.login, self.password = session, base, login, password
        self.token = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def connect(self, *, online: bool = True) -> None:
        """Log in, open the console socket, and wait until the router sees us online."""
        async with self.session.post(
            f"{self.base}/api/login", json={"login": self.login, "password": self.password}
        ) as r:
            assert r.status == 200, await r.text()
            self.token = (await r.json())["token"]
        self.ws = await self.session.ws_connect(f"{self.base}/api/console/ws", headers=self.headers)
        self._start_reader()
        await self.expect("hello")
        if online:
            await self.expect("presence", lambda f: f["status"] == "online")

    async def get(self, path: str) -> Any:
        """GET a REST path, expecting 200."""
        async with self.session.get(f"{self.base}{path}", headers=self.headers) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Any REST call with a JSON body: the status and the JSON answer, whatever the status."""
        async with self.session.request(method, f"{self.base}{path}", json=body, headers=self.headers) as r:
            return r.status, await r.json()

    async def patch(self, path: str, body: Frame) -> tuple[int, Any]:
        """PATCH a REST path."""
        async with self.session.patch(f"{self.base}{path}", json=body, headers=self.headers) as r:
            return r.status, await r.json()

    async def reply(self, dialog_id: str, text: str, client_msg_id: str | None = None, **extra: Any) -> Frame:
        """Answer a dialog and wait for the ack."""
        cmid = client_msg_id or uuid.uuid4().hex
        await self.send(
            {"type": "reply", "dialog_id": dialog_id, "client_msg_id": cmid, "text": text, **extra}
        )
        return await self.expect("ack", lambda f: f["client_msg_id"] == cmid)
