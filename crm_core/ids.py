"""Time-ordered, monotonic string ids (ULID layout) generated in-process, so inserts need no round trip."""

from __future__ import annotations

import os
import threading
import time

# The id is base32 of the 128-bit value (48-bit ms timestamp, 80 random bits), as base64.b32encode of its 16
# bytes cut to 26 symbols (the last symbol carries 3 value bits and 2 zero bits), in Crockford's alphabet: it
# is in ASCII order, so ids sort as their values do. One table look-up encodes 10 bits (two symbols), which
# is several times faster than the pure-Python base64 module.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
# The random part is kept as a high and a low counter: the low 28 bits are the last 6 symbols (30 bits with
# the padding), so a run of ids within one millisecond increments a one-digit int and encodes 3 pairs, and the
# first 20 symbols are encoded again only on a new millisecond or a carry.
_LOW_BITS = (1 << 28) - 1
_HIGH_BITS = (1 << 52) - 1

_lock = threading.Lock()
_last_ms = 0
_high = 0
_low = 0
_head = ""


def _encode_head(ms: int, high: int) -> str:
    """The first 20 symbols: the 100 bits of the timestamp and the high 52 random bits."""
    p = _PAIRS
    # two 50-bit halves: shifting and masking ints this small is much cheaper than the whole 128-bit value
    a, b = (ms << 2) | (high >> 50), high & 0x3_FFFF_FFFF_FFFF
    return (
        p[a >> 40]
        + p[(a >> 30) & 1023]
        + p[(a >> 20) & 1023]
        + p[(a >> 10) & 1023]
        + p[a & 1023]
        + p[b >> 40]
        + p[(b >> 30) & 1023]
        + p[(b >> 20) & 1023]
        + p[(b >> 10) & 1023]
        + p[b & 1023]
    )


def new_id() -> str:
    """A 26-character id that sorts by creation time, strictly increasing within this process."""
    global _last_ms, _high, _low, _head
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # same millisecond (or the clock stepped back): stay monotonic so ids order the messages of a dialog
            low = _low + 1
            if low > _LOW_BITS:
                low = 0
                _high = (_high + 1) & _HIGH_BITS  # wraps as the 80-bit random part would
                _head = _encode_head(_last_ms, _high)
            _low = low
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # room to increment
            _last_ms = ms
            _high, _low = rand >> 28, rand & _LOW_BITS
            low = _low
            _head = _encode_head(ms, _high)
        head = _head
    lo = low << 2
    p = _PAIRS
    return head + p[lo >> 20] + p[(lo >> 10) & 1023] + p[lo & 1023]
