"""One engine batch on SQLite in one hop to a thread of its own: the statements of `Changes` as plain `sqlite3`
executemany calls on a connection kept for the engine's batches, in one transaction.

Why: through SQLAlchemy a batch costs a pool checkout, and every statement is built, cache-keyed and compiled
again and its parameters processed row by row, each statement a hop to aiosqlite's thread and back (the greenlet
of `run_sync` waits on each). At 1,000 msg/s on the embedded defaults a batch holds two or three messages, and
that per-batch work was most of the daemon's CPU. Here the SQL text is built once per table and set of columns,
the values are bound by the columns' own SQLAlchemy bind processors (so a row is stored exactly as the
SQLAlchemy insert stores it: UTC datetimes as text, JSON serialised, booleans as integers; our text types, which
change values on PostgreSQL only, are passed as they are, and a datetime column remembers its recent results),
missing columns take their Python-side defaults, and the whole batch is one call into the writer thread. Bulk
imports (`Store.import_contacts`) use the same connection through `SqliteWriter.transaction`.

Errors come back as SQLAlchemy's (IntegrityError for a taken idempotency key, OperationalError for a locked or
unreachable file) so the engine treats them as it treats the other path's. Batches with the read-then-write kinds
of change (`lead_fills`, `consents`) take the SQLAlchemy path (`supports`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from crm_core.columns import python_defaults
from crm_core.errors import StaleDialog
from crm_core.models import (
    PortableText,
    UTCDateTime,
    dialog_events,
    dialogs,
    identities,
    lead_events,
    leads,
    messages,
    outbox,
)
from crm_core.search_index import CHUNK, index_all, index_pending, sqlite3_runner
from crm_core.writer_thread import WriterThread

# the order of `apply_sync` (crm_core/sqlalchemy_batch.py): what `Changes` holds, its table, and how it is written
_STEPS = (
    ("leads", leads, "insert"),
    ("identities", identities, "insert"),
    ("dialogs_new", dialogs, "insert"),
    ("dialogs_changed", dialogs, "versioned"),
    ("lead_updates", leads, "update"),
    ("messages", messages, "insert"),
    ("message_updates", messages, "update"),
    ("events", dialog_events, "insert"),
    ("lead_events", lead_events, "insert"),
    ("outbox", outbox, "insert"),
)

Processor = Callable[[Any], Any] | None
T = TypeVar("T")
BUSY_TIMEOUT_S = 10.0  # every connection to the file (`configure`)
# how soon after a batch stored messages they are indexed for search (migration 0013): at 1,000 msg/s a hundred
# or so in one transaction, instead of a new FTS5 segment in every batch's
INDEX_AFTER_S = 0.1
INDEX_RETRY_S = (
    10.0  # after the index could not be written (the file locked for long): try again this much later
)
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Table:
    name: str
    order: dict[str, int]  # column name → position (the SQL lists columns in the table's order)
    processors: dict[str, Processor]
    defaults: tuple[tuple[str, Callable[[], Any]], ...]


def _processor(column: Any, dialect: Dialect) -> Processor:
    """The column's SQLAlchemy bind processor on this dialect; None where it would return every value as it is
    (our text types change values on PostgreSQL only: a call per value saved)."""
    if isinstance(column.type, PortableText) and dialect.name != "postgresql":
        return None
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return _remembered(process) if process is not None and isinstance(column.type, UTCDateTime) else process


def _remembered(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A datetime column's processor that remembers its last few hundred results: a batch's rows mostly carry
    the batch's own `now` (an import chunk: one time for all), and formatting one costs more than a lookup.
    Equal datetimes are the same instant whatever their zone, and the processor writes the instant in UTC."""
    seen: dict[Any, Any] = {}

    def remembered(value: Any) -> Any:
        out = seen.get(value)
        if out is None:
            out = process(value)  # a naive datetime raises here every time: it is never remembered
            if len(seen) >= 512:
                seen.clear()
            seen[value] = out
        return out

    return remembered


def _table(table: Table, dialect: Dialect) -> _Table:
    return _Table(
        table.name,
        {str(c.name): i for i, c in enumerate(table.columns)},
        {str(c.name): _processor(c, dialect) for c in table.columns},
        python_defaults(table),
    )


def supports(ch: Any) -> bool:
    """Whether the plain path can write these changes (the read-then-write kinds cannot)."""
    return not ch.lead_fills and not ch.consents


Statement = tuple[
    str, list[tuple[Any, ...]], int | None
]  # SQL, rows of parameters, rows it must match (or None)


