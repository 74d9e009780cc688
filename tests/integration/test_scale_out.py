"""Several processes on Redis and PostgreSQL: `openlines run --role web|router|connectors` as real processes (the
commands supervisord.conf runs), console fan-out across web processes, and a router worker killed with SIGKILL
in the middle of a stream. Redis and PostgreSQL are the throwaway servers the test suite starts; every test runs
on one Redis here and again on a three-primary Redis Cluster (`queue.cluster: true`) in test_scale_out_cluster.py
(a module of its own, so the two runs go to two test workers)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.clients import Operator, Visitor
from tests.cluster import CAPACITY, OPERATORS, PATIENCE, Cluster, make_cluster, start_layout, visitor_stream
from tests.conftest import PASSWORD
from tests.redis_server import redis_cluster, redis_cluster_url, redis_server, redis_url  # noqa: F401  (fixtures)

LAYOUTS = ("redis",)  # tests/integration/conftest.py parametrizes `layout` by it


@pytest.fixture
def cluster(
    tmp_path: Path, pg_database: str, request: pytest.FixtureRequest, layout: str
) -> Iterator[Cluster]:
    on_cluster = layout == "redis-cluster"
    url = request.getfixturevalue("redis_cluster_url" if on_cluster else "redis_url")
    with make_cluster(tmp_path, url, pg_database, redis_cluster=on_cluster) as c:
        yield c


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:  # 200 sockets at once
        yield s


async def test_an_operator_on_one_web_process_answers_a_visitor_on_another(
    cluster: Cluster, session: aiohttp.ClientSession
) -> None:
    await start_layout(cluster, routers=2)
    anna = Operator(session, cluster.base("web-2"), "anna", PASSWORD)
    await anna.connect()
    visitor = Visitor(session, cluster.base("web-1"), "site")
    await visitor.connect()
    await visitor.say("hello from web-1")
    offer = await anna.expect("dialog.offered", timeout=PATIENCE)
    await anna.reply(offer["dialog_id"], "hi from web-2")
    got = await visitor.expect("message", lambda f: f["text"] == "hi from web-2", timeout=PATIENCE)
    assert got["author"]["kind"] == "operator"
    # delivered by every web process to its own sockets, reported once (not once per web process)
    status = await anna.expect("message.status", lambda f: f["message_id"] == got["id"], timeout=PATIENCE)
    assert status["state"] == "sent"
    await anna.absent("message.status", lambda f: f["message_id"] == got["id"], wait=1.5)
    health = await (await session.get(f"{cluster.base('web-1')}/healthz")).json()
    assert health["backends"] == {"store": "postgresql", "bus": "redis"}
    await visitor.close()
    await anna.close()


async def test_a_visitors_allowance_is_one_across_the_web_processes(
    cluster: Cluster, session: aiohttp.ClientSession
) -> None:
    await start_layout(cluster, routers=1)
    first = Visitor(session, cluster.base("web-1"), "strict")
    await first.connect()
    for i in range(3):  # the burst, on web-1
        await first.say(f"m{i}")
    # the same visitor (another tab) on web-2: its allowance is spent there too, nothing is stored
    second = Visitor(session, cluster.base("web-2"), "strict", token=first.token)
    await second.connect()
    await second.send({"type": "message", "client_msg_id": "over", "text": "one too many"})
    refused = await second.expect("error", lambda f: f.get("client_msg_id") == "over", timeout=PATIENCE)
    assert refused["code"] == "rate_limited" and refused["retry_after"] >= 1
    await second.absent("ack", lambda f: f["client_msg_id"] == "over", wait=0.5)
    # another visitor is not held back by it
    other = Visitor(session, cluster.base("web-2"), "strict")
    await other.connect()
    await other.say("hello")
    for v in (first, second, other):
        await v.close()


async def test_an_operator_stays_online_while_a_tab_is_open_in_any_web_process(
    cluster: Cluster, session: aiohttp.ClientSession
) -> None:
    await start_layout(cluster, routers=1)
    admin = Operator(session, cluster.base("web-1"), "admin", PASSWORD)
    await admin.connect(online=False)
    tab1 = Operator(session, cluster.base("web-1"), "anna", PASSWORD)
    tab2 = Operator(session, cluster.base("web-2"), "anna", PASSWORD)
    await tab1.connect()
    await tab2.connect()
    await tab1.close()  # her tab on web-1 is closed; the one on web-2 is still open
    visitor = Visitor(session, cluster.base("web-1"), "site")
    await visitor.connect()
    await visitor.say("anyone there?")
    offer = await tab2.expect(
        "dialog.offered", timeout=PATIENCE
    )  # still online: the dialog is offered to her
    assert offer["dialog_id"]

    async def anna() -> str:
        meta = await admin.get("/api/meta")
        return str(next(o["presence"] for o in meta["operators"] if o["login"] == "anna"))

    assert await anna() == "online"
    assert (await tab1.get("/api/me"))["presence"] == "online"  # asked of web-1, where she has no tab now
    # she takes it on web-2: the supervisor's board on web-1 shows her online with it, and how long it waited
    await tab2.send({"type": "take", "dialog_id": offer["dialog_id"]})
    await tab2.expect("dialog.assigned", timeout=PATIENCE)
    board = await admin.get("/api/admin/board")
    seat = next(o for o in board["operators"] if o["login"] == "anna")
    assert (seat["presence"], seat["open_dialogs"], seat["dialogs"]) == ("online", 1, [offer["dialog_id"]])
    row = next(d for d in board["dialogs"] if d["id"] == offer["dialog_id"])
    assert (
        row["operator"] == "anna" and row["waiting_seconds"] is not None
    )  # the customer is still unanswered
    cluster.kill("web-2")  # the web process with her last tab dies: it never says she left
    deadline = time.monotonic() + PATIENCE
    while await anna() != "offline":
        assert time.monotonic() < deadline, "a dead web process kept her online"
        await asyncio.sleep(0.2)
    await visitor.close()
    await admin.close()


async def _take_every_offer(op: Operator, stop: asyncio.Event) -> None:
    seen: set[str] = set()
    while not stop.is_set():
        try:
            offer = await op.expect("dialog.offered", lambda f: f["dialog_id"] not in seen, timeout=0.5)
        except AssertionError:
            continue
        seen.add(offer["dialog_id"])
        await op.send({"type": "take", "dialog_id": offer["dialog_id"]})


async def test_a_router_worker_killed_mid_stream_loses_nothing_and_double_assigns_nothing(
    cluster: Cluster, session: aiohttp.ClientSession, pg_database: str
) -> None:
    await start_layout(cluster, routers=2)
    ops = []
    for i, login in enumerate(OPERATORS):
        op = Operator(session, cluster.base(f"web-{i % 2 + 1}"), login, PASSWORD)
        await op.connect()
        ops.append(op)
    stop = asyncio.Event()
    takers = [asyncio.create_task(_take_every_offer(op, stop)) for op in ops]
    conversations, per_conversation = 200, 25
    acked = [0]
    streams = [
        asyncio.create_task(
            visitor_stream(session, cluster.base(f"web-{c % 2 + 1}"), per_conversation, c, acked)
        )
        for c in range(conversations)
    ]
    started = time.monotonic()
    while acked[0] < 1000:
        assert not any(t.done() and t.exception() for t in streams)
        await asyncio.sleep(0.05)
    print(f"1000 acked after {time.monotonic() - started:.1f} s")
    cluster.kill("router-1")
    sent = await asyncio.wait_for(asyncio.gather(*streams), PATIENCE * 3)
    assert acked[0] == conversations * per_conversation

    db = create_async_engine(pg_database)
    try:
        # the survivor settles the backlog; wait until every operator's slots are taken and the rest queued
        deadline = time.monotonic() + PATIENCE
        while True:
            async with db.connect() as conn:
                states = Counter(
                    r[0]
                    for r in await conn.execute(text("SELECT state FROM dialogs WHERE state != 'closed'"))
                )
            if states.get("assigned", 0) == len(OPERATORS) * CAPACITY or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*takers)
        async with db.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT d.chat_id, m.text, m.id FROM messages m JOIN dialogs d ON d.id = m.dialog_id "
                        "WHERE m.author_kind = 'customer' ORDER BY m.created_at, m.id"
                    )
                )
            ).all()
            dialogs = (
                await conn.execute(
                    text(
                        "SELECT id, chat_id, state, operator, offered_to FROM dialogs WHERE state != 'closed'"
                    )
                )
            ).all()
    finally:
        await db.dispose()
    # every message stored exactly once, in order within its conversation
    by_chat: dict[str, list[str]] = defaultdict(list)
    for chat_id, body, _ in rows:
        by_chat[chat_id].append(body)
    assert len(rows) == conversations * per_conversation
    assert sorted(by_chat.values()) == sorted(sent)
    # one dialog per conversation, each with one operator at most, nobody over capacity
    assert len(dialogs) == conversations
    assert len({d.chat_id for d in dialogs}) == conversations
    load: Counter[str] = Counter()
    for d in dialogs:
        if d.state == "assigned":
            assert d.operator in OPERATORS and not d.offered_to
            load[d.operator] += 1
        elif d.state == "offered":
            assert len(d.offered_to) == 1, d
            load[d.offered_to[0]] += 1
        else:
            assert d.state == "queued" and d.operator is None, d
    assert all(n <= CAPACITY for n in load.values()), load
    assert sum(load.values()) == len(OPERATORS) * CAPACITY, load
    assert "engine.partitions.changed" in cluster.log("router-2")
    for op in ops:
        await op.close()


async def test_a_logout_on_one_web_process_ends_the_session_on_the_other(
    cluster: Cluster, session: aiohttp.ClientSession
) -> None:
    # regression: each web process cached a token for 30 s, and a socket opened before the logout stayed open
    await start_layout(cluster, routers=1)
    anna = Operator(session, cluster.base("web-1"), "anna", PASSWORD)
    await anna.connect()
    elsewhere = Operator(session, cluster.base("web-2"), "anna", PASSWORD)
    elsewhere.token = anna.token  # the same session, its socket and its REST calls on web-2
    elsewhere.ws = await session.ws_connect(f"{cluster.base('web-2')}/api/console/ws", headers=anna.headers)
    elsewhere._start_reader()
    await elsewhere.expect("hello")
    async with session.get(f"{cluster.base('web-2')}/api/me", headers=anna.headers) as r:
        assert r.status == 200  # web-2 caches the session now
    async with session.post(f"{cluster.base('web-1')}/api/logout", headers=anna.headers) as r:
        assert r.status == 200
    await elsewhere.expect("session.ended", timeout=PATIENCE)
    async with session.get(f"{cluster.base('web-2')}/api/me", headers=anna.headers) as r:
        assert r.status == 401
    await anna.close()
    await elsewhere.close()


async def test_the_operators_day_spans_the_web_processes(
    cluster: Cluster, session: aiohttp.ClientSession
) -> None:
    """Issue 18 across processes: a transfer's note, a guest's note, the customer's rating, the search and the
    supervisor's board each reach whoever is on another web process."""
    await start_layout(cluster, routers=2)
    admin = Operator(session, cluster.base("web-1"), "admin", PASSWORD)
    await admin.connect(online=False)
    first, second = OPERATORS[0], OPERATORS[1]
    op1 = Operator(session, cluster.base("web-2"), first, PASSWORD)
    op2 = Operator(session, cluster.base("web-1"), second, PASSWORD)
    await op1.connect()
    await op2.connect()
    visitor = Visitor(session, cluster.base("web-1"), "rated")
    await visitor.connect()
    await visitor.say("Посылка 1042 потерялась")
    offer = await op1.expect("dialog.offered", timeout=PATIENCE)
    dialog_id = offer["dialog_id"]
    await op1.send({"type": "take", "dialog_id": dialog_id})
    await op1.expect("dialog.assigned", lambda f: f["dialog_id"] == dialog_id, timeout=PATIENCE)

    # the supervisor's board on web-1 sees the dialog in the hands of the operator on web-2
    board = await admin.get("/api/admin/board")
    assert next(r for r in board["dialogs"] if r["id"] == dialog_id)["operator"] == first

    # an invited colleague on web-1 writes a note the operator on web-2 sees, never the visitor
    await op1.send({"type": "invite", "dialog_id": dialog_id, "operator": second})
    await op2.expect("dialog.invited", lambda f: f["dialog_id"] == dialog_id, timeout=PATIENCE)
    await op2.send(
        {
            "type": "reply",
            "dialog_id": dialog_id,
            "client_msg_id": "n1",
            "text": "курьер",
            "visibility": "internal",
        }
    )
    await op1.expect("message", lambda f: f["message"]["text"] == "курьер", timeout=PATIENCE)

    # a transfer with a note from web-2 to web-1
    await op1.send({"type": "transfer", "dialog_id": dialog_id, "to_operator": second, "note": "resend it"})
    moved = await op2.expect("dialog.transferred", lambda f: f["dialog_id"] == dialog_id, timeout=PATIENCE)
    assert moved["note"] == "resend it"

    # closed on web-1; the visitor (web-1) rates; the console on web-2 and the admin hear of it
    await op2.send({"type": "close", "dialog_id": dialog_id})
    ask = await visitor.expect("message", lambda f: "ask_rating" in f, timeout=PATIENCE)
    assert ask["dialog_id"] == dialog_id and ask["ask_rating"]["scale"] == "five"
    await visitor.send({"type": "rate", "dialog_id": dialog_id, "score": 5, "comment": "спасибо"})
    rated = await admin.expect("dialog.rated", lambda f: f["dialog_id"] == dialog_id, timeout=PATIENCE)
    assert (rated["rating"], rated["comment"]) == (5, "спасибо")
    assert (await op2.get(f"/api/dialogs/{dialog_id}"))["rating"] == 5

    # the search (web-1) finds the customer's word in another case; the board there counts the rating
    found = await admin.get("/api/search?q=ПОСЫЛКА")
    assert [r["message"]["dialog_id"] for r in found["results"]] == [dialog_id]
    board = await admin.get("/api/admin/board")
    line = next(ln for ln in board["lines"] if ln["id"] == "rated")
    assert line["recent"] == {"closed": 1, "rated": 1, "positive": 1} and line["rating_average"] == 5
    assert not [f for f in visitor.frames if "курьер" in str(f) or "resend" in str(f)]
    for c in (visitor, op1, op2, admin):
        await c.close()
