"""Routing decisions per call: `choose_operator` (router/rules/distribution.py) with 10 / 100 / 1,000 operators in each
mode, also through the engine's lazy operator view (router/engine/state.py), and `is_open` / `next_open`
(router/rules/hours.py). Pure functions, timed in-process with timeit (median of 5 repeats).

    python -m bench.routing [--repeats 5] [--budget 0.05]    # prints one JSON object
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.common import progress, quick
from router.engine.state import RoutingState
from router.rules.dialog import LinePolicy
from router.rules.distribution import OperatorState, QueueState, choose_operator
from router.rules.hours import always_open, is_open, next_open, parse_schedule

SIZES = (10, 100, 1000)
NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)  # a Wednesday: 12:30 in Moscow


def per_call_us(fn: Callable[[], object], repeats: int, budget: float = 0.05) -> float:
    """Median time of one call over `repeats` runs of about `budget` seconds each, µs."""
    timer = timeit.Timer(fn)
    number = 1
    while (t := timer.timeit(number)) < budget / 5:
        number *= 2 if t > budget / 50 else 10
    number = max(1, int(number * budget / t))
    runs = timer.repeat(repeat=repeats, number=number)
    return statistics.median(runs) / number * 1e6


def operators(n: int) -> dict[str, OperatorState]:
    """n operators: one in ten offline, loads 0..6 of 10, some outstanding offers, varied last offer times."""
    return {
        f"op{i}": OperatorState(
            login=f"op{i}",
            online=i % 10 != 3,
            open_dialogs=(i * 7) % 7,
            max_dialogs=10,
            pending_offers=i % 3,
            last_offered_at=NOW - timedelta(seconds=(i * 37) % 600),
        )
        for i in range(n)
    }


def bench_choose(repeats: int, budget: float = 0.05) -> list[dict[str, Any]]:
    out = []
    for n in SIZES:
        ops = operators(n)
        logins = tuple(ops)
        queue = QueueState(
            queue=logins,
            offer_timeout=timedelta(seconds=60),
            excluded=frozenset(logins[: max(1, n // 20)]),  # a few skipped it this round
            last_offered=logins[n // 2],
        )
        row: dict[str, Any] = {"operators": n}
        for mode in ("even", "sequential", "all"):
            assert choose_operator(queue, ops, mode, NOW) is not None
            row[mode] = per_call_us(
                lambda q=queue, o=ops, m=mode: choose_operator(q, o, m, NOW), repeats, budget
            )
        # the engine's path: operator states built on demand from the shared routing state
        state = RoutingState({("line", login): 10 for login in logins}, {"line": "even"})
        for i, login in enumerate(logins):
            state.presence[login] = "online" if i % 10 != 3 else "offline"
            state.open_count[login] = i % 7
            state.offer_count[login] = i % 3
            state.last_offered_at[login] = NOW - timedelta(seconds=(i * 37) % 600)
        policy = LinePolicy(
            id="line",
            name="Line",
            mode="even",
            queue=logins,
            offer_timeout=timedelta(seconds=60),
            retry_interval=timedelta(seconds=120),
        )
        view = state.operators_for(policy)
        row["even_engine_view"] = per_call_us(
            lambda q=queue, v=view: choose_operator(q, v, "even", NOW), repeats, budget
        )
        out.append(row)
        progress(
            f"routing: choose_operator with {n} operators: even {row['even']:.1f} µs, sequential "
            f"{row['sequential']:.1f} µs, all {row['all']:.1f} µs, even via RoutingState {row['even_engine_view']:.1f} µs"
        )
    return out


def bench_hours(repeats: int, budget: float = 0.05) -> dict[str, Any]:
    holidays = [
        date(2026, 12, 31),
        *(date(2027, 1, d) for d in range(1, 9)),
        date(2027, 2, 23),
        date(2027, 3, 8),
    ]
    office = parse_schedule(
        "Europe/Moscow",
        {d: ["09:00-13:00", "14:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        holidays=holidays,
        workdays=[date(2026, 12, 26)],
    )
    friday_evening = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # 20:00 in Moscow: next open Monday 09:00
    new_year = datetime(2026, 12, 30, 16, 0, tzinfo=UTC)  # 19:00 on the 30th: next open 11 January
    cases = {
        "is_open (office hours, open)": lambda: is_open(office, NOW),
        "is_open (office hours, closed)": lambda: is_open(office, friday_evening),
        "is_open (always open)": lambda s=always_open(): is_open(s, NOW),
        "next_open (Friday evening → Monday)": lambda: next_open(office, friday_evening),
        "next_open (New Year holidays → 11 Jan)": lambda: next_open(office, new_year),
    }
    assert next_open(office, friday_evening) is not None and next_open(office, new_year) is not None
    out = {name: per_call_us(fn, repeats, budget) for name, fn in cases.items()}
    progress("routing: " + ", ".join(f"{k} {v:.1f} µs" for k, v in out.items()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=0, help="timeit runs per case (default 5, quick 3)")
    parser.add_argument("--budget", type=float, default=0.05, help="seconds per timeit run")
    args = parser.parse_args()
    repeats = args.repeats or (3 if quick() else 5)
    result = {
        "choose_operator": bench_choose(repeats, args.budget),
        "hours": bench_hours(repeats, args.budget),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
