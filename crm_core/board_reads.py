"""What the supervisor's board reads beyond the open dialogs: the dialogs closed lately, per line and operator, with
their ratings. A base class of `Store`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.models import dialogs


class BoardReads:
    """`Store`'s board figures (its methods are the store's own)."""

    engine: AsyncEngine

    async def closed_since(self, since: datetime) -> list[dict[str, Any]]:
        """Dialogs closed since `since`, counted per line, operator and rating (None: not rated): rows of
        `line_id`, `operator`, `rating`, `dialogs`; read by the index on closing time."""
        d = dialogs.c
        q = (
            select(d.line_id, d.operator, d.rating, func.count().label("dialogs"))
            .where(d.closed_at >= since, d.state == "closed")
            .group_by(d.line_id, d.operator, d.rating)
        )
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]
