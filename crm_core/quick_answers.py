"""Operators' own quick answers (canned responses): list, add, change, remove. A base class of `Store`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.models import quick_answers


class QuickAnswers:
    """`Store`'s quick answers (its methods are the store's own). A shortcut taken by the same operator raises
    `DuplicateKey` (crm_core/errors.py)."""

    engine: AsyncEngine

    async def list_quick_answers(self, owner: str) -> list[dict[str, Any]]:
        """An operator's quick answers, oldest first."""
        q = select(quick_answers).where(quick_answers.c.owner == owner).order_by(quick_answers.c.created_at)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]

    async def get_quick_answer(self, answer_id: str) -> dict[str, Any] | None:
        """One quick answer by id."""
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(quick_answers).where(quick_answers.c.id == answer_id)))
                .mappings()
                .first()
            )
        return dict(row) if row is not None else None

    async def add_quick_answer(self, row: dict[str, Any]) -> None:
        """Store a new quick answer (id, owner, title, text, shortcut, created_at, updated_at)."""
        async with self.engine.begin() as conn:
            await conn.execute(quick_answers.insert().values(**row))

    async def update_quick_answer(self, answer_id: str, fields: dict[str, Any], now: datetime) -> bool:
        """Change a quick answer's title, text or shortcut; False if there is no such answer."""
        async with self.engine.begin() as conn:
            res = await conn.execute(
                update(quick_answers).where(quick_answers.c.id == answer_id).values(**fields, updated_at=now)
            )
        return bool(res.rowcount)

    async def delete_quick_answer(self, answer_id: str) -> bool:
        """Remove a quick answer; False if there was none."""
        async with self.engine.begin() as conn:
            res = await conn.execute(delete(quick_answers).where(quick_answers.c.id == answer_id))
        return bool(res.rowcount)
