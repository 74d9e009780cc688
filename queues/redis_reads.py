"""Reading a consumer's entries on the Redis bus: its own pending entries (with their delivery counts), new
entries (``XREADGROUP … BLOCK``; on a Cluster one read per partition, kept in flight across calls), and the
decoding of stream replies into `Entry`s, bundles included.

`Entry.deliveries` comes from XPENDING's delivery counter (read in the same pipeline as the pending entries); new
entries have 1.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import orjson

from queues.bus import Entry
from queues.codec import loads, loads_many
from queues.redis_client import raise_if_cancelled
from queues.redis_consumer import ConsumerState
from queues.redis_keys import as_str, progress_key, stream_key
from queues.redis_pending import PendingEntries


class Reader:
    """The reads of a bus's consumers."""

    def __init__(
        self, client: Any, *, cluster: bool, block_ms: int, closing: asyncio.Event, pending: PendingEntries
    ) -> None:
        self._redis = client
        self._cluster = cluster
        self._block_ms = block_ms
        self._closing = closing
        self._pending = pending

    async def read_pending(self, st: ConsumerState, max_batch: int) -> list[Entry]:
        """The consumer's own pending entries (read again: Redis counts the delivery), oldest first."""
        if st.inflight:
            # Cluster: let the reads in flight end (within one block); what they got is in the PEL, read below in
            # order with the rest, and counted as the first delivery it is (the re-read adds one in Redis)
            await asyncio.wait(list(st.inflight.values()))
            unseen, _ = self._entries(st, self._collect(st), None)
            st.unseen.update(e.id for e in unseen)
        keys = _keys(st)
        per = _per_stream(max_batch, len(keys))
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in keys:  # one key per command: valid on a Cluster too
                pipe.xreadgroup(st.group, st.name, {name: "0"}, count=per)
            for name in keys:
                pipe.xpending_range(name, st.group, "-", "+", per, consumername=st.name)
            for p in keys.values():
                pipe.hgetall(progress_key(st.stream, p, st.group))
            replies = await pipe.execute()
        n = len(keys)
        reply = [pair for r in replies[:n] for pair in _pairs(r)]
        pending = replies[n : 2 * n]
        for p, done in zip(keys.values(), replies[2 * n :], strict=True):
            st.bundles.merge_saved(p, done or {})  # a consumer before us acked these in part
        counts: dict[tuple[int, str], int] = {}
        for p, rows in zip(keys.values(), pending, strict=True):
            for row in rows:
                counts[(p, as_str(row["message_id"]))] = int(row["times_delivered"])
        entries, gone = self._entries(st, reply, counts)
        if gone:
            await self._pending.xack(st, gone)

        if st.unseen:
            entries = [
                dataclasses.replace(e, deliveries=max(1, e.deliveries - 1)) if e.id in st.unseen else e
                for e in entries
            ]
            st.unseen.difference_update(e.id for e in entries)
        return entries

    async def read_new(self, st: ConsumerState, max_batch: int) -> list[Entry] | None:
        """New entries of the readable partitions, waiting up to one block for them; None when interrupted."""
        if self._cluster:
            return await self._read_new_cluster(st, max_batch)
        keys = _readable(st)
        st.changed.clear()
        if self._closing.is_set():
            return None
        if not keys:
            return []  # every owned partition still to be claimed: the next step claims them
        # close() and a partition acquired interrupt the read by cancelling it (`ConsumerState.interrupt`): one
        # task per read, not a race of three
        read = st.reading = asyncio.ensure_future(
            self._redis.xreadgroup(
                st.group,
                st.name,
                dict.fromkeys(keys, ">"),
                count=_per_stream(max_batch, len(keys)),
                block=self._block_ms,
            )
        )
        try:
            reply = await read
        except asyncio.CancelledError:
            raise_if_cancelled()  # ours, not just the read's: end, don't swallow it
            return None  # interrupted (what it may have read is in our PEL: the caller re-reads that)
        finally:
            st.reading = None
        if self._closing.is_set():
            return None
        entries, _ = self._entries(st, reply, None)
        return entries

    async def read_more(self, st: ConsumerState, max_batch: int) -> list[Entry]:
        """New entries already there (no blocking)."""
        keys = _readable(st)
        if self._closing.is_set() or not keys:
            return []
        reply = await self._redis.xreadgroup(
            st.group, st.name, dict.fromkeys(keys, ">"), count=_per_stream(max_batch, len(keys))
        )
        return self._entries(st, reply, None)[0]

    async def _read_new_cluster(self, st: ConsumerState, max_batch: int) -> list[Entry] | None:
        """New entries on a Cluster, where one XREADGROUP may name only one slot's streams. Each owned
        partition has at most one read in flight (`st.inflight`): a blocking read that outlives this call
        when another partition answered first, and is collected by a later call, so nothing it reads is
        delivered twice or counted as a second delivery. Partitions with no read in flight are first read
        without blocking (a pipeline per node); only when nothing was there does the call block."""
        keys = list(_readable(st))
        await st.drop_inflight([k for k in st.inflight if k not in keys])
        got = self._collect(st)
        idle = [k for k in keys if k not in st.inflight]
        if not got and idle:
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in idle:
                    pipe.xreadgroup(st.group, st.name, {name: ">"}, count=_per_stream(max_batch, len(keys)))
                got = [pair for r in await pipe.execute() for pair in _pairs(r)]
        if got:
            return self._entries(st, got, None)[0]
        st.changed.clear()
        for name in idle:
            st.inflight[name] = asyncio.ensure_future(
                self._redis.xreadgroup(
                    st.group,
                    st.name,
                    {name: ">"},
                    count=_per_stream(max_batch, len(keys)),
                    block=self._block_ms,
                )
            )
        closing = asyncio.ensure_future(self._closing.wait())
        change = asyncio.ensure_future(st.changed.wait())
        try:
            while st.inflight and not got and not closing.done() and not change.done():
                await asyncio.wait(
                    {*st.inflight.values(), closing, change}, return_when=asyncio.FIRST_COMPLETED
                )
                got = self._collect(st)
        finally:
            closing.cancel()
            change.cancel()
        if self._closing.is_set():
            return None
        # a partition acquired (`change`): not an interruption here, the reads in flight carry on and the next
        # call reads the new partitions too
        return self._entries(st, got, None)[0]

    def _collect(self, st: ConsumerState) -> list[Any]:
        """The replies of the finished in-flight reads (an outage raises here, as a plain read would)."""
        got: list[Any] = []
        for name, task in list(st.inflight.items()):
            if task.done():
                del st.inflight[name]
                got += _pairs(task.result())
        return got

    def _entries(
        self, st: ConsumerState, reply: Any, counts: dict[tuple[int, str], int] | None
    ) -> tuple[list[Entry], dict[int, list[str]]]:
        keys = _keys(st)
        bundles = st.bundles
        out: list[Entry] = []
        gone: dict[int, list[str]] = {}
        for name, items in _pairs(reply):
            p = keys.get(name)
            if p is None:
                continue
            for rid_raw, fields in items:
                rid = as_str(rid_raw)
                if not fields:  # trimmed or deleted while pending
                    gone.setdefault(p, []).append(rid)
                    continue
                deliveries = 1 if counts is None else counts.get((p, rid), 1)
                bundle = fields.get(b"b", fields.get("b"))
                if bundle is None:  # one event per entry (as written before bundles)
                    raw_key = fields.get(b"k", fields.get("k"))
                    event = loads(fields.get(b"e", fields.get("e")))
                    out.append(
                        Entry(f"{p}/{rid}", event, None if raw_key is None else as_str(raw_key), deliveries)
                    )
                    continue
                events = loads_many(bundle)
                raw_keys = fields.get(b"k", fields.get("k"))
                ks = orjson.loads(raw_keys) if raw_keys is not None else [None] * len(events)
                if len(events) == 1:
                    out.append(Entry(f"{p}/{rid}", events[0], ks[0], deliveries))
                    continue
                # a bundle may span batches: this consumer skips the events it already acked (`BundleProgress`)
                bundles.sizes[(p, rid)] = len(events)
                done = bundles.progress.get((p, rid), 0)
                out += [
                    Entry(f"{p}/{rid}/{i}", events[i], ks[i], deliveries) for i in range(done, len(events))
                ]
        return out, gone


def _keys(st: ConsumerState) -> dict[str, int]:
    return {stream_key(st.stream, p): p for p in sorted(st.owned)}


def _readable(st: ConsumerState) -> dict[str, int]:
    """The owned partitions whose new entries may be read: not one acquired and not yet claimed from its
    former owner (a partition can be acquired during any await of a step, after the step's claim: a read of
    its new entries then would deliver them before the former owner's pending ones, out of order)."""
    return {stream_key(st.stream, p): p for p in sorted(st.owned - st.fresh)}


def _pairs(reply: Any) -> list[tuple[str, list[Any]]]:
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3
        return [(as_str(k), v[0] if v and isinstance(v[0], list) else v) for k, v in reply.items()]
    return [(as_str(name), items) for name, items in reply]


def _per_stream(max_batch: int, streams: int) -> int:
    """Entries a read takes from each stream: about max_batch in all (an entry is a bundle of one event or more,
    so a read never holds a stream's whole backlog)."""
    return max(1, -(-max_batch // max(1, streams)))
