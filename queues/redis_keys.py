"""The names the Redis bus uses: its keys, the parking consumer, Entry ids; and the partition of a key.

Keys (each partition's keys share one Redis Cluster hash tag, the partition number, so a partition's commands
can go to one slot):

- ``openlines:{stream}:{p}`` (e.g. ``openlines:inbound:{3}``): the stream of partition p of a logical stream;
  an entry is a bundle of up to BUNDLE_MAX events: ``b``, a JSON array of their ``queues.messages.dumps``, and
  ``k``, a JSON array of their keys (left out when none has one). Entries with ``e`` (one event) and ``k`` (its
  key), as written before bundles, are still read.
- ``openlines:{stream}:{p}:progress:{group}``: bundles a consumer of `group` acked in part before it ended
  (Redis id -> how many of its events): the next consumer skips those.
- ``openlines:{stream}:{p}:lease:{group}``: which consumer of `group` owns partition p (``SET NX PX``; value: the
  consumer's name plus a random token, so a restarted consumer with the same name is a new owner).
- ``openlines:{stream}:members:{group}``: a sorted set of the group's live consumers (score: last heartbeat, ms),
  used only to compute each consumer's fair share of the partitions.
- ``openlines:dead`` (DEAD_KEY): the dead letters (queues/redis_dead_letters.py).
"""

from __future__ import annotations

import zlib
from typing import Any

PARKED = "~parked"  # the consumer that holds entries given back to the group
DEAD_KEY = "openlines:dead"


def stream_key(stream: str, partition: int) -> str:
    """The Redis key of one partition of a logical stream, hash-tagged by partition."""
    return f"openlines:{stream}:{{{partition}}}"


def lease_key(stream: str, partition: int, group: str) -> str:
    """The key of a group's lease on one partition (same hash tag as the partition's stream)."""
    return f"openlines:{stream}:{{{partition}}}:lease:{group}"


def progress_key(stream: str, partition: int, group: str) -> str:
    """A hash of the partition's bundles a consumer of `group` acked in part before it ended: Redis id -> how
    many of its events (same hash tag as the partition's stream)."""
    return f"openlines:{stream}:{{{partition}}}:progress:{group}"


def members_key(stream: str, group: str) -> str:
    """The sorted set of a group's live consumers (score: last heartbeat in ms)."""
    return f"openlines:{stream}:members:{group}"


def partition_of(key: str, partitions: int) -> int:
    """The partition of a key: a stable hash (crc32), the same in every process."""
    return zlib.crc32(key.encode()) % partitions


def as_str(value: Any) -> str:
    """A Redis reply value (bytes, or already decoded) as a str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def split_entry_id(entry_id: str) -> tuple[int, str, int | None]:
    """The partition, Redis entry id and index in its bundle of an Entry id ("p/rid", or "p/rid/i" for the i-th
    event of a bundle of several)."""
    p, rid, *i = entry_id.split("/", 2)
    return int(p), rid, int(i[0]) if i else None
