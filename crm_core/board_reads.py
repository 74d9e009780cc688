"""What the supervisor's board reads beyond the dialogs operators have (offered and assigned): the queue per line
(how many, since when) and its longest-waiting dialogs, and the dialogs closed lately, per line and operator, with
their ratings. A base class of `Store`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.models import dialogs, leads


class BoardReads:
    """`Store`'s board figures (its methods are the store's own)."""

    engine: AsyncEngine

    async def queue_figures(self) -> dict[str, tuple[int, datetime | None]]:
        """Per line, the queued dialogs (nobody's yet): how many, and since when the longest-waiting one waits."""
        d = dialogs.c
        since = func.min(func.coalesce(d.queued_since, d.created_at))
        q = select(d.line_id, func.count(), since).where(d.state == "queued").group_by(d.line_id)
        async with self.engine.connect() as conn:
            return {line: (n, first) for line, n, first in (await conn.execute(q)).all()}

    async def longest_queued(self, limit: int) -> list[dict[str, Any]]:
        """The queued dialogs that wait longest (summaries, as `list_dialogs` gives them), at most `limit`."""
        d = dialogs.c
        since = func.coalesce(d.queued_since, d.created_at)
        q = (
            select(*dialogs.c, leads.c.name.label("lead_name"), leads.c.status.label("lead_status"))
            .join(leads, leads.c.id == d.lead_id)
            .where(d.state == "queued")
            .order_by(since, d.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]

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
