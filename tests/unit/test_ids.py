"""new_id: the ULID-layout format of the base64-based implementation, monotonic and thread-safe."""

from __future__ import annotations

import base64
import itertools
import re
import threading
import time
import types

import pytest

from crm_core import ids
from crm_core.ids import new_id

_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ")
_BACK = bytes.maketrans(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_FORMAT = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def reference(value: int) -> str:
    """The id of a 128-bit value as the base64-based implementation wrote it."""
    return base64.b32encode(value.to_bytes(16, "big"))[:26].translate(_CROCKFORD).decode()


def value_of(id_: str) -> int:
    return int.from_bytes(base64.b32decode(id_.encode().translate(_BACK) + b"======"), "big")


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Make the clock and the random bytes ours; the generator's state comes back after the test."""
    state: dict[str, object] = {"ms": 1_714_557_600_000, "rand": bytes(10)}
    monkeypatch.setattr(ids, "time", types.SimpleNamespace(time_ns=lambda: state["ms"] * 1_000_000))  # type: ignore[operator]
    monkeypatch.setattr(ids, "os", types.SimpleNamespace(urandom=lambda n: state["rand"]))
    for name in ("_last_ms", "_high", "_low", "_head"):
        monkeypatch.setattr(ids, name, getattr(ids, name))
    monkeypatch.setattr(ids, "_last_ms", 0)
    return state


@pytest.mark.parametrize(
    "rand",
    [bytes(10), b"\xff" * 10, bytes.fromhex("0123456789abcdef0123"), bytes.fromhex("00000000000000001fff")],
)
@pytest.mark.parametrize("ms", [0, 1, 1_714_557_600_000, (1 << 48) - 1])
def test_ids_are_the_reference_encoding_of_the_value(
    fake_clock: dict[str, object], ms: int, rand: bytes
) -> None:
    fake_clock["ms"], fake_clock["rand"] = ms, rand
    ids._last_ms = -1  # so that ms 0 is a new millisecond too
    first = int.from_bytes(rand, "big") >> 1
    for i in range(5):  # the first id of a millisecond, then increments
        assert new_id() == reference((ms << 80) | (first + i))


def test_an_increment_carries_into_the_upper_symbols(fake_clock: dict[str, object]) -> None:
    ms = fake_clock["ms"]
    first = (0x1234_5678_9ABC << 28) | ((1 << 28) - 3)  # the low 28 bits three short of a carry
    fake_clock["rand"] = (first << 1).to_bytes(10, "big")
    got = [new_id() for _ in range(6)]
    assert got == [reference((ms << 80) | (first + i)) for i in range(6)]  # type: ignore[operator]
    assert got[2][:20] != got[3][:20]


def test_the_random_part_wraps_at_80_bits_as_before(fake_clock: dict[str, object]) -> None:
    ms = fake_clock["ms"]
    new_id()
    ids._high, ids._low = (1 << 52) - 1, (1 << 28) - 1  # as if 2**79 ids came in one millisecond
    assert new_id() == reference(ms << 80)  # type: ignore[operator]
    assert new_id() == reference((ms << 80) | 1)  # type: ignore[operator]


def test_a_clock_stepping_back_keeps_ids_increasing(fake_clock: dict[str, object]) -> None:
    a = new_id()
    fake_clock["ms"] = fake_clock["ms"] - 5  # type: ignore[operator]
    b = new_id()
    assert b > a and value_of(b) == value_of(a) + 1


def test_ids_carry_the_time_and_26_crockford_symbols() -> None:
    before = time.time_ns() // 1_000_000
    id_ = new_id()
    after = time.time_ns() // 1_000_000
    assert _FORMAT.fullmatch(id_)
    assert before <= value_of(id_) >> 80 <= after
    assert reference(value_of(id_)) == id_


def test_ids_strictly_increase() -> None:
    got = [new_id() for _ in range(100_000)]
    assert all(len(i) == 26 for i in got)
    assert all(a < b for a, b in itertools.pairwise(got))
    values = [value_of(i) for i in got]
    assert values == sorted(values)  # they sort as their values do


def test_ids_are_unique_across_threads() -> None:
    out: list[list[str]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def work(mine: list[str]) -> None:
        start.wait()
        mine.extend(new_id() for _ in range(20_000))

    threads = [threading.Thread(target=work, args=(mine,)) for mine in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for mine in out for i in mine]
    assert len(set(everything)) == len(everything) == 80_000
    for mine in out:  # each thread sees its own ids increasing
        assert mine == sorted(mine)
