"""The migrations, run from nothing, make exactly the schema the models describe, on both stores (a migration that
forgets a column, an index or a type is caught here, not in production)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from crm_core.migrate import upgrade
from crm_core.schema import metadata

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


def _not_search_index(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    """The message search index is raw DDL the models do not describe (0012: an FTS5 table and its shadow
    tables on SQLite, the stored generated tsvector column `messages.search_tsv` and its GIN index on PostgreSQL)."""
    return not (name or "").startswith(("messages_fts", "ix_messages_search", "search_tsv"))


async def test_the_migrations_make_the_schema_the_models_describe(tmp_path, store_url):
    url = store_url or f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    upgrade(url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"include_object": _not_search_index}), metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == [], diff  # every migration together makes exactly the tables the models describe


async def test_migration_0018_keeps_every_lead_and_dialog_and_starts_them_without_deals(tmp_path, store_url):
    """A base in use at 0017 (a lead with a phone, its identity and dialog) moves to the deals' schema intact."""
    url = store_url or f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await asyncio.to_thread(upgrade, url, "0017")
    engine = create_async_engine(url)
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO leads (id, name, name_search, phone, status, created_at, updated_at) "
                    "VALUES ('L1', 'Анна', 'анна', '+79160000001', 'new', :at, :at)"
                ),
                {"at": at},
            )
            await conn.execute(
                text(
                    "INSERT INTO identities (id, lead_id, channel, account, external_id, display_name, profile, "
                    "created_at) VALUES ('I1', 'L1', 'widget', 'site', 'v1', 'Анна', '{}', :at)"
                ),
                {"at": at},
            )
            await conn.execute(
                text(
                    "INSERT INTO dialogs (id, lead_id, identity_id, line_id, channel, account, chat_id, state, "
                    "offered_to, excluded, customer_name, created_at, updated_at) VALUES ('D1', 'L1', 'I1', 'site', "
                    "'widget', 'site', 'v1', 'queued', '[]', '[]', 'Анна', :at, :at)"
                ),
                {"at": at},
            )
        await asyncio.to_thread(upgrade, url)
        async with engine.connect() as conn:
            lead = (await conn.execute(text("SELECT name, phone, status, fields FROM leads"))).one()
            assert tuple(lead) == ("Анна", "+79160000001", "new", None)
            assert (await conn.execute(text("SELECT id, lead_id FROM dialogs"))).all() == [("D1", "L1")]
            assert (await conn.execute(text("SELECT value FROM lead_contacts"))).scalars().all() == [
                "+79160000001"
            ]
            for table in ("deals", "contacts", "companies", "deal_events", "deal_dialogs", "saved_filters"):
                assert (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar() == 0
    finally:
        await engine.dispose()
