"""The Redis bus's bookkeeping of bundles delivered in part (queues/redis_bundles.py), without a Redis; and the
names other packages import from queues.redis_streams and queues.messages, which the split into modules keeps."""

from __future__ import annotations

import importlib

import orjson
import pytest

from queues.bus import Entry
from queues.messages import OperatorPresence
from queues.redis_bundles import BUNDLE_MAX, BundleProgress, bundles


def entry(entry_id: str) -> Entry:
    return Entry(
        entry_id, OperatorPresence(event_id=entry_id, operator="anna", status="online", ts="t"), None, 1
    )


def test_a_bundle_is_acked_with_its_last_event_and_single_entries_at_once() -> None:
    progress = BundleProgress()
    progress.sizes[(0, "1-0")] = 3
    assert progress.acked([entry("0/1-0/0"), entry("0/1-0/1")]) == ({}, {})
    assert progress.progress == {(0, "1-0"): 2}
    assert progress.acked([entry("0/1-0/2"), entry("1/2-0"), entry("1/3-0")]) == (
        {0: ["1-0"], 1: ["2-0", "3-0"]},
        {},
    )
    assert progress.progress == {} and progress.sizes == {}


def test_saved_progress_is_resumed_and_forgotten_once_the_bundle_is_acked() -> None:
    progress = BundleProgress()
    progress.merge_saved(2, {b"5-0": b"2"})
    progress.merge_saved(2, {"5-0": "1"})  # never less than what is known already
    assert progress.progress == {(2, "5-0"): 2} and progress.remote == {(2, "5-0")}
    assert progress.saved(2) == {"5-0": 2} and progress.saved(0) == {}
    progress.sizes[(2, "5-0")] = 3
    assert progress.acked([entry("2/5-0/2")]) == ({2: ["5-0"]}, {2: ["5-0"]})
    assert progress.remote == set()


def test_the_bundles_of_released_partitions_are_forgotten() -> None:
    progress = BundleProgress()
    for p in (0, 1):
        progress.sizes[(p, "1-0")] = 4
        progress.progress[(p, "1-0")] = 1
    progress.drop([1])
    assert progress.sizes == {(0, "1-0"): 4} and progress.progress == {(0, "1-0"): 1}


def test_bundles_are_capped_per_stream_key_and_carry_keys_only_when_one_has_one() -> None:
    writes = [("a", None, b"1")] * (BUNDLE_MAX + 1) + [("b", "k", b"2"), ("b", None, b"3")]
    out = bundles(writes)
    assert [len(orjson.loads(e["b"])) for e in out["a"]] == [BUNDLE_MAX, 1]
    assert all("k" not in e for e in out["a"])
    assert out["b"] == [{"b": b"[2,3]", "k": orjson.dumps(["k", None])}]


# what router/, connectors/ and tests import from these two modules (and a few more public names of theirs)
IMPORTED = {
    "queues.redis_streams": "RedisBus redis_client run_script BUNDLE_MAX stream_key lease_key progress_key "
    "members_key partition_of DEAD_KEY PARKED POOL_SIZE POOL_WAIT ACK_TRIES",
    "queues.messages": "Event Attachment SenderProfile InboundMessage CustomerConsent OperatorCommand "
    "OperatorPresence DialogTimer OutboundMessage Receipt DeliveryStatus ConsoleEvent SendResult "
    "to_dict from_dict dumps loads loads_many _REGISTRY",
}


@pytest.mark.parametrize("module", sorted(IMPORTED))
def test_the_names_other_packages_import_stay_where_they_were(module: str) -> None:
    loaded = importlib.import_module(module)
    assert [n for n in IMPORTED[module].split() if not hasattr(loaded, n)] == []


def test_the_kind_registry_is_the_codecs_own() -> None:
    from queues import codec, messages

    assert messages._REGISTRY is codec.REGISTRY
    assert messages._REGISTRY["operator.presence"] is OperatorPresence
