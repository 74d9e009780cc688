"""The store's records beside the CRM data: console sessions, connectors' checkpoints, and row counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.models import checkpoints, messages, metadata, sessions, uploads


class Bookkeeping:
    """`Store`'s sessions, checkpoints and counts (a base class of `Store`: its methods are the store's own)."""

    engine: AsyncEngine

    async def create_session(
        self, token_hash: str, login: str, now: datetime, expires_at: datetime, credential: str = ""
    ) -> None:
        """Store a console session (by the token's hash) with the fingerprint of the credential it was made with."""
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(sessions).values(
                    id=token_hash, login=login, credential=credential, created_at=now, expires_at=expires_at
                )
            )

    async def session(self, token_hash: str, now: datetime) -> tuple[str, str] | None:
        """The operator and credential fingerprint of a live session, or None."""
        q = select(sessions.c.login, sessions.c.credential).where(
            sessions.c.id == token_hash, sessions.c.expires_at > now
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(q)).first()
        return None if row is None else (row.login, row.credential)

    async def session_login(self, token_hash: str, now: datetime) -> str | None:
        """The operator of a live session, or None."""
        found = await self.session(token_hash, now)
        return None if found is None else found[0]

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

    async def track_upload(self, ref: str, login: str, dialog_id: str, now: datetime) -> None:
        """Remember a file an operator uploaded to send with a reply in a dialog."""
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(uploads).values(ref=ref, login=login, dialog_id=dialog_id, created_at=now)
            )

    async def track_visitor_upload(self, ref: str, account: str, chat_id: str, now: datetime) -> None:
        """Remember a file a widget visitor uploaded to send with a message."""
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(uploads).values(
                    ref=ref, login="", dialog_id="", account=account, chat_id=chat_id, created_at=now
                )
            )

    async def upload_of(self, ref: str) -> dict[str, Any] | None:
        """Who uploaded a file and for which dialog, or None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(uploads).where(uploads.c.ref == ref))).mappings().first()
        return None if row is None else dict(row)

    async def old_uploads(self, before: datetime, limit: int = 500) -> tuple[list[str], list[str]]:
        """Uploads older than `before`: those a message of their dialog carries (their record may go) and those
        none does (their file may go too)."""
        u = uploads.c
        q = select(u.ref, u.dialog_id, u.account, u.chat_id).where(u.created_at < before).limit(limit)
        sent: list[str] = []
        unsent: list[str] = []
        async with self.engine.connect() as conn:
            for ref, dialog_id, account, chat_id in (await conn.execute(q)).all():
                # a message's attachments name the upload's ref in their JSON: its dialog's messages are few, and
                # a visitor's own messages are a range of the unique (channel, account, external_id) index
                if chat_id is not None:
                    m = messages.c
                    mine = and_(
                        m.channel == "widget",
                        m.account == account,
                        m.external_id >= f"{chat_id}:",
                        m.external_id < f"{chat_id};",
                    )
                else:
                    mine = messages.c.dialog_id == dialog_id
                used = select(messages.c.id).where(mine, messages.c.attachments.cast(Text).contains(ref))
                (sent if (await conn.execute(used.limit(1))).first() is not None else unsent).append(ref)
        return sent, unsent

    async def forget_uploads(self, refs: list[str]) -> None:
        """Drop upload records (their files were removed, or they were sent)."""
        if refs:
            async with self.engine.begin() as conn:
                await conn.execute(delete(uploads).where(uploads.c.ref.in_(refs)))
