"""The SQLite batch writer (crm_core/sqlite_batch.py) against SQLAlchemy's path: the same batches leave the same
bytes in every table, and the writer's own connection shares the file with the pool's."""

from __future__ import annotations

import asyncio
import copy
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from crm_core.migrate import upgrade
from crm_core.store import Changes, DuplicateKey, StaleDialog, Store

NOW = datetime(2026, 12, 5, 9, 30, 15, 123456, tzinfo=UTC)
TABLES = ("leads", "identities", "dialogs", "messages", "dialog_events", "outbox")


def batches() -> list[Changes]:
    """A conversation's life in four batches, with every kind of value: defaults left out, aware datetimes in
    another zone, JSON, booleans, NUL and non-ASCII text, updates of one row twice, outbox rows and their deletion."""
    later = NOW + timedelta(minutes=2)
    moscow = timezone(timedelta(hours=3))
    first = Changes(
        leads=[{"id": "L1", "name": "Иван", "status": "new", "created_at": NOW, "updated_at": NOW}],
        identities=[  # display_name and profile left to their defaults
            {
                "id": "I1",
                "lead_id": "L1",
                "channel": "telegram",
                "account": "bot",
                "external_id": "42",
                "created_at": NOW,
            }
        ],
        dialogs_new=[
            {
                "id": "D1",
                "lead_id": "L1",
                "identity_id": "I1",
                "line_id": "support",
                "channel": "telegram",
                "account": "bot",
                "chat_id": "42",
                "state": "queued",
                "retry_at": datetime(2026, 12, 5, 15, 0, tzinfo=moscow),
                "created_at": NOW,
                "updated_at": NOW,
            }
        ],
        messages=[
            {
                "id": "M1",
                "dialog_id": "D1",
                "channel": "telegram",
                "account": "bot",
                "external_id": "m-1",
                "direction": "in",
                "author_kind": "customer",
                "text": "привет\x00 🚲",
                "attachments": [{"name": "a.png", "mime": "image/png", "size": 10, "ref": "r1", "url": None}],
                "created_at": NOW,
            }
        ],
        events=[
            {"id": "E1", "dialog_id": "D1", "kind": "opened", "data": {"line": "support"}, "at": NOW},
            {"id": "E2", "dialog_id": "D1", "kind": "noted", "data": None, "at": NOW},  # JSON null, not NULL
        ],
        outbox=[{"id": "O1", "stream": "console", "key": None, "payload": '[{"a":1}]', "created_at": NOW}],
    )
    second = Changes(
        dialogs_changed={
            "D1": {
                "id": "D1",
                "state": "assigned",
                "operator": "anna",
                "offered_to": ["anna", "boris"],
                "no_answer_sent": True,
                "version": 0,
            }
        },
        lead_updates=[{"id": "L1", "status": "in_work", "updated_at": later}],
        messages=[
            {
                "id": "M2",
                "dialog_id": "D1",
                "channel": "telegram",
                "account": "bot",
                "external_id": "m-2",
                "direction": "out",
                "author_kind": "operator",
                "author_id": "anna",
                "author_name": "Anna",
                "text": "<b>not html</b>",
                "attachments": [],
                "delivery_state": "queued",  # a reply names its delivery state, the inbound one below does not
                "created_at": later,
            },
            {
                "id": "M3",
                "dialog_id": "D1",
                "channel": "telegram",
                "account": "bot",
                "external_id": "m-3",
                "direction": "in",
                "author_kind": "customer",
                "text": "thanks",
                "attachments": [],
                "created_at": later,
            },
        ],
        outbox_done=["O1"],
    )
    third = Changes(
        message_updates=[
            {"id": "M2", "delivery_state": "queued", "delivery_attempts": 1},
            {"id": "M1", "text": "edited", "edited_at": later},
            {"id": "M2", "delivery_state": "sent", "delivered_at": later},
        ],
        dialogs_changed={"D1": {"id": "D1", "state": "closed", "closed_at": later, "version": 1}},
    )
    return [first, second, third]


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    db = sqlite3.connect(path)
    try:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in TABLES}
    finally:
        db.close()


async def open_store(path: Path, *, batch_writer: bool) -> Store:
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    return Store.open(url, batch_writer=batch_writer)


async def test_the_writer_stores_what_sqlalchemys_path_stores(tmp_path: Path) -> None:
    fast = await open_store(tmp_path / "writer.db", batch_writer=True)
    slow = await open_store(tmp_path / "sqlalchemy.db", batch_writer=False)
    try:
        assert fast._sqlite is not None and slow._sqlite is None  # the two paths under comparison
        for ch in batches():
            await fast.apply(copy.deepcopy(ch))
            await slow.apply(copy.deepcopy(ch))
    finally:
        await fast.close()
        await slow.close()
    written, expected = dump(tmp_path / "writer.db"), dump(tmp_path / "sqlalchemy.db")
    assert expected["messages"] and expected["dialogs"] and not expected["outbox"]
    db = sqlite3.connect(tmp_path / "sqlalchemy.db")
    try:  # both paths kept the reply's delivery state though the batch's other message names none
        states = dict(db.execute("SELECT id, delivery_state FROM messages").fetchall())
    finally:
        db.close()
    assert states == {"M1": None, "M2": "sent", "M3": None}
    for table in TABLES:
        assert written[table] == expected[table], table


