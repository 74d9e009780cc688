"""Token buckets and the flood guard, driven by an injected clock: tables of (events at times) -> outcome."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.ratelimit import (
    BucketTable,
    FloodGuard,
    Rate,
    TokenBucket,
    Verdict,
    retry_after,
    take_all,
)

PER_MINUTE_30_BURST_10 = Rate.per_minute(30, 10)  # the widget's default per visitor: a token every 2 s


@pytest.mark.parametrize(
    ("rate", "times", "accepted"),
    [
        # a full bucket lets the burst through at once, then nothing until a token comes back
        (PER_MINUTE_30_BURST_10, [0.0] * 12, [True] * 10 + [False] * 2),
        # one token every 2 s: 1.9 s after the burst is too early, 2.0 s is on time
        (PER_MINUTE_30_BURST_10, [0.0] * 10 + [1.9, 2.0, 2.1], [True] * 10 + [False, True, False]),
        # a sender at exactly the sustained rate is never refused
        (Rate(1.0, 1), [0.0, 1.0, 2.0, 3.0, 4.0], [True] * 5),
        # idle time refills only up to the burst, never beyond
        (Rate(1.0, 2), [0.0, 0.0, 100.0, 100.0, 100.0], [True, True, True, True, False]),
        # a clock that steps back refills nothing (and does not crash)
        (Rate(1.0, 1), [10.0, 5.0, 10.5, 11.0], [True, False, False, True]),
    ],
    ids=[
        "burst-then-empty",
        "refill-on-time",
        "sustained-rate",
        "refill-capped-at-burst",
        "clock-steps-back",
    ],
)
def test_token_bucket_admits_the_burst_then_the_rate(rate, times, accepted):
    bucket = TokenBucket(rate, now=times[0])
    assert [bucket.take(t) for t in times] == accepted


@pytest.mark.parametrize(
    ("spent", "now", "wait"),
    [(0, 0.0, 0.0), (10, 0.0, 2.0), (10, 0.5, 1.5), (10, 2.0, 0.0), (10, 30.0, 0.0)],
)
def test_wait_is_the_time_until_the_next_token(spent, now, wait):
    bucket = TokenBucket(PER_MINUTE_30_BURST_10, now=0.0)
    for _ in range(spent):
        assert bucket.take(0.0)
    assert bucket.wait(now) == pytest.approx(wait)


@pytest.mark.parametrize(("wait", "seconds"), [(0.001, 1), (0.5, 1), (1.0, 1), (1.01, 2), (29.2, 30)])
def test_retry_after_is_whole_seconds_rounded_up(wait, seconds):
    assert retry_after(wait) == seconds


def test_take_all_takes_from_every_bucket_or_from_none():
    visitor, address = TokenBucket(Rate(1.0, 1), 0.0), TokenBucket(Rate(1.0, 3), 0.0)
    assert take_all([visitor, address], 0.0) == 0.0
    # the visitor is out: the address keeps its tokens, so other visitors behind it are not punished
    assert take_all([visitor, address], 0.0) == pytest.approx(1.0)
    assert address.level(0.0) == pytest.approx(2.0)
    assert take_all([visitor, address], 1.0) == 0.0
    assert (visitor.level(1.0), address.level(1.0)) == pytest.approx((0.0, 2.0))


def test_take_all_reports_the_longest_wait():
    fast, slow = TokenBucket(Rate(1.0, 1), 0.0), TokenBucket(Rate(0.25, 1), 0.0)
    assert take_all([fast, slow], 0.0) == 0.0
    assert take_all([fast, slow], 0.0) == pytest.approx(4.0)


def test_table_gives_each_key_its_own_bucket():
    table = BucketTable(Rate(1.0, 1))
    assert table.bucket("a", 0.0).take(0.0)
    assert not table.bucket("a", 0.0).take(0.0)
    assert table.bucket("b", 0.0).take(0.0)


def test_table_sweeps_buckets_that_refilled_and_keeps_busy_ones():
    table = BucketTable(Rate(0.5, 2), sweep_every=60.0)
    assert table.bucket("idle", 0.0).take(0.0)
    table.bucket("fresh", 0.0)
    busy = table.bucket("busy", 0.0)
    assert busy.take(0.0) and busy.take(0.0)
    assert table.sweep(1.0) == 1  # "fresh" was never used: full, forgotten
    assert ("idle" in table, "busy" in table, "fresh" in table) == (True, True, False)
    assert table.sweep(2.0) == 1  # "idle" is full again
    assert ("idle" in table, "busy" in table) == (False, True)
    assert table.sweep(4.0) == 1
    assert len(table) == 0


def test_table_sweeps_on_its_own_as_time_passes():
    table = BucketTable(Rate(1.0, 1), sweep_every=60.0)
    for i in range(1000):
        table.bucket(f"visitor-{i}", 0.0).take(0.0)
    assert len(table) == 1000
    table.bucket("late", 59.0)
    assert len(table) == 1001  # not yet time to sweep
    table.bucket("later", 60.0)
    assert len(table) == 1  # the 1000 refilled and "late" too; only "later" is left


def test_table_memory_is_bounded_by_evicting_the_least_recently_used():
    table = BucketTable(Rate(0.001, 1), max_keys=3)
    for key in ("a", "b", "c"):
        table.bucket(key, 0.0).take(0.0)
    table.bucket("a", 0.0)  # a is used again: b is now the least recent
    table.bucket("d", 0.0)
    assert len(table) == 3
    assert ("a" in table, "b" in table, "c" in table, "d" in table) == (True, False, True, True)


def _run(guard: FloodGuard, times: list[float]) -> list[Verdict]:
    return [guard.frame(t) for t in times]


A, D, N, C = Verdict.ACCEPT, Verdict.DROP, Verdict.DROP_AND_NOTIFY, Verdict.CLOSE


@pytest.mark.parametrize(
    ("times", "verdicts"),
    [
        # within the burst every frame is accepted
        ([0.0, 0.0, 0.0], [A, A, A]),
        # over it: dropped, with one notice, then silence until a second has passed
        ([0.0] * 3 + [0.1, 0.2, 1.0, 1.1], [A, A, A, N, D, D, N]),
        # slow enough: the bucket refills, nothing is dropped
        ([0.0, 0.0, 0.0, 2.0, 4.0, 6.0], [A, A, A, A, A, A]),
    ],
    ids=["burst", "notice-once-a-second", "steady"],
)
def test_flood_guard_drops_over_the_cap_and_notifies_at_most_once_a_second(times, verdicts):
    assert _run(FloodGuard(Rate(0.5, 3), 0.0), times) == verdicts


def test_flood_guard_closes_a_connection_that_floods_for_more_than_five_seconds():
    guard = FloodGuard(Rate(20.0, 50), 0.0, close_after=5.0)
    verdicts = _run(guard, [i / 1000 for i in range(6000)])  # 1000 frames a second for 6 s
    first_drop, first_close = verdicts.index(N), verdicts.index(C)
    assert 5.0 < (first_close - first_drop) / 1000 <= 5.002
    assert A in verdicts[first_drop:first_close]  # the sustained rate still got through meanwhile


def test_flood_guard_forgives_a_flood_after_a_quiet_second():
    guard = FloodGuard(Rate(20.0, 50), 0.0, close_after=5.0, quiet_after=1.0)
    first = _run(guard, [t / 1000 for t in range(4000)])  # 4 s of flooding
    second = _run(guard, [5.0 + t / 1000 for t in range(4000)])  # a quiet second, then 4 s more
    assert N in first and N in second and C not in first + second
    # but when the second flood goes on past 5 s, the connection is closed
    more = _run(guard, [9.0 + t / 1000 for t in range(1200)])
    assert C in more and 9.0 + more.index(C) / 1000 > 10.0


def test_the_pure_part_reads_no_clock():
    source = (Path(__file__).resolve().parents[2] / "connectors" / "ratelimit.py").read_text()
    assert not re.search(r"^\s*(import|from)\s+(time|datetime|asyncio)\b", source, re.M)
    assert not re.search(r"time\.(time|monotonic)|datetime\.now", source)
