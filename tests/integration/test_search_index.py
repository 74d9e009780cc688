"""SQLite's search index a moment behind the messages (migration 0013, crm_core/search_index.py): the batch
writer indexes what was stored without anyone searching, a search finds every message stored before it, edits
and deletes of messages indexed or not leave the index exact, and what a crash left unindexed is caught up."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from alembic import command

from crm_core.migrate import alembic_config, upgrade
from crm_core.store import Changes, Store
from tests.integration.test_search import World, texts

pytestmark = pytest.mark.backends("sqlite")


def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def watermark(path: Path) -> int:
    with _db(path) as db:
        return int(db.execute("SELECT indexed_rowid FROM messages_fts_progress").fetchone()[0])


def newest(path: Path) -> int:
    with _db(path) as db:
        return int(db.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0])


def in_index(path: Path, word: str) -> int:
    """Messages the FTS index itself holds for a word (not through a search, which catches up first)."""
    with _db(path) as db:
        return int(
            db.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?", (word,)).fetchone()[0]
        )


async def until(check, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    assert check()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "crm.db"


@pytest.fixture
async def lite(path: Path):
    upgrade(f"sqlite+aiosqlite:///{path}")
    s = Store.open(f"sqlite+aiosqlite:///{path}")
    yield s
    await s.close()


async def test_the_batch_writer_indexes_stored_messages_without_a_search(lite: Store, path: Path):
    w = World(lite)
    d = await w.dialog()
    await w.say(d, "first parcel", "second parcel")
    assert newest(path) > 0
    await until(lambda: watermark(path) == newest(path))
    assert in_index(path, "parcel") == 2
    # a burst bigger than one chunk is indexed to the end, chunk after chunk
    await w.say(d, *[f"burst number{i} parcel" for i in range(1200)])
    await until(lambda: watermark(path) == newest(path), timeout=15)
    assert in_index(path, "parcel") == 1202
    assert in_index(path, "number1199") == 1


async def test_a_search_finds_what_was_stored_just_before_it(lite: Store, path: Path):
    w = World(lite)
    d = await w.dialog()
    await until(lambda: watermark(path) == newest(path))
    await w.say(d, "the courier never came")
    assert await texts(lite, "courier") == ["the courier never came"]
    assert watermark(path) == newest(path)


async def test_edits_before_and_after_indexing_leave_the_index_exact(lite: Store, path: Path):
    w = World(lite)
    d = await w.dialog()
    (indexed,) = await w.say(d, "old wording alpha")
    await until(lambda: watermark(path) == newest(path))
    (fresh,) = await w.say(d, "old wording beta")
    # edited in the same moment it was stored, before the writer indexed it: indexed once, with the new text
    await lite.apply(Changes(message_updates=[{"id": fresh, "text": "new wording beta"}]))
    await lite.apply(Changes(message_updates=[{"id": indexed, "text": "new wording alpha"}]))
    assert await texts(lite, "old") == []
    assert sorted(await texts(lite, "wording")) == ["new wording alpha", "new wording beta"]
    assert in_index(path, "beta") == 1 and in_index(path, "alpha") == 1


async def test_a_deleted_newest_message_does_not_hide_the_next_one(lite: Store, path: Path):
    w = World(lite)
    d = await w.dialog()
    await w.say(d, "kept message", "deleted message")
    await until(lambda: watermark(path) == newest(path))
    top = newest(path)
    with _db(path) as db:
        db.execute("DELETE FROM messages WHERE rowid = ?", (top,))
    assert watermark(path) == top - 1  # SQLite hands the rowid out again: it must count as not indexed
    await w.say(d, "reused rowid message")
    assert newest(path) == top
    assert await texts(lite, "message") == ["reused rowid message", "kept message"]
    assert in_index(path, "deleted") == 0


async def test_what_a_crash_left_unindexed_is_caught_up(path: Path):
    upgrade(f"sqlite+aiosqlite:///{path}")
    first = Store.open(f"sqlite+aiosqlite:///{path}")
    w = World(first)
    d = await w.dialog()
    await w.say(d, "before the crash")
    await first.close()
    # stored but never indexed, as when the process died before the writer's next tenth of a second
    with _db(path) as db:
        db.execute("UPDATE messages_fts_progress SET indexed_rowid = 0")
        db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('delete-all')")
    assert in_index(path, "crash") == 0
    second = Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        w2 = World(second)
        d2 = await w2.dialog()  # a batch without messages still lets the writer catch up
        assert d2
        await until(lambda: watermark(path) == newest(path))
        assert in_index(path, "crash") == 1
    finally:
        await second.close()


async def test_without_the_batch_writer_a_search_catches_up(path: Path):
    upgrade(f"sqlite+aiosqlite:///{path}")
    s = Store.open(f"sqlite+aiosqlite:///{path}", batch_writer=False)
    try:
        w = World(s)
        d = await w.dialog()
        await w.say(d, "through sqlalchemy")
        assert in_index(path, "sqlalchemy") == 0  # nothing indexes in the background on this path
        assert await texts(s, "SQLAlchemy") == ["through sqlalchemy"]
        assert watermark(path) == newest(path)
    finally:
        await s.close()


def test_the_migration_keeps_what_0012_indexed_and_goes_back_cleanly(path: Path):
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0012")
    with _db(path) as db:  # a base 0012's triggers indexed
        db.execute("PRAGMA foreign_keys=OFF")
        for n, text in enumerate(("indexed by the trigger", "another indexed one")):
            db.execute(
                "INSERT INTO messages (id, dialog_id, channel, account, direction, author_kind, author_name, text, "
                "visibility, attachments, created_at, delivery_attempts) "
                "VALUES (?, 'd', 'widget', 'main', 'in', 'customer', 'A', ?, 'public', '[]', '2026-12-07', 0)",
                (f"m{n}", text),
            )
    upgrade(url)
    assert watermark(path) == newest(path) == 2
    assert in_index(path, "indexed") == 2
    with _db(path) as db:
        db.execute("PRAGMA foreign_keys=OFF")
        db.execute(
            "INSERT INTO messages (id, dialog_id, channel, account, direction, author_kind, author_name, text, "
            "visibility, attachments, created_at, delivery_attempts) "
            "VALUES ('m9', 'd', 'widget', 'main', 'in', 'customer', 'A', 'stored later', 'public', '[]', "
            "'2026-12-07', 0)"
        )
    assert in_index(path, "later") == 0  # no insert trigger any more
    command.downgrade(alembic_config(url), "0012")
    assert in_index(path, "later") == 1  # what was waiting is indexed on the way down
    with _db(path) as db:
        triggers = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert {"messages_fts_insert", "messages_fts_update", "messages_fts_delete"} <= triggers
        assert not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'messages_fts_progress'").fetchall()


def _open_files(path: Path) -> list[str]:
    """This process's open descriptors on the database file (Linux)."""
    out = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = fd.readlink()
        except OSError:
            continue
        if str(target).startswith(str(path)):
            out.append(str(target))
    return out


async def test_a_closed_store_leaves_the_file_closed_with_messages_still_unindexed(path: Path):
    upgrade(f"sqlite+aiosqlite:///{path}")
    s = Store.open(f"sqlite+aiosqlite:///{path}")
    w = World(s)
    d = await w.dialog()
    await w.say(d, "stored just before the stop")
    writer = s._sqlite
    assert writer is not None
    # the stop comes the moment the writer's next indexing is due: its idle turn after the close must not run it
    writer._unindexed, writer._indexed_at = True, 0.0
    await s.close()
    await asyncio.sleep(0.3)  # past the writer's next idle turn: it must not open the file again
    assert _open_files(path) == []
    again = Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        assert await texts(again, "stop") == ["stored just before the stop"]
    finally:
        await again.close()