async def test_the_writer_refuses_a_taken_key_and_a_stale_version_and_writes_nothing(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "crm.db", batch_writer=True)
    try:
        first, second, _ = batches()
        await store.apply(first)
        again = copy.deepcopy(second)
        again.messages.append({**first.messages[0], "id": "M9"})  # m-1 once more, under a new id
        with pytest.raises(DuplicateKey):
            await store.apply(again)
        stale = copy.deepcopy(second)
        stale.dialogs_changed["D1"]["version"] = 7
        with pytest.raises(StaleDialog):
            await store.apply(stale)
        rows = dump(tmp_path / "crm.db")
        assert [m[0] for m in rows["messages"]] == ["M1"], "neither batch left a message"
        assert [o[0] for o in rows["outbox"]] == ["O1"], "neither batch deleted the outbox row"
        await store.apply(second)  # the writer is still usable after both failures
        assert [m[0] for m in dump(tmp_path / "crm.db")["messages"]] == ["M1", "M2", "M3"]
    finally:
        await store.close()


async def test_the_writer_and_the_pool_write_the_same_file_at_once(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "crm.db", batch_writer=True)
    try:
        first, _, _ = batches()
        await store.apply(first)
        template = first.messages[0]
        writes: list[Any] = [
            store.apply(Changes(messages=[{**template, "id": f"N{i}", "external_id": f"n-{i}"}]))
            for i in range(30)
        ]
        # sessions go through SQLAlchemy's pool; consents take SQLAlchemy's path of the batch itself
        writes += [
            store.create_session(f"{i:064d}", "anna", NOW, NOW + timedelta(hours=1)) for i in range(10)
        ]
        consent = {"channel": "telegram", "account": "bot", "external_id": "42", "allowed": False}
        writes.append(store.apply(Changes(consents=[consent])))
        await asyncio.gather(*writes)
        assert await store.count("messages") == 31
        assert await store.session_login(f"{3:064d}", NOW) == "anna"
    finally:
        await store.close()
    db = sqlite3.connect(tmp_path / "crm.db")
    try:
        assert db.execute("SELECT messages_allowed FROM identities WHERE id = 'I1'").fetchone() == (0,)
    finally:
        db.close()


async def test_a_cancelled_caller_waits_for_the_write_to_end(tmp_path: Path) -> None:
    # the writer thread cannot be stopped: the engine must not reload or undo while a commit is still in flight
    store = await open_store(tmp_path / "crm.db", batch_writer=True)
    assert (
        await store.count("leads") == 0
    )  # the pool's first connection puts the file in WAL mode, as at start-up
    blocker = sqlite3.connect(tmp_path / "crm.db", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: the writer waits (busy_timeout)
        first, _, _ = batches()
        task = asyncio.create_task(store.apply(first))
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.sleep(0.3)
        assert not task.done(), "the cancelled caller returned while its write was in flight"
        blocker.execute("ROLLBACK")
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (
            await store.count("leads") == 1
        )  # the write ended (here: committed) before the caller was let go
    finally:
        blocker.close()
        await store.close()


async def test_a_database_that_cannot_be_opened_is_an_outage_and_the_writer_reconnects(
    tmp_path: Path,
) -> None:
    home = tmp_path / "var"
    home.mkdir()
    store = await open_store(home / "crm.db", batch_writer=True)
    try:
        first, second, _ = batches()
        (tmp_path / "var").rename(tmp_path / "away")  # the file is gone before the writer's first batch
        with pytest.raises(OperationalError):  # the engine retries this as an outage
            await store.apply(copy.deepcopy(first))
        (tmp_path / "away").rename(tmp_path / "var")
        await store.apply(first)
        await store.apply(second)
        assert await store.count("messages") == 3
    finally:
        await store.close()


async def test_an_import_through_the_writer_stores_what_sqlalchemys_path_stores(tmp_path: Path) -> None:
    contacts: list[dict[str, Any]] = [
        {"name": f"Contact {i}", "phone": f"+7 916 000-{i:02d}-00", "email": f"C{i}@Example.com"}
        | (
            {"identity": {"channel": "telegram", "account": "bot", "external_id": str(i % 40)}}
            if i % 3
            else {}
        )
        for i in range(60)
    ]
    contacts.append({"name": "bad contacts", "phone": "12", "email": "not an e-mail", "status": "vip"})
    distinct = len({c["identity"]["external_id"] for c in contacts if "identity" in c})
    without = [c for c in contacts if "identity" not in c]
    fast = await open_store(tmp_path / "writer.db", batch_writer=True)
    slow = await open_store(tmp_path / "sqlalchemy.db", batch_writer=False)
    try:
        for store in (fast, slow):
            # two imports, the second repeating the first's identities: those rows are skipped whole
            first = await store.import_contacts(contacts, chunk_size=25, now=NOW)
            again = await store.import_contacts(contacts[:30], chunk_size=7, now=NOW)
            assert first == distinct + len(without) and again == len(
                [c for c in without if c in contacts[:30]]
            )
    finally:
        await fast.close()
        await slow.close()

    def content(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        db = sqlite3.connect(path)
        try:  # everything but the generated ids, each identity with its lead's name
            lead_rows = db.execute(
                "SELECT name, phone, email, status, source, responsible, created_at, updated_at FROM leads "
                "ORDER BY name, status"
            ).fetchall()
            identity_rows = db.execute(
                "SELECT i.channel, i.account, i.external_id, i.display_name, i.profile, i.created_at, l.name "
                "FROM identities i JOIN leads l ON l.id = i.lead_id ORDER BY i.external_id"
            ).fetchall()
            return lead_rows, identity_rows
        finally:
            db.close()

    assert content(tmp_path / "writer.db") == content(tmp_path / "sqlalchemy.db")
