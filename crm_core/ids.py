"""Time-ordered, monotonic string ids (ULID layout) generated in-process, so inserts need no round trip."""

from __future__ import annotations

import base64
import os
import threading
import time

# base32 of the 128-bit value, in Crockford's alphabet: it is in ASCII order, so ids sort as their values do
_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ")
_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def new_id() -> str:
    """A 26-character id that sorts by creation time, strictly increasing within this process."""
    global _last_ms, _last_rand
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _last_rand += 1  # same millisecond: stay monotonic so ids order the messages of a dialog
        else:
            _last_rand = int.from_bytes(os.urandom(10), "big") >> 1  # room to increment
        _last_ms = ms
        value = (ms << 80) | (_last_rand & ((1 << 80) - 1))
    return base64.b32encode(value.to_bytes(16, "big"))[:26].translate(_CROCKFORD).decode()