class Plans:
    """The SQL of each table and set of columns, built once, and the binding of a batch's rows to it."""

    def __init__(self, dialect: Dialect) -> None:
        self.tables = {
            t.name: _table(t, dialect)
            for t in (leads, identities, dialogs, messages, dialog_events, lead_events, outbox)
        }
        self._sql: dict[tuple[str, str, tuple[str, ...]], str] = {}
        self._binders: dict[tuple[str, tuple[str, ...]], Callable[[dict[str, Any]], tuple[Any, ...]]] = {}
        self._ordered: dict[tuple[str, ...], tuple[str, ...]] = {}  # a row's keys as written → in table order

    def _binder(self, t: _Table, cols: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
        """A row's values for `cols`, each through its column's processor (None too: a JSON column binds it as
        JSON null); built once per table and set of columns."""
        key = (t.name, cols)
        binder = self._binders.get(key)
        if binder is None:
            pairs = [(c, t.processors[c]) for c in cols]

            def binder(row: dict[str, Any]) -> tuple[Any, ...]:
                return tuple([row[c] if p is None else p(row[c]) for c, p in pairs])

            self._binders[key] = binder
        return binder

    def _insert(self, t: _Table, rows: list[dict[str, Any]]) -> list[Statement]:
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        ordered = self._ordered
        for row in rows:
            full = dict(row)
            for name, default in t.defaults:
                if name not in full:
                    full[name] = default()
            named = (t.name, *full)  # rows from one place name their keys in one order: sorted once
            cols = ordered.get(named)
            if cols is None:
                cols = ordered[named] = tuple(sorted(full, key=t.order.__getitem__))
            groups.setdefault(cols, []).append(full)
        out: list[Statement] = []
        for cols, group in groups.items():
            key = ("insert", t.name, cols)
            sql = self._sql.get(key)
            if sql is None:
                sql = self._sql[key] = (
                    f"INSERT INTO {t.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                )
            bind = self._binder(t, cols)
            out.append((sql, [bind(r) for r in group], None))
        return out

    def _update(self, t: _Table, rows: list[dict[str, Any]], *, versioned: bool) -> list[Statement]:
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        skip = ("id", "version") if versioned else ("id",)
        for row in rows:
            cols = tuple(sorted((k for k in row if k not in skip), key=t.order.__getitem__))
            groups.setdefault(cols, []).append(row)
        out: list[Statement] = []
        for cols, group in groups.items():
            key = ("update-versioned" if versioned else "update", t.name, cols)
            sql = self._sql.get(key)
            if sql is None:
                sets = [f"{c} = ?" for c in cols]
                where = "id = ?"
                if versioned:  # the row matches only at the version the engine read, and bumps it
                    sets.append("version = version + 1")
                    where += " AND version = ?"
                sql = self._sql[key] = f"UPDATE {t.name} SET {', '.join(sets)} WHERE {where}"
            bind = self._binder(t, cols)
            params = [(*bind(r), r["id"], *((r["version"],) if versioned else ())) for r in group]
            out.append((sql, params, len(group) if versioned else None))
        return out

    def statements(self, ch: Any) -> list[Statement]:
        """The batch's statements in the order the SQLAlchemy path runs them."""
        out: list[Statement] = []
        for attr, table, how in _STEPS:
            rows = getattr(ch, attr)
            if not rows:
                continue
            t = self.tables[table.name]
            if how == "insert":
                out += self._insert(t, rows)
            else:
                out += self._update(
                    t, list(rows.values()) if how == "versioned" else rows, versioned=how == "versioned"
                )
        if ch.outbox_done:
            out.append(("DELETE FROM outbox WHERE id = ?", [(i,) for i in ch.outbox_done], None))
        return out


def configure(cur: Any) -> None:
    """A new connection's settings, on a DB-API cursor (the writer's own connection and the pool's alike)."""
    # first the busy timeout: everything after it waits for another connection's write lock rather than failing
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    # WAL (readers, the console, never block the writer) is a property of the file, set once; asked for again
    # while another connection writes, SQLite answers "locked" at once, without the busy timeout
    cur.execute("PRAGMA journal_mode")
    if str(cur.fetchone()[0]).lower() != "wal":
        cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")


def _connect(path: str) -> sqlite3.Connection:
    # autocommit mode: the transaction is the explicit BEGIN IMMEDIATE below (the write lock taken up front, so
    # a concurrent writer waits busy_timeout rather than failing an upgrade from a read lock)
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        configure(db.cursor())
    except BaseException:
        db.close()
        raise
    return db


def execute(db: sqlite3.Connection, statements: list[Statement]) -> None:
    """Run statements inside a transaction (SqliteWriter.transaction); a versioned one must match its rows."""
    for sql, params, expect in statements:
        try:
            matched = db.executemany(sql, params).rowcount
        except sqlite3.Error as exc:
            raise _as_sqlalchemy(sql, exc) from exc
        if expect is not None and matched != expect:
            raise StaleDialog(f"{expect - matched} of {expect} dialogs not at the version expected")


def _as_sqlalchemy(sql: str, exc: sqlite3.Error) -> DBAPIError:
    """SQLAlchemy's error for a sqlite3 one, as the engine tells them apart: a taken key, an outage (retried),
    anything else with the connection marked invalid (it is dropped; the batch is retried on a new one)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(sql, None, exc)
    if isinstance(exc, sqlite3.OperationalError):
        return OperationalError(sql, None, exc)
    return DBAPIError(sql, None, exc, connection_invalidated=True)


class SqliteWriter:
    """The engine's batches on a SQLite file: a connection of its own, used from one thread of its own, which
    also indexes the stored messages for search a moment later (crm_core/search_index.py)."""

    def __init__(self, path: str, dialect: Dialect) -> None:
        self.path = path
        self.plans = Plans(dialect)
        self._db: sqlite3.Connection | None = None
        # the writer thread's own: whether messages may wait to be indexed (at start: whatever a crash left)
        self._unindexed = True
        self._indexed_at = 0.0
        self._thread = WriterThread("openlines-sqlite-writer", idle=self._index_later)

    async def apply(self, ch: Any) -> None:
        """Write the batch in one transaction; raises IntegrityError, OperationalError or StaleDialog."""
        statements = self.plans.statements(ch)
        if statements:
            await self.transaction(self._batch, statements, bool(ch.messages))

    def _batch(self, db: sqlite3.Connection, statements: list[Statement], stores_messages: bool) -> None:
        execute(db, statements)
        if stores_messages:
            self._unindexed = True

    async def catch_up_search(self) -> int:
        """Index every stored message not yet indexed (before a search); returns how many."""
        return await self.transaction(_index_all)

    def _index_later(self) -> float | None:
        """In the writer thread between calls: index a chunk of the messages stored since the last time, once
        INDEX_AFTER_S has passed; returns how long the thread may wait for a call before asking again (None:
        nothing is waiting to be indexed)."""
        if not self._unindexed:
            return None
        wait = self._indexed_at + INDEX_AFTER_S - time.monotonic()
        if wait > 0:
            return wait
        self._indexed_at = time.monotonic()
        try:
            indexed = self._in_transaction(_index_chunk, ())
        except Exception as exc:  # the index catches up at the next try, or before the next search
            log.warning("store.search_index.failed", error=str(exc))
            self._indexed_at += INDEX_RETRY_S
            return INDEX_RETRY_S
        if indexed < CHUNK:
            self._unindexed = False
            return None
        return 0.0  # more of them (a burst): the next chunk after the batch that may be waiting

    async def transaction(self, work: Callable[..., T], *args: Any) -> T:
        """`work(connection, *args)` in the writer thread between BEGIN IMMEDIATE and COMMIT (rolled back if it
        raises), sqlite3's errors raised as SQLAlchemy's. A cancelled caller still waits for the transaction to
        end (committed or rolled back) before it sees the cancellation: the thread cannot be stopped, and the
        caller must not act on a write still in flight."""
        done: asyncio.Future[T] = self._thread.run(self._in_transaction, work, args)
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await done
            raise

    def _in_transaction(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        sql = "connect"
        try:
            db = self._db
            if db is None:
                db = self._db = _connect(self.path)
            sql = "BEGIN IMMEDIATE"
            db.execute(sql)
            try:
                result = work(db, *args)
                sql = "COMMIT"
                db.execute(sql)
                return result
            except BaseException:
                self._roll_back(db)
                raise
        except sqlite3.Error as exc:  # connecting, BEGIN, COMMIT, or a statement of `work` unwrapped
            error = _as_sqlalchemy(sql, exc)
            if error.connection_invalidated:
                self._drop()
            raise error from exc
        except DBAPIError as error:  # a statement of `work`, wrapped by `execute`
            if error.connection_invalidated:
                self._drop()
            raise

    def _roll_back(self, db: sqlite3.Connection) -> None:
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
        except sqlite3.Error:
            self._drop()  # closing it rolls back; the next batch opens a new connection

    def _drop(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    async def close(self) -> None:
        """Close the connection (in its thread) and end the thread; what is not indexed yet is indexed at the
        next start or before the next search."""
        try:
            await self._thread.run(self._close_now)
        finally:
            self._thread.stop()

    def _close_now(self) -> None:
        self._unindexed = False  # the thread's idle work must not open the file again after this
        self._drop()


def _index_chunk(db: sqlite3.Connection) -> int:
    return index_pending(sqlite3_runner(db))


def _index_all(db: sqlite3.Connection) -> int:
    return index_all(sqlite3_runner(db))
