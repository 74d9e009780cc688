"""One engine batch as one PostgreSQL statement: every insert, update and delete of `Changes` in data-modifying
CTEs over `jsonb_populate_recordset`, sent with asyncpg in one round trip and committed as one transaction.

Why: through SQLAlchemy a batch is BEGIN, a statement per table (each its own round trip and its own per-row
parameter processing in Python) and COMMIT; here the rows travel as one JSON array per table, encoded by orjson
and turned into rows by PostgreSQL's own C code. The result is the same rows: every column is filled as the
SQLAlchemy insert would (its Python-side defaults), text is bound as `PortableText` binds it (NUL dropped, cut to
a VARCHAR's length), datetimes go as ISO-8601 with their offset.

Rules the statement relies on: the sub-statements of one statement see the same snapshot, so (1) a row is
updated at most once (updates of one id are merged here, the later value of a column winning), and (2) an update
never targets a row inserted by the same batch (the engine stages such edits into the inserted row itself);
foreign keys are checked at the end of the statement, so a message may name a dialog inserted beside it. An
update names its ids once more as an array (`t.id = ANY(...)`): the planner estimates a set-returning function
at 100 rows whatever it holds, and before a table's first ANALYZE it took a hash join over a scan of the whole
table (messages!) for a handful of updates. A
changed dialog's row carries the version the engine read; the UPDATE matches only that version, and a dialog a
newer write got to first fails the whole statement (`STALE`, raised by the function of migration 0006).
Batches with the rare kinds of change that need a read-then-write (`lead_fills`, `consents`) take the
SQLAlchemy path instead (`supports`). `PgWriter` sends the statement on a connection of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import Table
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError, OperationalError

from crm_core.columns import python_defaults
from crm_core.errors import StaleDialog
from crm_core.models import dialog_events, dialogs, identities, lead_events, leads, messages, outbox

# insert order is irrelevant inside one statement; kept parent-first for readability of the SQL
_INSERTS = (
    ("leads", leads),
    ("identities", identities),
    ("dialogs_new", dialogs),
    ("messages", messages),
    ("events", dialog_events),
    ("lead_events", lead_events),
    ("outbox", outbox),
)
_UPDATES = (("lead_updates", leads), ("message_updates", messages))
STALE = "OLST1"  # the SQLSTATE openlines_check_versions raises (migration 0006)


@dataclass(frozen=True)
class _Column:
    name: str
    text: bool  # a string column: NUL is dropped
    moment: bool  # a datetime column: aware datetimes only (as UTCDateTime)
    length: int | None  # VARCHAR(n): cut to n characters


def _columns(table: Table) -> tuple[_Column, ...]:
    out = []
    for c in table.columns:
        impl = getattr(c.type, "impl_instance", None) or c.type
        python_type = None
        with contextlib.suppress(NotImplementedError):
            python_type = impl.python_type
        length = getattr(impl, "length", None)
        out.append(_Column(str(c.name), python_type is str, python_type is datetime, length))
    return tuple(out)


@dataclass(frozen=True)
class _Table:
    """What completing and cleaning a table's rows needs, computed once."""

    defaults: tuple[tuple[str, Callable[[], Any]], ...]  # columns with a Python-side default
    texts: tuple[tuple[str, int | None], ...]  # string columns and their length (None: TEXT)
    moments: tuple[str, ...]  # datetime columns


def _table(table: Table) -> _Table:
    cols = _columns(table)
    return _Table(
        python_defaults(table),
        tuple((c.name, c.length) for c in cols if c.text),
        tuple(c.name for c in cols if c.moment),
    )


_TABLES = {
    t.name: _table(t) for t in (leads, identities, dialogs, messages, dialog_events, lead_events, outbox)
}


def _clean(t: _Table, row: dict[str, Any]) -> dict[str, Any]:
    """The row with its strings bound as PortableText binds them; a naive datetime refused (as UTCDateTime)."""
    for name, length in t.texts:
        value = row.get(name)
        if value.__class__ is str and ("\x00" in value or (length is not None and len(value) > length)):
            value = value.replace("\x00", "")
            row[name] = value[:length] if length is not None else value
    for name in t.moments:
        value = row.get(name)
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
    return row


