"""The state of one `consume()` call on the Redis bus, which its loop, reads, claims, acks and leases share; and
ending its reads in progress."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from queues.bus import Entry
from queues.redis_bundles import BundleProgress
from queues.redis_client import raise_if_cancelled


class ConsumerState:
    """The state of one `consume()` call."""

    def __init__(self, stream: str, group: str, name: str, partitions: int) -> None:
        self.stream = stream
        self.group = group
        self.name = name
        self.token = f"{name}:{uuid.uuid4().hex}"
        self.partitions = partitions
        self.shared = partitions == 1
        self.owned: set[int] = {0} if self.shared else set()
        self.fresh: set[int] = set()  # acquired, not yet claimed from the former owner
        self.to_release: set[int] = set()
        self.lock = asyncio.Lock()  # the renewal task and the loop's releases change `owned` one at a time
        self.changed = asyncio.Event()  # partitions acquired: interrupt a blocked read to read them too
        self.renewer: asyncio.Task[None] | None = None
        self.cleanup: asyncio.Future[None] | None = None
        self.dead = False  # abandoned (a simulated crash): nothing is given back
        self.need_claim = True  # claim before the next read (just started, or the last claim found more)
        self.next_claim = 0.0  # monotonic time of the next periodic claim
        self.inflight: dict[str, asyncio.Future[Any]] = {}  # Cluster: a blocking read per partition key
        self.reading: asyncio.Future[Any] | None = None  # the blocking read in progress (one Redis)
        self.unseen: set[str] = set()  # Entry ids an in-flight read got that the PEL re-read delivers first
        self.bundles = BundleProgress()
        self.buffer: list[Entry] = []  # read (so in the PEL), not yet delivered: the next batches
        self.linger = 0.0  # seconds a read that got less than a batch waits for more (`max_wait`)

    def interrupt(self) -> None:
        """End the blocking read now (it returns no entries; the consumer loop decides what next)."""
        if self.reading is not None and not self.reading.done():
            self.reading.cancel()

    async def drop_inflight(self, names: Sequence[str] | None = None) -> None:
        """Cancel in-flight reads (a re-read of the PEL, a released partition, the end): what they read is in
        our PEL, where the PEL re-read (or the partition's next owner) finds it."""
        tasks = [
            self.inflight.pop(n)
            for n in list(self.inflight if names is None else names)
            if n in self.inflight
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
            raise_if_cancelled()
