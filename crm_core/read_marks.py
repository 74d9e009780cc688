"""How far each operator has read each dialog, and what is unread for them. A base class of `Store`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.models import messages, read_marks


class ReadMarks:
    """`Store`'s read marks (its methods are the store's own)."""

    engine: AsyncEngine

    async def mark_read(self, operator: str, dialog_id: str, read_at: datetime) -> datetime:
        """Mark the dialog read up to `read_at` for the operator (a mark never moves back); the mark kept."""
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(read_marks).values(operator=operator, dialog_id=dialog_id, read_at=read_at)
        later = case(
            (read_marks.c.read_at < stmt.excluded.read_at, stmt.excluded.read_at), else_=read_marks.c.read_at
        )
        stmt = stmt.on_conflict_do_update(index_elements=["operator", "dialog_id"], set_={"read_at": later})
        async with self.engine.begin() as conn:
            await conn.execute(stmt)
            kept = await conn.scalar(
                select(read_marks.c.read_at).where(
                    read_marks.c.operator == operator, read_marks.c.dialog_id == dialog_id
                )
            )
        assert kept is not None
        return kept

    async def message_time(self, dialog_id: str, message_id: str) -> datetime | None:
        """When a message of the dialog was stored (None: no such message in that dialog)."""
        q = select(messages.c.created_at).where(
            messages.c.id == message_id, messages.c.dialog_id == dialog_id
        )
        async with self.engine.connect() as conn:
            return await conn.scalar(q)

    async def unread_counts(self, operator: str, dialog_ids: Sequence[str]) -> dict[str, int]:
        """The customer messages each dialog has after the operator's read mark (all of them without one);
        dialogs with none unread are left out."""
        if not dialog_ids:
            return {}
        mark = read_marks.alias("mark")
        q = (
            select(messages.c.dialog_id, func.count())
            .select_from(
                messages.outerjoin(
                    mark, and_(mark.c.dialog_id == messages.c.dialog_id, mark.c.operator == operator)
                )
            )
            .where(
                messages.c.dialog_id.in_(list(dialog_ids)),
                messages.c.author_kind == "customer",
                or_(mark.c.read_at.is_(None), messages.c.created_at > mark.c.read_at),
            )
            .group_by(messages.c.dialog_id)
        )
        async with self.engine.connect() as conn:
            return {d: int(n) for d, n in (await conn.execute(q)).all()}
