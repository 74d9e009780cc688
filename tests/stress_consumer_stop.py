"""A manual stress check (not collected by pytest: minutes long): a Redis bus consumer with a 1 s lease is cancelled
at a random moment, again and again, while entries are published, and must end within 15 s each time; a stuck one
prints every task's await chain. It found the lease renewal that swallowed its cancellation (one cancellation in
about 160 hung before the fix; 2 x 600 ran clean after it).

    .venv/bin/python -m tests.stress_consumer_stop 300
"""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from queues.bus import INBOUND
from queues.messages import DialogTimer
from queues.redis_streams import RedisBus
from tests.await_chain import await_chain


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _once(url: str, i: int) -> bool:
    bus = RedisBus(url, partitions=4, lease_time=1.0)

    async def consume() -> None:
        async for batch in bus.consume(INBOUND, "router", f"c{i}", max_batch=10, max_wait=0.002):
            await asyncio.sleep(random.random() * 0.01)
            await batch.ack()

    async def publish() -> None:
        for k in range(random.randint(0, 30)):
            due = "2026-11-23T10:00:00Z"
            await bus.publish(
                INBOUND, [DialogTimer(f"e{i}-{k}", "d", "offer_expired", due, due)], key=f"k{k}"
            )
            await asyncio.sleep(random.random() * 0.02)

    consumer, publisher = asyncio.ensure_future(consume()), asyncio.ensure_future(publish())
    await asyncio.sleep(random.random() * 1.5)
    consumer.cancel()
    done, _ = await asyncio.wait({consumer}, timeout=15)
    if not done:
        print(f"consumer {i} did not end when cancelled; its tasks:")
        for task in asyncio.all_tasks():
            print(f"--- {task!r}", *await_chain(task), sep="\n")
        return False
    publisher.cancel()
    await bus.close()
    return True


async def rounds_on(url: str, rounds: int) -> int:
    """Cancel `rounds` consumers; 1 at the first that does not end."""
    for i in range(rounds):
        if not await _once(url, i):
            return 1
    print(f"{rounds} cancellations, every consumer ended")
    return 0


def main(rounds: int) -> int:
    logging.basicConfig(level=logging.WARNING)
    data = tempfile.mkdtemp()
    port = _free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", data],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        return asyncio.run(rounds_on(f"redis://127.0.0.1:{port}/0", rounds))
    finally:
        server.terminate()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
