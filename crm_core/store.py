"""The async CRM store: batch-shaped writes for the engine (one transaction per batch), reads for the web role.

`Store` holds the engine's batch path (the lookups a batch needs, `apply`) and the bulk import's entry; the web
role's reads (crm_core/web_reads.py), the sessions and checkpoints (crm_core/bookkeeping.py), the operators' quick
answers (crm_core/quick_answers.py), read marks (crm_core/read_marks.py), message search (crm_core/search.py) and
the board's figures (crm_core/board_reads.py) are base classes of it, so each call is the method itself. A batch
is written by one of three writers: crm_core/pg_batch.py, crm_core/sqlite_batch.py, or SQLAlchemy Core
(crm_core/sqlalchemy_batch.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Table, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from crm_core import importing, pg_batch, sqlite_batch
from crm_core.board_reads import BoardReads
from crm_core.bookkeeping import Bookkeeping
from crm_core.changes import Changes
from crm_core.contacts import Contacts
from crm_core.conversion import Conversion
from crm_core.deal_lists import DealLists
from crm_core.deals import Deals
from crm_core.duplicates import Duplicates
from crm_core.errors import DuplicateKey, StaleDialog
from crm_core.lead_files import LeadFiles
from crm_core.lead_lists import LeadLists
from crm_core.lookups import Key, in_ids, select_by_keys
from crm_core.merges import Merges
from crm_core.models import dialogs, identities, leads, messages, outbox
from crm_core.quick_answers import QuickAnswers
from crm_core.read_marks import ReadMarks
from crm_core.recognition import name_fields
from crm_core.search import Search
from crm_core.sqlalchemy_batch import apply_sync
from crm_core.web_reads import WebReads

# the names the router and the tests import from here
__all__ = ["Changes", "DuplicateKey", "Key", "StaleDialog", "Store"]


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    sqlite_batch.configure(cur)  # the settings the batch writer's own connection has
    cur.close()


class Store(
    WebReads,
    Contacts,
    Duplicates,
    Merges,
    LeadFiles,
    LeadLists,
    Bookkeeping,
    QuickAnswers,
    ReadMarks,
    Search,
    BoardReads,
    Deals,
    DealLists,
    Conversion,
):
    """Leads, identities, dialogs, messages, the dialog event log, the outbox, checkpoints and sessions."""

    def __init__(self, engine: AsyncEngine, *, batch_writer: bool = True) -> None:
        self.engine = engine
        self.kind = engine.dialect.name
        # PostgreSQL: the batch path's own connection
        self._pg = pg_batch.PgWriter(engine.url) if self.kind == "postgresql" else None
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
        # JSON columns through orjson: a few values per stored message (attachments, edits, a dialog's lists, an
        # event's data), each a json.dumps call costing several times more; the text is JSON either way
        engine = create_async_engine(
            url, future=True, json_serializer=_json_text, json_deserializer=orjson.loads
        )
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return cls(engine, batch_writer=batch_writer)

    async def close(self) -> None:
        """Dispose of every pooled connection (and the batch writer's)."""
        if self._pg is not None:
            await self._pg.close()
        lite, self._sqlite = self._sqlite, None
        if lite is not None:
            with contextlib.suppress(Exception):
                await lite.close()
        await self.engine.dispose()

    async def catch_up_search(self) -> None:
        """SQLite: index the messages stored since the index last caught up, in the batch writer's thread."""
        if self._sqlite is not None:
            await self._sqlite.catch_up_search()
        elif self.kind == "sqlite":
            await super().catch_up_search()

    # ---- the engine's batch path -------------------------------------------------------------

    async def apply(self, ch: Changes) -> None:
        """Write one batch of changes atomically; raises DuplicateKey if an idempotency key was taken."""
        if not ch:
            return
        for row in (*ch.leads, *ch.lead_updates):  # every name the store writes is searchable in every script
            if "name" in row:
                row.update(name_fields(row["name"]))
        if self._pg is not None and pg_batch.supports(ch):
            await self._pg.apply(ch)
            return
        if self._sqlite is not None and sqlite_batch.supports(ch):
            await self._sqlite.apply(ch)
            return
        async with self.engine.begin() as conn:
            await conn.run_sync(apply_sync, ch)

    async def find_identities(self, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
        """Identities by (channel, account, external_id)."""
        keys = list(set(keys))
        if not keys:
            return {}
        t = identities
        cols = (t.c.id, t.c.lead_id, t.c.channel, t.c.account, t.c.external_id, t.c.display_name)
        q = select_by_keys(self.kind, t, cols, keys)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return {(r["channel"], r["account"], r["external_id"]): dict(r) for r in rows}

    async def find_messages(self, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
        """Already stored messages by their idempotency key (channel, account, external_id)."""
        keys = list(set(keys))
        if not keys:
            return {}
        q = select_by_keys(self.kind, messages, tuple(messages.c), keys)
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
        q = select(table).where(in_ids(self.kind, table.c.id, ids))
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

    async def rating_questions(self, dialog_ids: Iterable[str]) -> set[str]:
        """Which of the dialogs hold the rating question (a bot message whose author id is `rating:…`)."""
        ids = list(set(dialog_ids))
        if not ids:
            return set()
        q = (
            select(messages.c.dialog_id)
            .where(
                in_ids(self.kind, messages.c.dialog_id, ids),
                messages.c.author_kind == "bot",
                messages.c.author_id.like("rating:%"),
            )
            .distinct()
        )
        async with self.engine.connect() as conn:
            return {r[0] for r in (await conn.execute(q)).all()}

    async def latest_closed_dialogs(self, identity_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The most recently closed dialog of each identity (candidates for a reopen)."""
        ids = list(set(identity_ids))
        if not ids:
            return {}
        q = (
            select(dialogs)
            .where(in_ids(self.kind, dialogs.c.identity_id, ids), dialogs.c.state == "closed")
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

    # ---- bulk import of contacts (the CSV import path) -------------

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
        return await importing.import_contacts(
            self.engine, self._sqlite, rows, status=status, source=source, chunk_size=chunk_size, now=now
        )