def _insert_rows(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows completed as SQLAlchemy's insert would: missing columns take their Python default."""
    t = _TABLES[table.name]
    out = []
    for row in rows:
        full = dict(row)
        for name, default in t.defaults:
            if name not in full:
                full[name] = default()
        out.append(_clean(t, full))
    return out


def _update_rows(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Updates by id merged so each row is updated once (a later value of a column wins)."""
    by_id: dict[str, dict[str, Any]] = {}
    for row in rows:
        merged = by_id.get(row["id"])
        if merged is None:
            by_id[row["id"]] = dict(row)
        else:
            merged.update(row)
    t = _TABLES[table.name]
    return [_clean(t, row) for row in by_id.values()]


def supports(ch: Any) -> bool:
    """Whether one statement can write these changes (the read-then-write kinds cannot)."""
    return not ch.lead_fills and not ch.consents


def statement(ch: Any) -> tuple[str, list[Any]]:
    """The SQL and its arguments (JSON arrays as text, the outbox ids as text[]) for one batch of changes."""
    parts: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    for attr, table in _INSERTS:
        rows = getattr(ch, attr)
        if rows:
            src = arg(orjson.dumps(_insert_rows(table, rows)).decode())
            parts.append(
                f"INSERT INTO {table.name} SELECT * FROM jsonb_populate_recordset(NULL::{table.name}, {src}::jsonb)"
            )
    check = "0"
    if ch.dialogs_changed:
        # each row carries the version its worker read: the UPDATE matches only that version and bumps it, and the
        # count the UPDATEs matched goes to openlines_check_versions, which fails the statement if one was newer.
        # Rows name only the columns that changed: one UPDATE per set of columns (a row updated with another
        # row's columns would have the ones it left out set to NULL)
        changed = _update_rows(dialogs, list(ch.dialogs_changed.values()))
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in changed:
            shapes.setdefault(tuple(sorted(c for c in row if c not in ("id", "version"))), []).append(row)
        counted = []
        for fields, group in shapes.items():
            src = arg(orjson.dumps(group).decode())
            ids = arg([row["id"] for row in group])
            targets = ", ".join([*fields, "version"])
            values = ", ".join([*(f"r.{c}" for c in fields), "t.version + 1"])
            parts.append(
                f"UPDATE dialogs AS t SET ({targets}) = ROW({values}) "
                f"FROM jsonb_populate_recordset(NULL::dialogs, {src}::jsonb) AS r "
                f"WHERE t.id = ANY({ids}::text[]) AND t.id = r.id AND t.version = r.version RETURNING 1"
            )
            counted.append(f"(SELECT count(*) FROM w{len(parts) - 1})")
        # the count is an argument, not a literal: the statement's text (and prepared plan) is one per shape
        check = f"openlines_check_versions({arg(len(changed))}::bigint, {' + '.join(counted)})"
    for attr, table in _UPDATES:
        rows = getattr(ch, attr)
        if not rows:
            continue
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in _update_rows(table, rows):
            groups.setdefault(tuple(sorted(k for k in row if k != "id")), []).append(row)
        for cols, group in groups.items():
            if not cols:
                continue
            src = arg(orjson.dumps(group).decode())
            ids = arg([row["id"] for row in group])
            targets = ", ".join(cols)
            values = ", ".join(f"r.{c}" for c in cols)
            parts.append(
                f"UPDATE {table.name} AS t SET ({targets}) = ROW({values}) "
                f"FROM jsonb_populate_recordset(NULL::{table.name}, {src}::jsonb) AS r "
                f"WHERE t.id = ANY({ids}::text[]) AND t.id = r.id"
            )
    if ch.outbox_done:
        parts.append(f"DELETE FROM outbox WHERE id = ANY({arg(list(ch.outbox_done))}::text[])")
    if not parts:
        return "", []
    # data-modifying CTEs run to completion whether or not the final SELECT reads them
    ctes = ",\n".join(f"w{i} AS ({sql})" for i, sql in enumerate(parts))
    return f"WITH {ctes}\nSELECT {check}", args


_SQLALCHEMY_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func", "async_fallback")


def _asyncpg_dsn(url: URL) -> str:
    """The asyncpg DSN of a `postgresql+asyncpg://` URL (SQLAlchemy's own query options left out)."""
    query = {k: v for k, v in url.query.items() if k not in _SQLALCHEMY_ONLY}
    return url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)


class PgWriter:
    """The engine's batches on PostgreSQL: each one `statement` on an asyncpg connection of its own."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self._db: asyncpg.Connection | None = None  # opened by the first batch
        self._writing = asyncio.Lock()  # one statement at a time on it (a batch, the timers' outbox clean-up)

    async def apply(self, ch: Any) -> None:
        """The batch as one statement on a connection of its own: one round trip, committed on its own; errors are
        raised as SQLAlchemy's, as the other path raises them. The connection is asyncpg's own, not the pool's:
        going through SQLAlchemy's pool costs a greenlet (and its stack) per checkout."""
        sql, args = statement(ch)
        async with self._writing:
            await self._execute(sql, args)

    async def _execute(self, sql: str, args: list[Any]) -> None:
        try:
            if self._db is None:
                self._db = await asyncpg.connect(_asyncpg_dsn(self.url))
            await self._db.execute(sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(sql, None, exc) from exc
        except (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.OperatorInterventionError,  # a shutdown or restart of the server
            OSError,
        ) as exc:
            db, self._db = self._db, None
            if db is not None:
                db.terminate()
            raise OperationalError(sql, None, exc, connection_invalidated=True) from exc
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == STALE:
                raise StaleDialog(str(exc)) from exc
            raise

    async def close(self) -> None:
        """Close the connection (a later batch opens a new one)."""
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(Exception):
                await db.close(timeout=5)
