"""Operators' uploads that were never sent: a file uploaded for a reply that no message of its dialog carries after
a grace is removed (an upload route would otherwise be free storage for anyone with a session)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Protocol

from crm_core.store import Store
from router.app import log_events as ev
from router.app.clock import Clock
from router.app.logs import get

log = get(__name__)
GRACE = timedelta(hours=24)  # an operator may upload, then write the reply for a long while
EVERY = 3600.0  # seconds between sweeps


class Deletable(Protocol):
    async def delete(self, key: str) -> None:
        """Remove a stored file (nothing when it is gone already)."""
        ...


class UploadSweeper:
    """Removes the files of old uploads no message carries, and forgets the records of those that were sent."""

    def __init__(self, store: Store, files: Deletable, clock: Clock, *, grace: timedelta = GRACE) -> None:
        self.store = store
        self.files = files
        self.clock = clock
        self.grace = grace
        self._task: asyncio.Task[None] | None = None

    def start(self, every: float = EVERY) -> None:
        """Sweep now and then, in the background."""
        self._task = asyncio.create_task(self._loop(every), name="uploads.sweep")

    async def stop(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self, every: float) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as exc:  # the store away: the next round sweeps
                log.warning(ev.UPLOADS_SWEPT, error=str(exc))
            await asyncio.sleep(every)

    async def sweep(self) -> int:
        """One pass; how many unsent files were removed."""
        removed = 0
        while True:
            sent, unsent = await self.store.old_uploads(self.clock.now() - self.grace)
            for ref in unsent:
                await self.files.delete(ref)
            await self.store.forget_uploads(sent + unsent)
            removed += len(unsent)
            if not sent and not unsent:
                break
        if removed:
            log.info(ev.UPLOADS_SWEPT, removed=removed)
        return removed
