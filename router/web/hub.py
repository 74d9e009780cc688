"""The console hub: operators' console sockets, fed with the console events the router publishes."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import timedelta

import orjson
from aiohttp import web

from crm_core.ids import new_id
from crm_core.store import Store
from queues.bus import CONSOLE, INBOUND, Bus, conversation_key, in_process_listen, process_group
from queues.messages import ConsoleEvent, Event, OperatorPresence
from queues.redis_client import raise_if_cancelled
from queues.sockets import Push, Pusher
from router.app import log_events as ev
from router.app.clock import Clock
from router.app.logs import get
from router.app.settings import Settings
from router.cluster.shared_load import SharedLoad
from router.protocol.times import iso
from router.web.auth import Sessions

log = get(__name__)
SESSION_ENDED = "session.ended"
CLOSE_SESSION_ENDED = 4401  # the websocket close code of a socket whose session ended (log in again)
_ENDED = {
    "type": SESSION_ENDED,
    "code": "session_ended",
    "message": "your session has ended; please sign in again",
}


class ConsoleHub:
    """Operators' console sockets; console events from the bus go to their recipients."""

    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        store: Store,
        clock: Clock,
        tabs: SharedLoad | None = None,
        sessions: Sessions | None = None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.store = store
        self.clock = clock
        self.sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self.batching: set[web.WebSocketResponse] = set()  # sockets that take `batch` frames
        self.pusher = Pusher()
        self.wanted: dict[str, str] = {}  # the status each operator chose; online on connect by default
        self._conv_keys: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] | None = None
        self._group = process_group("console")
        # several web processes: where each operator's consoles are open (router/cluster/shared_load.py, the tabs)
        self.tabs = tabs
        self.ttl: timedelta = settings.queue.presence_ttl
        self._process = self._group  # unique per web process
        self._renewing: asyncio.Task[None] | None = None
        # each socket's session (by digest): a session that ends closes its sockets, in every web process
        self.sessions = sessions
        self._session_of: dict[web.WebSocketResponse, str] = {}
        self._by_session: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self._checking: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start relaying console events from the bus (and, with several web processes, renewing our tabs)."""
        listen = in_process_listen(self.bus)
        if (
            listen is not None
        ):  # the embedded bus hands them over as they are published, without a task of ours
            self._unlisten = listen(CONSOLE, self._group, self._relay_events)
        else:
            self._task = asyncio.create_task(self._relay(), name="console.relay")
        if self.tabs is not None:
            self._renewing = asyncio.create_task(self._renew(), name="console.tabs")
        if self.sessions is not None:
            self._checking = asyncio.create_task(self._check_sessions(), name="console.sessions")

    async def stop(self) -> None:
        """Stop the relay and close every socket."""
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        for task in (self._task, self._renewing, self._checking):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for group in list(self.sockets.values()):
            for ws in list(group):
                with contextlib.suppress(Exception):
                    await ws.close(code=1001, message=b"server shutdown")

    def presence(self, login: str) -> str:
        """Presence as this web process sees it."""
        return self.wanted.get(login, "online") if self.sockets.get(login) else "offline"

    async def presences(self, logins: Iterable[str]) -> dict[str, str]:
        """Every operator's presence: as the router last applied it with several web processes (an operator's
        consoles may be open in another one), as this process sees it otherwise."""
        names = list(logins)
        if self.tabs is not None:
            with contextlib.suppress(Exception):  # Redis away: this process's view is the best we have
                return (await self.tabs.load(names)).presence
        return {login: self.presence(login) for login in names}

    async def tab(self, login: str, connected: bool, want: str | None = None) -> None:
        """This process got its first socket of an operator, lost its last one, or the operator chose a status:
        tell the router the presence that results (across every web process, with several)."""
        if want is not None:
            self.wanted[login] = want
        if self.tabs is None:
            await self.publish_presence(login, self.wanted.get(login, "online") if connected else "offline")
            return
        p = await self.tabs.tab(login, self._process, connected, want, self.clock.now(), self.ttl)
        await self.publish_presence(login, p.status, p.seq)

    async def _renew(self) -> None:
        assert self.tabs is not None
        while True:
            await asyncio.sleep(self.ttl.total_seconds() / 3)
            try:
                await self.tabs.renew_tabs(list(self.sockets), self._process, self.clock.now(), self.ttl)
            except Exception as exc:  # Redis away: the next round renews them (a third of the TTL later)
                raise_if_cancelled()  # redis-py may surface our cancellation as an error: end, don't loop
                log.warning(ev.CONSOLE_TABS_FAILED, error=str(exc))

    async def _relay(self) -> None:
        async for batch in self.bus.consume(CONSOLE, self._group, "relay", max_batch=1000, max_wait=0):
            await self._relay_events([e.event for e in batch.entries])
            await batch.ack()

    async def _relay_events(self, published: list[Event]) -> None:
        events = [e for e in published if isinstance(e, ConsoleEvent)]
        ended = [e for e in events if e.frame.get("type") == SESSION_ENDED]
        for e in ended:
            await self._close_session(str(e.frame.get("session") or ""))
        await self.deliver([e for e in events if e.frame.get("type") != SESSION_ENDED] if ended else events)

    # ---- sessions ------------------------------------------------------------------------------------

    def watch(self, ws: web.WebSocketResponse, session: str) -> None:
        """Remember which session a socket was opened with."""
        self._session_of[ws] = session
        self._by_session[session].add(ws)

    def unwatch(self, ws: web.WebSocketResponse) -> None:
        """Forget a closed socket."""
        session = self._session_of.pop(ws, None)
        if session is not None:
            self._by_session[session].discard(ws)
            if not self._by_session[session]:
                del self._by_session[session]

    async def session_ended(self, login: str, session: str) -> None:
        """A session ended here (logout): close its sockets here and tell the other web processes."""
        await self._close_session(session)
        event = ConsoleEvent(new_id(), (login,), {"type": SESSION_ENDED, "session": session})
        await self.bus.publish(CONSOLE, [event])

    async def _close_session(self, session: str) -> None:
        if self.sessions is not None:
            self.sessions.forget(session)
        sockets = self._by_session.pop(session, set())
        for ws in sockets:
            self._session_of.pop(ws, None)
            with contextlib.suppress(Exception):
                await ws.send_str(orjson.dumps(_ENDED).decode())
                await ws.close(code=CLOSE_SESSION_ENDED, message=b"session ended")
        if sockets:
            log.info(ev.AUTH_SESSION_ENDED, sockets=len(sockets))

    async def _check_sessions(self) -> None:
        """Now and then, the sessions of the open sockets again (expired, deleted, or their password changed)."""
        assert self.sessions is not None
        every = self.settings.http.session_check_interval.total_seconds()
        while True:
            await asyncio.sleep(every)
            for session in list(self._by_session):
                try:
                    live = await self.sessions.live(session)
                except Exception as exc:  # the store away: keep the sockets, look again next round
                    log.warning(ev.AUTH_SESSION_CHECK_FAILED, error=str(exc))
                    break
                if live is None:
                    await self._close_session(session)

    async def deliver(self, events: list[ConsoleEvent]) -> None:
        """Send each event's frame to every socket of its recipients, in order; a socket that asked for batches
        gets the frames of one call in one `batch` frame. A tab that stopped reading is dropped, not waited on."""
        out: dict[web.WebSocketResponse, tuple[str, list[bytes]]] = {}
        for event in events:
            data = orjson.dumps(event.frame)
            for login in event.recipients:
                for ws in self.sockets.get(login, ()):
                    out.setdefault(ws, (login, []))[1].append(data)
        for ws, (login, frames) in out.items():
            if len(frames) > 1 and ws in self.batching:
                frames = [b'{"type":"batch","frames":[' + b",".join(frames) + b"]}"]
            for data in frames:
                if await self.pusher.push(ws, data) is Push.STALLED:
                    log.warning(ev.CONSOLE_STALLED, operator=login)
                    self.sockets[login].discard(ws)
                    break

    async def conversation_of(self, dialog_id: str) -> str | None:
        """The bus key of a dialog's conversation, so commands land on its partition."""
        key = self._conv_keys.get(dialog_id)
        if key is None:
            row = await self.store.get_dialog(dialog_id)
            if row is None:
                return None
            key = self._conv_keys[dialog_id] = conversation_key(
                row["channel"], row["account"], row["chat_id"]
            )
        return key

    async def publish_presence(self, login: str, status: str, seq: int = 0) -> None:
        """Tell the router about an operator's presence."""
        event = OperatorPresence(new_id(), login, status, iso(self.clock.now()) or "", seq)
        await self.bus.publish(INBOUND, [event], key=f"operator:{login}")
