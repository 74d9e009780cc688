"""Bundles on the Redis bus: a stream entry holds up to BUNDLE_MAX events, and a consumer may deliver (and ack)
one over several batches.

The writer bundles the events of one turn per partition (`bundles`): Redis stores one entry per partition per
turn. `max_batch` counts events, so a batch may end inside a bundle: the bundle's entry is acked with its last
event, and until then the consumer keeps how many of its events it acked (`BundleProgress`), skipping them when
the entry comes again. A consumer that ends saves that progress in the partition's progress hash
(``…:progress:{group}``), so the next consumer skips the part already acked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

from queues.bus import Entry
from queues.redis_keys import as_str, split_entry_id

BUNDLE_MAX = 256  # events per stream entry


def bundles(writes: Iterable[tuple[str, str | None, bytes]]) -> dict[str, list[dict[str, bytes | str]]]:
    """The entries to XADD, per stream key in order: each a bundle of up to BUNDLE_MAX events (field `b`: a JSON
    array of the events' `dumps`; `k`: a JSON array of their keys, left out when none has one)."""
    grouped: dict[str, tuple[list[bytes], list[str | None]]] = {}
    for name, key, payload in writes:
        payloads, keys = grouped.setdefault(name, ([], []))
        payloads.append(payload)
        keys.append(key)
    out: dict[str, list[dict[str, bytes | str]]] = {}
    for name, (payloads, keys) in grouped.items():
        entries = out[name] = []
        for i in range(0, len(payloads), BUNDLE_MAX):
            fields: dict[str, bytes | str] = {"b": b"[" + b",".join(payloads[i : i + BUNDLE_MAX]) + b"]"}
            part = keys[i : i + BUNDLE_MAX]
            if any(k is not None for k in part):
                fields["k"] = orjson.dumps(part)
            entries.append(fields)
    return out


class BundleProgress:
    """The bundles one consumer delivered in part, and how many of each one's events it acked."""

    def __init__(self) -> None:
        # bundles delivered in part (a batch may end inside one): (partition, Redis id) -> events acked so far,
        # and each such bundle's size; the entry itself is acked with its last event
        self.progress: dict[tuple[int, str], int] = {}
        self.sizes: dict[tuple[int, str], int] = {}
        self.remote: set[tuple[int, str]] = set()  # bundles whose progress came from the progress hash

    def acked(self, entries: list[Entry]) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
        """For entries just acked: the Redis ids to XACK per partition (a bundle's with its last event), and the
        ones among them to delete from the progress hash (HDEL)."""
        by_partition: dict[int, list[str]] = {}
        for e in entries:
            p, rid, i = split_entry_id(e.id)
            if i is not None:  # an event of a bundle: the entry is acked with its last event
                done = max(self.progress.get((p, rid), 0), i + 1)
                if done < self.sizes.get((p, rid), 0):
                    self.progress[(p, rid)] = done
                    continue
                self.progress.pop((p, rid), None)
                self.sizes.pop((p, rid), None)
            rids = by_partition.setdefault(p, [])
            if not rids or rids[-1] != rid:
                rids.append(rid)
        forget: dict[int, list[str]] = {}
        if by_partition and self.remote:
            for p, rids in by_partition.items():
                finished = [rid for rid in rids if (p, rid) in self.remote]
                if finished:
                    forget[p] = finished
                    self.remote.difference_update((p, rid) for rid in finished)
        return by_partition, forget

    def merge_saved(self, partition: int, saved: Mapping[bytes | str, bytes | str]) -> None:
        """Take in a partition's progress hash: bundles a consumer before us acked in part."""
        for rid, count in saved.items():
            bundle = (partition, as_str(rid))
            self.progress[bundle] = max(self.progress.get(bundle, 0), int(count))
            self.remote.add(bundle)

    def saved(self, partition: int) -> dict[str, int]:
        """What to save in a partition's progress hash when the consumer ends (Redis id -> events acked)."""
        return {rid: n for (q, rid), n in self.progress.items() if q == partition}

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget the bundles of partitions released."""
        released = set(partitions)
        for bundle in [b for b in self.sizes if b[0] in released]:
            self.sizes.pop(bundle)
            self.progress.pop(bundle, None)
