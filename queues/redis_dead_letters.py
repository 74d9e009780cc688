"""Dead letters on the Redis bus: `dead_letter` XADDs an event the router gave up on, with its error, to
``openlines:dead`` (capped with an approximate MAXLEN); `dead_letters` reads the newest. The caller acks the
entry afterwards as usual.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from queues.bus import DEAD_LETTERS_KEPT, DeadLetter, Entry
from queues.codec import dumps, loads
from queues.redis_keys import DEAD_KEY, as_str


async def dead_letter(client: Any, stream: str, entry: Entry, error: str) -> None:
    """XADD the event with its error to ``openlines:dead`` (capped at about DEAD_LETTERS_KEPT entries)."""
    fields: dict[str, bytes | str] = {
        "s": stream,
        "e": dumps(entry.event),
        "error": error[:4000],
        "n": str(entry.deliveries),
        "at": datetime.now(UTC).isoformat(),
    }
    if entry.key is not None:
        fields["k"] = entry.key
    await client.xadd(DEAD_KEY, fields, maxlen=DEAD_LETTERS_KEPT, approximate=True)


async def dead_letters(client: Any, limit: int) -> list[DeadLetter]:
    """The newest dead letters first (XREVRANGE)."""
    rows: list[tuple[Any, dict[Any, Any]]] = await client.xrevrange(DEAD_KEY, count=limit)
    out = []
    for rid, raw in rows:
        f = {as_str(k): v for k, v in raw.items()}
        out.append(
            DeadLetter(
                as_str(rid),
                as_str(f["s"]),
                as_str(f["k"]) if "k" in f else None,
                loads(f["e"]),
                as_str(f["error"]),
                int(as_str(f["n"])),
                as_str(f["at"]),
            )
        )
    return out
