"""SQLite's message search index, kept a moment behind the messages (migration 0013 says why).

Messages with a rowid above the watermark in `messages_fts_progress` are not in `messages_fts` yet; `index_pending`
adds the oldest of them and moves the watermark, in the caller's transaction. The batch writer runs it from its own
thread a tenth of a second after a batch stored messages (crm_core/sqlite_batch.py), and every search runs it for
whatever is left first (`Store.catch_up_search`), so a search finds every message stored before it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# rows indexed per transaction of the batch writer: ~5-10 us each, so a few ms at most that a batch may wait
CHUNK = 500
Run = Callable[[str, tuple[Any, ...]], Sequence[Sequence[Any]]]


def index_pending(run: Run, limit: int = CHUNK) -> int:
    """Index up to `limit` of the oldest messages not yet indexed (inside the caller's write transaction);
    returns how many. `run(sql, params)` executes one statement and returns its rows."""
    lo = run("SELECT indexed_rowid FROM messages_fts_progress", ())[0][0]
    hi, count = run(
        "SELECT max(rowid), count(*) FROM (SELECT rowid FROM messages WHERE rowid > ? ORDER BY rowid LIMIT ?)",
        (lo, limit),
    )[0]
    if not count:
        return 0
    run(
        "INSERT INTO messages_fts(rowid, text) SELECT rowid, text FROM messages WHERE rowid > ? AND rowid <= ?",
        (lo, hi),
    )
    run("UPDATE messages_fts_progress SET indexed_rowid = ?", (hi,))
    return int(count)


def index_all(run: Run) -> int:
    """Index every message not yet indexed (in the caller's transaction); returns how many."""
    total = 0
    while n := index_pending(run):
        total += n
    return total


def sqlite3_runner(db: Any) -> Run:
    """`run` over a sqlite3 connection (the batch writer's)."""
    return lambda sql, params: db.execute(sql, params).fetchall()
