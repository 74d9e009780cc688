"""The async CRM store: batch-shaped writes for the engine (one transaction per batch), reads for the web role."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from crm_core import pg_batch, sqlite_batch
from crm_core.errors import StaleDialog
from crm_core.ids import new_id
from crm_core.models import (
    checkpoints,
    dialog_events,
    dialogs,
    identities,
    leads,
    messages,
    outbox,
    sessions,
)
from crm_core.recognition import normalize_email, normalize_phone

Key = tuple[str, str, str]
DuplicateKey = (
    IntegrityError  # a concurrent writer stored the same idempotency key first: redeliver the batch
)


_DIALOG_SUMMARY_COLS = [
    *dialogs.c,
    leads.c.name.label("lead_name"),
    leads.c.status.label("lead_status"),
    leads.c.responsible.label("lead_responsible"),
]


@dataclass
class Changes:
    """Everything one engine batch changes, written in one transaction."""

    leads: list[dict[str, Any]] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    dialogs_new: list[dict[str, Any]] = field(default_factory=list)
    dialogs_changed: dict[str, dict[str, Any]] = field(default_factory=dict)
    lead_updates: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    outbox_done: list[str] = field(default_factory=list)
    message_updates: list[dict[str, Any]] = field(default_factory=list)
    lead_fills: list[dict[str, Any]] = field(default_factory=list)  # set fields only where still empty
    consents: list[dict[str, Any]] = field(default_factory=list)  # channel, account, external_id, allowed

    def __bool__(self) -> bool:
        return any(
            (
                self.leads,
                self.identities,
                self.dialogs_new,
                self.dialogs_changed,
                self.lead_updates,
                self.messages,
                self.events,
                self.outbox,
                self.outbox_done,
                self.message_updates,
                self.lead_fills,
                self.consents,
            )
        )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    sqlite_batch.configure(cur)  # the settings the batch writer's own connection has
    cur.close()


class Store:
    """Leads, identities, dialogs, messages, the dialog event log, the outbox, checkpoints and sessions."""

    def __init__(self, engine: AsyncEngine, *, batch_writer: bool = True) -> None:
        self.engine = engine
        self.kind = engine.dialect.name
        self._writer: asyncpg.Connection | None = None  # PostgreSQL: the batch path's own connection
        self._writing = asyncio.Lock()  # one statement at a time on it (a batch, the timers' outbox clean-up)
        # SQLite (a file): the batch path's own connection and thread (an in-memory database is one per
        # connection, so it keeps to the pool's)
        path = engine.url.database
        self._sqlite = (
            sqlite_batch.SqliteWriter(path, engine.dialect)
            if batch_writer
            and self.kind == "sqlite"
            and path
            and path != ":memory:"
            and not path.startswith("file:")
            else None
        )

    @classmethod
    def open(cls, url: str, *, batch_writer: bool = True) -> Store:
        """Create the store for a SQLAlchemy async URL (sqlite+aiosqlite:///… or postgresql+asyncpg://…).
        `batch_writer=False`: a SQLite file's batches go through SQLAlchemy too (to compare the two paths)."""
        engine = create_async_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return cls(engine, batch_writer=batch_writer)

    async def close(self) -> None:
        """Dispose of every pooled connection (and the batch writer's)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                await writer.close(timeout=5)
        lite, self._sqlite = self._sqlite, None
        if lite is not None:
            with contextlib.suppress(Exception):
                await lite.close()
        await self.engine.dispose()

    # ---- the engine's batch path -------------------------------------------------------------

    async def apply(self, ch: Changes) -> None:
        """Write one batch of changes atomically; raises DuplicateKey if an idempotency key was taken."""
        if not ch:
            return
        if self.kind == "postgresql" and pg_batch.supports(ch):
            await self._apply_pg(ch)
            return
        if self._sqlite is not None and sqlite_batch.supports(ch):
            await self._sqlite.apply(ch)
            return
        async with self.engine.begin() as conn:
            await conn.run_sync(_apply_sync, ch)

    async def _apply_pg(self, ch: Changes) -> None:
        """The batch as one statement (crm_core/pg_batch.py) on a connection of its own: one round trip,
        committed on its own; errors are raised as SQLAlchemy's, as the other path raises them. The connection
        is asyncpg's own, not the pool's: going through SQLAlchemy's pool costs a greenlet (and its stack)
        per checkout."""
        sql, args = pg_batch.statement(ch)
        async with self._writing:
            await self._execute_pg(sql, args)

    async def _execute_pg(self, sql: str, args: list[Any]) -> None:
        try:
            if self._writer is None:
                self._writer = await asyncpg.connect(_asyncpg_dsn(self.engine.url))
            await self._writer.execute(sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(sql, None, exc) from exc
        except (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.OperatorInterventionError,  # a shutdown or restart of the server
            OSError,
        ) as exc:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.terminate()
            raise OperationalError(sql, None, exc, connection_invalidated=True) from exc
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == pg_batch.STALE:
                raise StaleDialog(str(exc)) from exc
            raise

    async def find_identities(self, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
        """Identities by (channel, account, external_id)."""
        keys = list(set(keys))
        if not keys:
            return {}
        t = identities
        cols = (t.c.id, t.c.lead_id, t.c.channel, t.c.account, t.c.external_id, t.c.display_name)
        q = _select_by_keys(self.kind, t, cols, keys)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return {(r["channel"], r["account"], r["external_id"]): dict(r) for r in rows}

    async def find_messages(self, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
        """Already stored messages by their idempotency key (channel, account, external_id)."""
        keys = list(set(keys))
        if not keys:
            return {}
        q = _select_by_keys(self.kind, messages, tuple(messages.c), keys)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return {(r["channel"], r["account"], r["external_id"]): dict(r) for r in rows}

    async def leads_by_id(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Lead rows by id."""
        return await self._rows_by_id(leads, ids)

    async def _rows_by_id(self, table: Table, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(set(ids))
        if not ids:
            return {}
        q = select(table).where(_in_ids(self.kind, table.c.id, ids))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return {r["id"]: dict(r) for r in rows}

    async def dialogs_by_id(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Dialog rows by id (absent ones left out)."""
        return await self._rows_by_id(dialogs, ids)

    async def open_dialogs(self) -> list[dict[str, Any]]:
        """Every dialog that is not closed: the routing state a router worker resumes from."""
        async with self.engine.connect() as conn:
            q = select(dialogs).where(dialogs.c.state != "closed")
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]

    async def latest_closed_dialogs(self, identity_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The most recently closed dialog of each identity (candidates for a reopen)."""
        ids = list(set(identity_ids))
        if not ids:
            return {}
        q = (
            select(dialogs)
            .where(_in_ids(self.kind, dialogs.c.identity_id, ids), dialogs.c.state == "closed")
            .order_by(dialogs.c.closed_at.desc())
        )
        out: dict[str, dict[str, Any]] = {}
        async with self.engine.connect() as conn:
            for r in (await conn.execute(q)).mappings():
                out.setdefault(r["identity_id"], dict(r))
        return out

    async def denied_conversations(self) -> set[Key]:
        """Channel identities that do not accept messages from us."""
        t = identities
        q = select(t.c.channel, t.c.account, t.c.external_id).where(t.c.messages_allowed.is_(False))
        async with self.engine.connect() as conn:
            return {(r[0], r[1], r[2]) for r in (await conn.execute(q)).all()}

    async def pending_outbox(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Outbox rows not yet published (after a crash between commit and publish)."""
        async with self.engine.connect() as conn:
            q = select(outbox).order_by(outbox.c.id).limit(limit)
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]

    async def undelivered(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Outbound messages still `queued`, with their conversation: re-sent after a restart."""
        q = (
            select(
                messages,
                dialogs.c.channel.label("d_channel"),
                dialogs.c.account.label("d_account"),
                dialogs.c.chat_id.label("d_chat_id"),
            )
            .join(dialogs, dialogs.c.id == messages.c.dialog_id)
            .where(messages.c.delivery_state == "queued")
            .order_by(messages.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]

    # ---- reads and edits for the web role -----------------------------------------------------

    async def list_dialogs(
        self,
        *,
        states: Sequence[str] | None = None,
        lines: Sequence[str] | None = None,
        operator: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """Dialog summaries (with the lead's name and status), latest activity first."""
        q = select(*_DIALOG_SUMMARY_COLS).join(leads, leads.c.id == dialogs.c.lead_id)
        if states is not None:
            q = q.where(dialogs.c.state.in_(list(states)))
        if lines is not None:
            q = q.where(dialogs.c.line_id.in_(list(lines)))
        if operator is not None:
            q = q.where(dialogs.c.operator == operator)
        activity = func.coalesce(dialogs.c.last_message_at, dialogs.c.created_at)
        q = q.order_by(activity.desc(), dialogs.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]

    async def get_dialog(self, dialog_id: str) -> dict[str, Any] | None:
        """One dialog summary."""
        q = (
            select(*_DIALOG_SUMMARY_COLS)
            .join(leads, leads.c.id == dialogs.c.lead_id)
            .where(dialogs.c.id == dialog_id)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(q)).mappings().first()
        return dict(row) if row else None

    async def dialog_messages(
        self, dialog_ids: Sequence[str], *, public_only: bool = False
    ) -> list[dict[str, Any]]:
        """Messages of the dialogs, oldest first."""
        q = select(messages).where(messages.c.dialog_id.in_(list(dialog_ids)))
        if public_only:
            q = q.where(messages.c.visibility == "public")
        q = q.order_by(messages.c.id)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]

    async def latest_dialog(self, channel: str, account: str, external_id: str) -> dict[str, Any] | None:
        """The newest dialog of a channel identity (open or closed), or None for a new customer."""
        q = (
            select(dialogs)
            .join(identities, identities.c.id == dialogs.c.identity_id)
            .where(
                identities.c.channel == channel,
                identities.c.account == account,
                identities.c.external_id == external_id,
            )
            .order_by(dialogs.c.created_at.desc(), dialogs.c.id.desc())
            .limit(1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(q)).mappings().first()
        return dict(row) if row else None

    async def search_leads(
        self, query: str = "", *, responsible: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Leads whose name, phone or e-mail contains the query (case-insensitive), newest first."""
        q = select(leads)
        if query:
            like = f"%{query.strip().lower()}%"
            q = q.where(
                or_(
                    func.lower(leads.c.name).like(like),
                    func.lower(func.coalesce(leads.c.phone, "")).like(like),
                    func.lower(func.coalesce(leads.c.email, "")).like(like),
                )
            )
        if responsible is not None:
            q = q.where(leads.c.responsible == responsible)
        q = q.order_by(leads.c.updated_at.desc(), leads.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]

    async def get_lead(self, lead_id: str) -> dict[str, Any] | None:
        """A lead with its identities and every dialog with its transcript."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(leads).where(leads.c.id == lead_id))).mappings().first()
            if row is None:
                return None
            lead = dict(row)
            lead["identities"] = [
                dict(r)
                for r in (
                    await conn.execute(
                        select(identities).where(identities.c.lead_id == lead_id).order_by(identities.c.id)
                    )
                ).mappings()
            ]
            q = (
                select(*_DIALOG_SUMMARY_COLS)
                .join(leads, leads.c.id == dialogs.c.lead_id)
                .where(dialogs.c.lead_id == lead_id)
                .order_by(dialogs.c.created_at.desc(), dialogs.c.id.desc())
            )
            lead["dialogs"] = [dict(r) for r in (await conn.execute(q)).mappings()]
            ids = [d["id"] for d in lead["dialogs"]]
            transcript: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
            if ids:
                mq = select(messages).where(messages.c.dialog_id.in_(ids)).order_by(messages.c.id)
                for m in (await conn.execute(mq)).mappings():
                    transcript[m["dialog_id"]].append(dict(m))
            for d in lead["dialogs"]:
                d["transcript"] = transcript[d["id"]]
        return lead

    async def update_lead(self, lead_id: str, fields: dict[str, Any], now: datetime) -> bool:
        """Change a lead's editable fields; False if there is no such lead."""
        async with self.engine.begin() as conn:
            res = await conn.execute(
                update(leads).where(leads.c.id == lead_id).values(**fields, updated_at=now)
            )
        return bool(res.rowcount)

    # ---- sessions and checkpoints -------------------------------------------------------------

    async def create_session(self, token_hash: str, login: str, now: datetime, expires_at: datetime) -> None:
        """Store a console session (by the token's hash)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(sessions).values(id=token_hash, login=login, created_at=now, expires_at=expires_at)
            )

    async def session_login(self, token_hash: str, now: datetime) -> str | None:
        """The operator of a live session, or None."""
        q = select(sessions.c.login).where(sessions.c.id == token_hash, sessions.c.expires_at > now)
        async with self.engine.connect() as conn:
            return (await conn.execute(q)).scalar_one_or_none()

    async def delete_session(self, token_hash: str) -> None:
        """End a session."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(sessions).where(sessions.c.id == token_hash))

    async def get_checkpoint(self, channel: str, account: str, key: str) -> str | None:
        """A connector's durable position (offset, ts, UID), or None."""
        t = checkpoints
        q = select(t.c.value).where(t.c.channel == channel, t.c.account == account, t.c.key == key)
        async with self.engine.connect() as conn:
            return (await conn.execute(q)).scalar_one_or_none()

    async def set_checkpoint(self, channel: str, account: str, key: str, value: str, now: datetime) -> None:
        """Save a connector's position."""
        t = checkpoints
        async with self.engine.begin() as conn:
            res = await conn.execute(
                update(t)
                .where(t.c.channel == channel, t.c.account == account, t.c.key == key)
                .values(value=value, updated_at=now)
            )
            if not res.rowcount:
                await conn.execute(
                    insert(t).values(channel=channel, account=account, key=key, value=value, updated_at=now)
                )

    async def count(self, table_name: str) -> int:
        """Row count of a table (tests and health checks)."""
        from crm_core.models import metadata

        async with self.engine.connect() as conn:
            q = select(func.count()).select_from(metadata.tables[table_name])
            return int((await conn.execute(q)).scalar_one())

    # ---- bulk import of contacts (the CSV import path) and lookups by phone/e-mail -------------

    async def import_contacts(
        self,
        rows: Iterable[dict[str, Any]],
        *,
        status: str = "new",
        source: str | None = "import",
        chunk_size: int = 10_000,
        now: datetime | None = None,
    ) -> int:
        """Create a lead (and its channel identity) for each contact row, in chunks of `chunk_size` rows, one
        transaction per chunk (on a SQLite file through the batch writer's connection, else SQLAlchemy Core
        executemany inside one `run_sync`); returns the leads created.

        A row is `{"name", "phone", "email", "identity": {"channel", "account", "external_id",
        "display_name"}}`, optionally with its own `status`; phone and e-mail are normalised (an invalid one is
        stored as NULL); `identity` may be missing or None (a lead without a channel identity). A row whose identity already exists — stored
        earlier, or earlier in the same import — is skipped whole: no lead is created and the existing lead is
        left as it is (importing the same file twice creates nothing the second time). Chunks already committed
        stay committed if a later one fails; a chunk that collides with a concurrent writer is checked again.
        """
        import itertools
        from datetime import UTC

        ts = now or datetime.now(UTC)
        source_rows = iter(rows)
        total = 0
        while chunk := list(itertools.islice(source_rows, max(1, chunk_size))):
            for attempt in range(3):
                try:
                    # a SQLite file: the batch writer's connection and thread, no SQLAlchemy per row
                    if self._sqlite is not None:
                        plans = self._sqlite.plans
                        total += await self._sqlite.transaction(
                            _import_chunk_sqlite, plans, chunk, status, source, ts
                        )
                    else:
                        async with self.engine.begin() as conn:
                            total += await conn.run_sync(_import_chunk_sync, chunk, status, source, ts)
                    break
                except IntegrityError:
                    if attempt == 2:
                        raise
        return total

    async def find_leads_by_contact(
        self, *, phone: str | None = None, email: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Leads whose phone or e-mail equals the given one once normalised (indexes ix_leads_phone and
        ix_leads_email), most recently updated first; a value that does not normalise matches nothing."""
        conditions = []
        if (p := normalize_phone(phone)) is not None:
            conditions.append(leads.c.phone == p)
        if (e := normalize_email(email)) is not None:
            conditions.append(leads.c.email == e)
        if not conditions:
            return []
        q = (
            select(leads)
            .where(or_(*conditions))
            .order_by(leads.c.updated_at.desc(), leads.c.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]


_KEY_COLUMNS = ("channel", "account", "external_id")
_SQLALCHEMY_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func", "async_fallback")


def _asyncpg_dsn(url: URL) -> str:
    """The asyncpg DSN of a `postgresql+asyncpg://` URL (SQLAlchemy's own query options left out)."""
    query = {k: v for k, v in url.query.items() if k not in _SQLALCHEMY_ONLY}
    return url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)


def _select_by_keys(kind: str, table: Table, cols: Sequence[Any], keys: list[Key]) -> Select[Any]:
    """SELECT cols of the table's rows whose unique (channel, account, external_id) is one of the keys."""
    if kind != "postgresql":
        # SQLite runs a row-value IN as a scan of the whole table; grouped by (channel, account) with
        # `external_id IN (…)` each group is a search on the unique index
        groups: dict[tuple[str, str], list[str]] = {}
        for channel, account, external_id in keys:
            groups.setdefault((channel, account), []).append(external_id)
        c = table.c
        return select(*cols).where(
            or_(
                *(
                    and_(c.channel == ch, c.account == ac, c.external_id.in_(ids))
                    for (ch, ac), ids in groups.items()
                )
            )
        )
    # A batch's keys share (channel, account): PostgreSQL would match the IN list of tuples as a filter over
    # every row of that pair (the index condition holds the two shared columns only). The keys as three
    # arrays unnested and joined give one unique-index probe per key (on a table small next to the batch the
    # planner may hash it whole instead, which is as cheap there), and one prepared statement for every
    # batch size. The arrays carry the columns' own types, so keys are bound (NUL dropped, cut to the
    # column's length) exactly as the stored values were.
    k = (
        func.unnest(
            *(
                bindparam(f"key_{c}", [key[i] for key in keys], type_=ARRAY(table.c[c].type))
                for i, c in enumerate(_KEY_COLUMNS)
            )
        )
        .table_valued(*_KEY_COLUMNS)
        .render_derived(name="k")
    )
    on = and_(*(table.c[c] == k.c[c] for c in _KEY_COLUMNS))
    return select(*cols).select_from(k).join(table, on)


def _in_ids(kind: str, col: ColumnElement[Any], ids: list[str]) -> ColumnElement[bool]:
    """`col IN ids`; on PostgreSQL `col = ANY(:array)`, one prepared statement for every number of ids."""
    if kind != "postgresql":
        return col.in_(ids)
    return col == any_(bindparam(None, ids, type_=ARRAY(col.type)))


def _import_plan(chunk: list[dict[str, Any]]) -> tuple[list[tuple[dict[str, Any], Key | None]], list[Key]]:
    """An import chunk's rows with their identity keys, the same identity's later rows in the chunk left out; and
    the keys to look up."""
    planned: list[tuple[dict[str, Any], Key | None]] = []
    keys: list[Key] = []
    chunk_keys: set[Key] = set()
    for row in chunk:
        ident = row.get("identity")
        key: Key | None = None
        if ident:
            key = (str(ident["channel"]), str(ident["account"]), str(ident["external_id"]))
            if key in chunk_keys:
                continue  # the same identity earlier in this chunk (earlier chunks are stored)
            chunk_keys.add(key)
            keys.append(key)
        planned.append((row, key))
    return planned, keys


def _stored_keys(keys: list[Key], stored: Callable[[str, str, list[str]], Iterable[str]]) -> set[Key]:
    """Which of `keys` are stored already, asking `stored(channel, account, external_ids)` 500 ids at a time."""
    by_account: dict[tuple[str, str], list[str]] = {}
    for channel, account, external_id in keys:
        by_account.setdefault((channel, account), []).append(external_id)
    found: set[Key] = set()
    for (channel, account), external_ids in by_account.items():
        for i in range(0, len(external_ids), 500):
            found.update((channel, account, x) for x in stored(channel, account, external_ids[i : i + 500]))
    return found


def _import_rows(
    planned: list[tuple[dict[str, Any], Key | None]],
    existing: set[Key],
    status: str,
    source: str | None,
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The lead and identity rows of an import chunk, skipping the rows whose identity is stored already."""
    lead_rows: list[dict[str, Any]] = []
    identity_rows: list[dict[str, Any]] = []
    for row, key in planned:
        if key is not None and key in existing:
            continue
        lead_id = new_id()
        name = str(row.get("name") or "")
        lead_rows.append(
            {
                "id": lead_id,
                "name": name,
                "phone": normalize_phone(row.get("phone")),
                "email": normalize_email(row.get("email")),
                "status": str(row.get("status") or status),
                "responsible": None,
                "source": source,
                "created_at": now,
                "updated_at": now,
            }
        )
        if key is not None:
            ident = row["identity"]
            identity_rows.append(
                {
                    "id": new_id(),
                    "lead_id": lead_id,
                    "channel": key[0],
                    "account": key[1],
                    "external_id": key[2],
                    "display_name": str(ident.get("display_name") or name),
                    "profile": {},
                    "created_at": now,
                }
            )
    return lead_rows, identity_rows


def _import_chunk_sync(
    conn: Connection,
    chunk: list[dict[str, Any]],
    status: str,
    source: str | None,
    now: datetime,
) -> int:
    """One import chunk through SQLAlchemy (in run_sync): skip known identities, insert leads then identities."""
    planned, keys = _import_plan(chunk)
    t = identities

    def stored(channel: str, account: str, external_ids: list[str]) -> Iterable[str]:
        q = select(t.c.external_id).where(
            t.c.channel == channel, t.c.account == account, t.c.external_id.in_(external_ids)
        )
        return conn.execute(q).scalars()

    lead_rows, identity_rows = _import_rows(planned, _stored_keys(keys, stored), status, source, now)
    if lead_rows:
        conn.execute(insert(leads), lead_rows)
    if identity_rows:
        conn.execute(insert(identities), identity_rows)
    return len(lead_rows)


def _import_chunk_sqlite(
    db: sqlite3.Connection,
    plans: sqlite_batch.Plans,
    chunk: list[dict[str, Any]],
    status: str,
    source: str | None,
    now: datetime,
) -> int:
    """One import chunk in the SQLite writer's transaction: the same lookup and rows as `_import_chunk_sync`."""
    planned, keys = _import_plan(chunk)

    def stored(channel: str, account: str, external_ids: list[str]) -> Iterable[str]:
        sql = (
            "SELECT external_id FROM identities WHERE channel = ? AND account = ? "
            f"AND external_id IN ({', '.join('?' * len(external_ids))})"
        )
        return (x for (x,) in db.execute(sql, (channel, account, *external_ids)))

    lead_rows, identity_rows = _import_rows(planned, _stored_keys(keys, stored), status, source, now)
    sqlite_batch.execute(db, plans.statements(Changes(leads=lead_rows, identities=identity_rows)))
    return len(lead_rows)


def _apply_sync(conn: Connection, ch: Changes) -> None:
    # one thread hop for the whole batch: every statement below runs inside run_sync
    _insert_many(conn, leads, ch.leads)
    _insert_many(conn, identities, ch.identities)
    _insert_many(conn, dialogs, ch.dialogs_new)
    # each row carries the version the engine read: the update matches only that version, and bumps it
    for cols, rows in _by_columns(list(ch.dialogs_changed.values()), ("id", "version")).items():
        stmt = (
            update(dialogs)
            .where(dialogs.c.id == bindparam("b_id"), dialogs.c.version == bindparam("b_version"))
            .values({**{c: bindparam(f"b_{c}") for c in cols}, "version": dialogs.c.version + 1})
        )
        params = [{f"b_{k}": v for k, v in r.items()} for r in rows]
        if (
            conn.dialect.supports_sane_multi_rowcount
        ):  # SQLite: an executemany reports the rows it matched in all
            if conn.execute(stmt, params).rowcount != len(rows):
                raise StaleDialog(f"a dialog of {[r['id'] for r in rows]} is not at the version expected")
        else:
            for r, p in zip(rows, params, strict=True):
                if conn.execute(stmt, p).rowcount != 1:
                    raise StaleDialog(f"dialog {r['id']} is not at version {r.get('version')}")
    _update_many(conn, leads, ch.lead_updates)
    _insert_many(conn, messages, ch.messages)
    for c in ch.consents:
        conn.execute(
            update(identities)
            .where(
                identities.c.channel == c["channel"],
                identities.c.account == c["account"],
                identities.c.external_id == c["external_id"],
            )
            .values(messages_allowed=c["allowed"])
        )
    for fill in ch.lead_fills:
        for name, value in fill.items():
            if name in ("id", "updated_at"):
                continue
            conn.execute(
                update(leads)
                .where(leads.c.id == fill["id"], leads.c[name].is_(None))
                .values({name: value, "updated_at": fill["updated_at"]})
            )
    _update_many(conn, messages, ch.message_updates)
    _insert_many(conn, dialog_events, ch.events)
    _insert_many(conn, outbox, ch.outbox)
    if ch.outbox_done:
        conn.execute(delete(outbox).where(_in_ids(conn.dialect.name, outbox.c.id, ch.outbox_done)))


def _by_columns(
    rows: list[dict[str, Any]], keys: tuple[str, ...]
) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Rows grouped by the columns they name (less `keys`), in the order each set first appears."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(k for k in row if k not in keys)), []).append(row)
    return groups


def _insert_many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT rows, one executemany per set of columns: SQLAlchemy takes an executemany's columns from its first
    row (an inbound message names no delivery state, a reply does: one statement would drop or refuse it)."""
    for group in _by_columns(rows, ()).values():
        conn.execute(insert(table), group)


def _update_many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """UPDATE rows by id, one executemany per set of columns (not one statement per row)."""
    for cols, group in _by_columns(rows, ("id",)).items():
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in cols})
        )
        conn.execute(stmt, [{f"b_{k}": v for k, v in r.items()} for r in group])
