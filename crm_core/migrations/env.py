"""Alembic environment: async engines (aiosqlite, asyncpg); the URL comes from the caller's Config."""

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from crm_core.schema import metadata

config = context.config
_LOCK = 7_261_100  # an arbitrary advisory lock id: processes started together migrate one after another


def _run(connection):  # type: ignore[no-untyped-def]
    if connection.dialect.name == "postgresql":
        # held to the end of the migration transaction; the next process then finds the schema up to date
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK})
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite can only ALTER through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url"))
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_main())
