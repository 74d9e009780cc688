"""What PostgreSQL's message search reads beside the index (crm_core/search.py): the stored column's expression
and the planner's statistics of `messages` (the id histogram the id windows walk, the common lexemes that tell a
rare word from a common one)."""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# PostgreSQL: the text as indexed, in the stored column PG_COLUMN: migration 0012's trigger writes it (the simple
# tsvector of the lower-cased text, its first 100,000 characters: a tsvector holds at most 1 MB)
PG_COLUMN = "search_tsv"
# PostgreSQL's id windows (`_pg_windows`): each reaches this many histogram buckets (of ~1 % of the messages) back
PG_WINDOWS = (1, 2, 4, 8, 16, 32, 64)
PG_STATS_TTL = 300.0

_TOKEN = re.compile(r"[^\W_]+")  # about what PostgreSQL's `simple` parser makes one lexeme of


@dataclass(frozen=True, slots=True)
class PgStats:
    """What the search reads from the planner's statistics of `messages` (pg_stats, made by ANALYZE)."""

    bounds: tuple[
        str, ...
    ]  # the histogram of messages.id: ascending, ~1 % of the messages between two bounds
    common: tuple[str, ...]  # search_tsv's most common lexemes (0012 keeps up to 10,000 of them), sorted

    def has_common(self, words: Sequence[str]) -> bool:
        """Whether every word is one of the common lexemes: otherwise a word of the query is rare (below the statistics' least frequency, about 1 in 10,000 messages)
        and the GIN gives all its matches at once."""
        if not self.common:
            return False
        for word in words:
            for token in _TOKEN.findall(word.lower()):
                at = bisect.bisect_left(self.common, token)
                found = self.common[at] if at < len(self.common) else ""
                if found != token:
                    return False
        return True


async def pg_stats(store: Any, conn: AsyncConnection) -> PgStats:
    """`PgStats`, read again after PG_STATS_TTL seconds."""
    cached = getattr(store, "_search_stats", None)
    now = time.monotonic()
    if cached is not None and now - cached[0] < PG_STATS_TTL:
        return cached[1]
    found = (
        await conn.execute(
            text(
                "SELECT attname, histogram_bounds::text::text[] AS bounds, most_common_elems::text::text[] AS elems "
                "FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'messages' "
                f"AND attname IN ('id', '{PG_COLUMN}')"
            )
        )
    ).all()
    got = {r.attname: r for r in found}
    stats = PgStats(
        tuple(got["id"].bounds or ()) if "id" in got else (),
        tuple(sorted(got[PG_COLUMN].elems or ())) if PG_COLUMN in got else (),
    )
    store._search_stats = (now, stats)
    return stats
