"""Redis and PostgreSQL go away in the middle of a stream of widget messages, with the several-process layout
running: everything reconnects, every message the browser saw acknowledged is stored, each exactly once, in
order. Redis restarts with the persistence the README recommends (append-only file, fsync every second)."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.cluster import Cluster, make_cluster, start_layout, visitor_stream
from tests.pg_server import PgServer
from tests.redis_server import RedisServer

CONVERSATIONS, PER_CONVERSATION = 40, 20


@pytest.fixture
def persistent_redis() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    server = RedisServer(binary, persistent=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        yield s


async def stream_through(
    c: Cluster, session: aiohttp.ClientSession, outage: Callable[[], None], pg_url: str
) -> None:
    """Stream messages, cause the outage a third of the way in, and check what got stored."""
    await start_layout(c, routers=2)
    acked = [0]
    streams = [
        asyncio.create_task(visitor_stream(session, c.base("web-1"), PER_CONVERSATION, i, acked))
        for i in range(CONVERSATIONS)
    ]
    while acked[0] < CONVERSATIONS * PER_CONVERSATION // 3:
        assert not any(t.done() and t.exception() for t in streams)
        await asyncio.sleep(0.05)
    before = acked[0]
    await asyncio.to_thread(outage)
    sent = await asyncio.wait_for(asyncio.gather(*streams), 240)
    assert acked[0] == CONVERSATIONS * PER_CONVERSATION > before
    db = create_async_engine(pg_url)
    try:
        async with db.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT d.chat_id, m.text FROM messages m JOIN dialogs d ON d.id = m.dialog_id "
                        "WHERE m.author_kind = 'customer' ORDER BY m.created_at, m.id"
                    )
                )
            ).all()
    finally:
        await db.dispose()
    by_chat: dict[str, list[str]] = defaultdict(list)
    for chat_id, body in rows:
        by_chat[chat_id].append(body)
    assert len(rows) == CONVERSATIONS * PER_CONVERSATION, "each acknowledged message stored exactly once"
    assert sorted(by_chat.values()) == sorted(sent), "in order within each conversation"


async def test_redis_restarting_mid_stream_loses_nothing_acknowledged(
    tmp_path: Path, persistent_redis: RedisServer, pg_database: str, session: aiohttp.ClientSession
) -> None:
    def restart() -> None:
        persistent_redis.shutdown_nosave()
        time.sleep(2)  # everyone notices: publishes fail, consumers back off
        persistent_redis.start_again()

    with make_cluster(tmp_path, persistent_redis.url, pg_database) as c:
        await stream_through(c, session, restart, pg_database)
        logs = c.log("router-1") + c.log("router-2")
        assert "redis unreachable" in logs or "engine.tick.failed" in logs or "renewal of inbound" in logs


async def test_postgresql_restarting_mid_stream_loses_nothing_acknowledged(
    tmp_path: Path,
    persistent_redis: RedisServer,
    pg_server: PgServer,
    pg_database: str,
    session: aiohttp.ClientSession,
) -> None:
    with make_cluster(tmp_path, persistent_redis.url, pg_database) as c:
        await stream_through(c, session, pg_server.restart, pg_database)
        assert "engine.batch.failed" in c.log("router-1") + c.log("router-2")
