"""router/web/throttle.py on a hand-moved clock: free failures, doubling locks to a cap, the window, a reset."""

from __future__ import annotations

from router.web.throttle import Policy, Throttle


def test_failures_past_the_free_ones_lock_for_a_doubling_while() -> None:
    t = Throttle(Policy(free=3, base=1.0, cap=5.0))
    locks = [t.failed("anna", now=float(i)) for i in range(7)]
    assert locks == [0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 5.0]  # capped
    assert t.wait("anna", now=6.0) == 5.0
    assert t.wait("anna", now=11.5) == 0.0
    assert t.wait("boris", now=6.0) == 0.0


def test_failures_older_than_the_window_are_forgotten() -> None:
    t = Throttle(Policy(free=2, window=60.0))
    t.failed("anna", 0.0)
    t.failed("anna", 1.0)
    assert t.failed("anna", 100.0) == 0.0  # the first two fell out of the window


def test_a_success_clears_the_count() -> None:
    t = Throttle(Policy(free=1))
    t.failed("anna", 0.0)
    assert t.failed("anna", 1.0) > 0
    t.succeeded("anna")
    assert t.wait("anna", 1.5) == 0.0
    assert t.failed("anna", 2.0) == 0.0


def test_random_keys_cost_bounded_memory() -> None:
    t = Throttle(Policy(free=1), keys=100)
    for i in range(1000):
        t.failed(f"ghost{i}", float(i))
    assert len(t._records) == 100
