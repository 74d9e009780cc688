"""The store's records beside the CRM data: console sessions, connectors' checkpoints, and row counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.models import checkpoints, metadata, sessions


class Bookkeeping:
    """`Store`'s sessions, checkpoints and counts (a base class of `Store`: its methods are the store's own)."""

    engine: AsyncEngine

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
        async with self.engine.connect() as conn:
            q = select(func.count()).select_from(metadata.tables[table_name])
            return int((await conn.execute(q)).scalar_one())
