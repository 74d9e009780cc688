"""The SQLite batch writer's thread (crm_core/sqlite_batch.py): runs calls in order, settles each caller's future on
its event loop, and between calls runs the writer's idle work (indexing messages for search)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import structlog

T = TypeVar("T")
IDLE_RETRY_S = 1.0  # an idle task that raised runs again after this
log = structlog.get_logger(__name__)


class WriterThread:
    """One thread that runs calls in order and settles each caller's future on its loop: the writer's own,
    lighter than a one-worker ThreadPoolExecutor (no concurrent Future, lock and chained callbacks per batch,
    which at small batches was a tenth of a commit's event-loop time). A daemon: a transaction cut off at
    interpreter exit is rolled back by SQLite. `idle` runs after each call and when a wait it asked for ends
    without one; it returns how long to wait for the next call before it runs again (None: until a call)."""

    def __init__(self, name: str, idle: Callable[[], float | None] | None = None) -> None:
        self._name = name
        self._idle = idle
        self._calls: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Any] | None] = (
            queue.SimpleQueue()
        )
        self._started: threading.Thread | None = None

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`fn(*args)` in the thread; the future (of the running loop) gets its result or exception."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if self._started is None:
            self._started = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._started.start()
        self._calls.put((fn, args, future))
        return future

    def stop(self) -> None:
        """End the thread after the calls queued before."""
        if self._started is not None:
            self._calls.put(None)
            self._started = None

    def _loop(self) -> None:
        wait: float | None = None
        call: tuple[Callable[..., Any], tuple[Any, ...], Any] | tuple[()] | None
        while True:
            try:
                call = self._calls.get(timeout=wait)
            except queue.Empty:  # the wait `idle` asked for ended without a call
                call = ()
            if call is None:
                return
            if call:
                fn, args, future = call
                try:
                    outcome: tuple[Any, BaseException | None] = (fn(*args), None)
                except BaseException as exc:
                    outcome = (None, exc)
                with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody is waiting
                    future.get_loop().call_soon_threadsafe(_settle, future, *outcome)
            wait = self._idle_safely()

    def _idle_safely(self) -> float | None:
        # the thread must outlive a failing idle task: every write after it would wait for it forever
        if self._idle is None:
            return None
        try:
            return self._idle()
        except Exception as exc:
            log.error("store.writer.idle_failed", thread=self._name, error=f"{type(exc).__name__}: {exc}")
            return IDLE_RETRY_S


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
