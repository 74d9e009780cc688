"""The migrations, run from nothing, make exactly the schema the models describe, on both stores (a migration that
forgets a column, an index or a type is caught here, not in production)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
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
