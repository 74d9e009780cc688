"""One community's Bots Long Poll loop: the server and key from groups.getLongPollServer, `failed` answers as
VK documents them, and the `ts` checkpoint moved past a batch only after the router's commit receipts for it.

The long poll itself blocks in requests: it runs on a daemon thread, never on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from connectors.backoff import Backoff
from connectors.base import ConnectorContext
from connectors.vk_client import VkCallError, VkClient
from queues.messages import CustomerConsent, InboundMessage
from queues.redis_client import raise_if_cancelled

T = TypeVar("T")
RECEIPT_TIMEOUT = 10.0  # how long the next long poll waits for the router's commit of a batch
MAX_PUBLISHES = 5  # an event whose receipt never comes is published this often, then given up
# getLongPollServer errors a retry cannot fix (token, rights, group id, Long Poll switched off)
REFUSING_CODES = {5, 7, 15, 27, 28, 100}
Translate = Callable[[list[dict[str, Any]]], Awaitable[list[InboundMessage | CustomerConsent]]]
Run = Callable[..., Awaitable[Any]]


class LongPoll:
    """The Bots Long Poll loop of one community, started and stopped with it."""

    def __init__(
        self,
        client: VkClient,
        ctx: ConnectorContext,
        *,
        account: str,
        line_id: str,
        checkpoint_key: str,
        wait: int,
        translate: Translate,
        run: Run,
        log: Any,
    ) -> None:
        self.client, self.ctx, self.account, self.line_id = client, ctx, account, line_id
        self.checkpoint_key, self.wait = checkpoint_key, wait
        self._translate, self._run, self._log = translate, run, log
        self._pending: dict[str, InboundMessage] = {}  # published, receipt not back yet
        self._receipt = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start the loop."""
        self._task = asyncio.create_task(self._poll(), name=f"vk.{self.account}")

    async def stop(self) -> None:
        """Stop the loop; a long poll in flight is abandoned (its events were not committed: VK sends them again)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def committed(self, external_id: str) -> None:
        """The router's receipt for a message came back."""
        if self._pending.pop(external_id, None) is not None:
            self._receipt.set()

    async def _poll(self) -> None:
        backoff = Backoff()
        saved = await self.ctx.checkpoints.get(self.account, self.checkpoint_key)
        ts: str | None = saved
        server = key = None
        while not self._stopping:
            try:
                if server is None or key is None:
                    lp = await self._run(self.client.long_poll_server)
                    server, key = str(lp["server"]), str(lp["key"])
                    if ts is None:  # never polled (or VK lost the history): start from now
                        ts = str(lp["ts"])
                    if ts != saved:  # nothing is in flight: a restart must not skip what comes meanwhile
                        await self.ctx.checkpoints.set(self.account, self.checkpoint_key, ts)
                        saved = ts
                    self._log.info("vk.longpoll.server", ts=ts)
                    self.ctx.health.set(self.account, "up")
                assert ts is not None
                answer = await _in_daemon_thread(self.client.check, server, key, ts, self.wait)
            except Exception as exc:  # the loop must outlive any failure: back off and try again
                raise_if_cancelled()  # ... but not its own cancellation, which redis-py may surface as an error
                code = exc.code if isinstance(exc, VkCallError) else None
                if code in REFUSING_CODES:
                    self._refuse(exc)
                    return
                delay = backoff.next()
                self._log.warning("vk.api.down", error=str(exc)[:300], retry_in=round(delay, 1))
                self.ctx.health.set(
                    self.account, "down", f"long poll failed: {exc}; retrying in {delay:.1f}s"
                )
                if code is not None:  # an API error (not the network): ask for the server again
                    server = key = None
                await asyncio.sleep(delay)
                continue
            if backoff.failures:
                self._log.info("vk.longpoll.recovered", failures=backoff.failures)
                self.ctx.health.set(self.account, "up")
                backoff.failures = 0
            failed = answer.get("failed")
            if failed is not None:
                # as VK documents: 1 = history lost, go on from the new ts; 2 = the key expired, get a new one
                # (same ts); 3 = information lost, get a new key and ts
                self._log.warning("vk.longpoll.failed", failed=failed)
                if failed == 1 and answer.get("ts") is not None:
                    ts = str(answer["ts"])
                else:
                    server = key = None
                    if failed != 2:
                        ts = None
                if ts is not None and ts != saved:
                    await self.ctx.checkpoints.set(self.account, self.checkpoint_key, ts)
                    saved = ts
                continue
            try:
                await self._take(list(answer.get("updates") or []))
            except Exception as exc:  # the bus refused them: poll the same ts again, VK sends them again
                raise_if_cancelled()
                self._pending.clear()
                delay = backoff.next()
                self._log.error(
                    "vk.publish.failed", error=f"{type(exc).__name__}: {exc}"[:300], retry_in=delay
                )
                await asyncio.sleep(delay)
                continue
            if self._stopping:
                return
            ts = str(answer.get("ts") or ts)
            if ts != saved:  # every event before it is committed: a restart resumes here
                await self.ctx.checkpoints.set(self.account, self.checkpoint_key, ts)
                saved = ts

    def _refuse(self, exc: Exception) -> None:
        detail = (
            f"vk channel of line {self.line_id!r}: VK refused the long poll ({exc}); check the community "
            "token (messages rights), group_id, and that Bots Long Poll API is on with message events"
        )
        self._log.error("vk.longpoll.refused", error=str(exc)[:300])
        self.ctx.health.set(self.account, "refused", detail)

    async def _take(self, updates: list[dict[str, Any]]) -> None:
        """Publish a batch of events, then wait (bounded) for their receipts before the ts moves past them."""
        events = await self._translate(updates)
        if not events:
            return
        messages = [e for e in events if isinstance(e, InboundMessage)]
        for m in messages:
            self._pending[m.external_id] = m
        # consent events get no receipt from the router: they count as done once published
        await cast(Any, self.ctx.sink).publish(events)
        for attempt in range(1, MAX_PUBLISHES + 1):
            if await self._receipts():
                return
            if self._stopping:
                return
            again = list(self._pending.values())
            if attempt == MAX_PUBLISHES:
                break
            # the router dedupes by external id: a receipt lost on the way costs nothing
            self._log.warning("vk.receipt.overdue", count=len(again))
            await self.ctx.sink.publish(again)
        for m in self._pending.values():
            self._log.error("vk.event.abandoned", external_id=m.external_id)
        self._pending.clear()

    async def _receipts(self) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECEIPT_TIMEOUT
        while self._pending:
            self._receipt.clear()
            try:
                await asyncio.wait_for(self._receipt.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                return not self._pending
        return True


def _in_daemon_thread(fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run a blocking call (a long poll) on a daemon thread: a stop abandons it instead of waiting for it, and
    the process may exit while it still waits for VK."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if not future.done():
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    def run() -> None:
        try:
            result, error = fn(*args), None
        except BaseException as exc:
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="vk-longpoll", daemon=True).start()
    return future
