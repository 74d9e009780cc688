"""Trimming the Redis bus's streams: dropping the entries every consumer group is done with.

Redis 7.0 has no "trim only what every group acked", so `trim(stream)` computes, per partition, the smallest ID
any group still needs: per group, its smallest pending ID (XPENDING summary) or, with nothing pending, the ID right
after its last-delivered-id (XINFO GROUPS); then ``XTRIM MINID`` to the smallest of those. A partition with no
group is never trimmed. A process group whose consumers have all been idle for `process_group_ttl` (its process
crashed) is destroyed rather than let it pin the stream. The router role runs it once a minute.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import ResponseError

from queues.bus import PROCESS_GROUP_PREFIX
from queues.redis_keys import as_str, stream_key


async def trim(client: Any, stream: str, partitions: int, process_group_ttl_ms: int) -> int:
    """Drop entries every group is done with (below each group's oldest pending or unread entry)."""
    removed = 0
    for p in range(partitions):
        name = stream_key(stream, p)
        try:
            groups = await client.xinfo_groups(name)
        except ResponseError:
            continue  # no such stream
        if not groups:
            continue
        floor: tuple[int, int] | None = None
        for g in groups:
            if as_str(g["name"]).startswith(PROCESS_GROUP_PREFIX) and await _abandoned(
                client, name, g, process_group_ttl_ms
            ):
                await client.xgroup_destroy(name, g["name"])
                continue
            summary = await client.xpending(name, g["name"])
            ms, seq = _parse_id(as_str(g["last-delivered-id"]))
            candidate = (ms, seq + 1)  # everything after the last delivered entry is unread
            if summary["pending"]:
                candidate = min(candidate, _parse_id(as_str(summary["min"])))
            floor = candidate if floor is None else min(floor, candidate)
        if floor is not None and floor > (0, 0):
            removed += int(await client.xtrim(name, minid=f"{floor[0]}-{floor[1]}", approximate=False))
    return removed


async def _abandoned(client: Any, name: str, group: dict[str, Any], process_group_ttl_ms: int) -> bool:
    # a process group left by a crashed process: no consumer read it for process_group_ttl
    consumers = await client.xinfo_consumers(name, group["name"])
    idle = min((int(c["idle"]) for c in consumers), default=None)
    return idle is not None and idle > process_group_ttl_ms


def _parse_id(rid: str) -> tuple[int, int]:
    ms, _, seq = rid.partition("-")
    return int(ms), int(seq or 0)
