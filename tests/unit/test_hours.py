"""Business hours: `(schedule, now) -> open?`, when a closed line opens next, and when an open period ends.

Intervals are wall-clock times in the line's timezone and belong to the day they start on
(docs/configuration.md, `lines[].hours`). May 2026 is the reference week: Mon 11 … Fri 15, Sat 16, Sun 17.
DST in 2026: New York springs forward on Sun 8 March (02:00→03:00) and falls back on Sun 1 November
(02:00→01:00); Berlin on Sun 29 March (02:00→03:00) and Sun 25 October (03:00→02:00).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.rules.hours import Schedule, always_open, is_open, next_close, next_open, parse_schedule

WORKWEEK = ("mon", "tue", "wed", "thu", "fri")
TICK = timedelta(microseconds=1)


def at(tz: str, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A wall-clock time in `tz`."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz))


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hours(
    tz: str,
    weekly: Mapping[str, Sequence[str]],
    holidays: Iterable[date] = (),
    workdays: Iterable[date] = (),
    workday_template: str = "mon",
) -> Schedule:
    return parse_schedule(tz, weekly, holidays, workdays, workday_template)


def office(tz: str = "UTC", holidays: Iterable[date] = (), workdays: Iterable[date] = ()) -> Schedule:
    """Monday to Friday, 09:00-18:00."""
    return hours(tz, dict.fromkeys(WORKWEEK, ("09:00-18:00",)), holidays, workdays)


OFFICE = office()
SPLIT_FRIDAY = {"fri": ["09:00-13:00", "14:00-18:00"]}
SPLIT = hours("UTC", SPLIT_FRIDAY)
NIGHT = hours("UTC", {"sat": ["22:00-02:00"]})


# ---- open or closed ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "now", "expected"),
    [
        # plain weekdays
        pytest.param(OFFICE, utc(2026, 5, 12, 12, 0), True, id="weekday-midday-open"),
        pytest.param(OFFICE, utc(2026, 5, 12, 8, 0), False, id="weekday-before-opening-closed"),
        pytest.param(OFFICE, utc(2026, 5, 12, 20, 0), False, id="weekday-evening-closed"),
        pytest.param(OFFICE, utc(2026, 5, 16, 12, 0), False, id="saturday-closed"),
        pytest.param(OFFICE, utc(2026, 5, 17, 12, 0), False, id="sunday-closed"),
        # several intervals a day
        pytest.param(SPLIT, utc(2026, 5, 15, 13, 30), False, id="lunch-break-closed"),
        pytest.param(SPLIT, utc(2026, 5, 15, 12, 59), True, id="before-lunch-open"),
        pytest.param(SPLIT, utc(2026, 5, 15, 13, 0), False, id="lunch-starts-at-13"),
        pytest.param(SPLIT, utc(2026, 5, 15, 14, 0), True, id="after-lunch-open"),
        # boundaries: start inclusive, end exclusive
        pytest.param(OFFICE, utc(2026, 5, 12, 9, 0), True, id="opening-minute-is-open"),
        pytest.param(OFFICE, utc(2026, 5, 12, 9, 0) - TICK, False, id="just-before-opening-closed"),
        pytest.param(OFFICE, utc(2026, 5, 12, 18, 0) - TICK, True, id="just-before-closing-open"),
        pytest.param(OFFICE, utc(2026, 5, 12, 18, 0), False, id="closing-minute-is-closed"),
        # overnight
        pytest.param(NIGHT, utc(2026, 5, 16, 23, 0), True, id="overnight-saturday-23-open"),
        pytest.param(NIGHT, utc(2026, 5, 17, 1, 59), True, id="overnight-sunday-0159-open"),
        pytest.param(NIGHT, utc(2026, 5, 17, 2, 0), False, id="overnight-sunday-02-closed"),
        pytest.param(NIGHT, utc(2026, 5, 16, 21, 59), False, id="overnight-saturday-2159-closed"),
        pytest.param(NIGHT, utc(2026, 5, 16, 1, 0), False, id="overnight-friday-has-no-tail-into-saturday"),
        # holidays and extra working days
        pytest.param(
            office(holidays=[date(2026, 5, 12)]), utc(2026, 5, 12, 12, 0), False, id="holiday-closes-the-day"
        ),
        pytest.param(
            office(holidays=[date(2026, 5, 12)]), utc(2026, 5, 13, 12, 0), True, id="day-after-holiday-open"
        ),
        pytest.param(
            hours("UTC", {"sat": ["22:00-02:00"]}, holidays=[date(2026, 5, 17)]),
            utc(2026, 5, 17, 1, 0),
            True,
            id="sunday-holiday-keeps-saturday-overnight-tail",
        ),
        pytest.param(
            hours("UTC", {"sat": ["22:00-02:00"]}, holidays=[date(2026, 5, 16)]),
            utc(2026, 5, 17, 1, 0),
            False,
            id="saturday-holiday-cancels-its-overnight-tail",
        ),
        pytest.param(
            office(workdays=[date(2026, 5, 16)]), utc(2026, 5, 16, 10, 0), True, id="extra-saturday-open"
        ),
        pytest.param(
            office(workdays=[date(2026, 5, 16)]),
            utc(2026, 5, 16, 18, 0),
            False,
            id="extra-saturday-closes-with-monday-hours",
        ),
        pytest.param(
            office(workdays=[date(2026, 5, 16)]), utc(2026, 5, 23, 10, 0), False, id="next-saturday-closed"
        ),
        pytest.param(
            hours(
                "UTC",
                {"mon": ["10:00-12:00"], **SPLIT_FRIDAY},
                workdays=[date(2026, 5, 16)],
                workday_template="fri",
            ),
            utc(2026, 5, 16, 15, 0),
            True,
            id="extra-saturday-uses-the-template-weekday",
        ),
        pytest.param(
            hours(
                "UTC",
                {"mon": ["10:00-12:00"], **SPLIT_FRIDAY},
                workdays=[date(2026, 5, 16)],
                workday_template="fri",
            ),
            utc(2026, 5, 16, 13, 30),
            False,
            id="extra-saturday-keeps-the-template-lunch-break",
        ),
        # timezones: `now` is given in UTC, hours in local time
        pytest.param(office("Europe/Moscow"), utc(2026, 5, 11, 6, 0), True, id="moscow-09-local-open"),
        pytest.param(office("Europe/Moscow"), utc(2026, 5, 11, 5, 59), False, id="moscow-0859-local-closed"),
        pytest.param(office("Europe/Moscow"), utc(2026, 5, 11, 15, 0), False, id="moscow-18-local-closed"),
        pytest.param(office("America/New_York"), utc(2026, 5, 11, 13, 0), True, id="new-york-09-edt-open"),
        pytest.param(office("America/New_York"), utc(2026, 5, 11, 12, 59), False, id="new-york-0859-closed"),
        pytest.param(
            office("America/New_York"), utc(2026, 1, 12, 14, 0), True, id="new-york-winter-0900-est-open"
        ),
        pytest.param(
            office("America/New_York"), utc(2026, 1, 12, 13, 0), False, id="new-york-winter-0800-est-closed"
        ),
        pytest.param(
            office("Asia/Kolkata"), utc(2026, 5, 11, 3, 30), True, id="kolkata-half-hour-offset-open"
        ),
        pytest.param(
            office("Asia/Kolkata"), utc(2026, 5, 11, 3, 29), False, id="kolkata-half-hour-offset-closed"
        ),
        pytest.param(
            office("Asia/Kolkata"),
            utc(2026, 5, 10, 22, 0),
            False,
            id="kolkata-sunday-utc-is-monday-0330-local",
        ),
        # DST, New York: spring forward on 8 March, fall back on 1 November
        pytest.param(
            hours("America/New_York", {"sun": ["01:00-05:00"]}),
            at("America/New_York", 2026, 3, 8, 1, 59),
            True,
            id="ny-spring-0159-est-open",
        ),
        pytest.param(
            hours("America/New_York", {"sun": ["01:00-05:00"]}),
            at("America/New_York", 2026, 3, 8, 3, 0),
            True,
            id="ny-spring-0300-edt-open",
        ),
        pytest.param(
            hours("America/New_York", {"sun": ["01:00-02:00"]}),
            utc(2026, 11, 1, 5, 30),
            True,
            id="ny-fall-0130-first-occurrence-open",
        ),
        pytest.param(
            hours("America/New_York", {"sun": ["01:00-02:00"]}),
            utc(2026, 11, 1, 6, 30),
            True,
            id="ny-fall-0130-second-occurrence-open",
        ),
        pytest.param(
            hours("America/New_York", {"sun": ["01:00-02:00"]}),
            utc(2026, 11, 1, 7, 0),
            False,
            id="ny-fall-0200-est-closed",
        ),
        pytest.param(
            hours("America/New_York", {"sun": ["01:30-05:00"]}),
            utc(2026, 11, 1, 6, 0),
            False,
            id="ny-fall-wall-clock-steps-back-out-of-the-interval",
        ),
        # DST, Berlin: spring forward on 29 March, fall back on 25 October
        pytest.param(
            hours("Europe/Berlin", {"sun": ["02:30-04:00"]}),
            utc(2026, 3, 29, 1, 0),
            True,
            id="berlin-spring-opens-at-0300-after-the-gap",
        ),
        pytest.param(
            hours("Europe/Berlin", {"sun": ["02:30-04:00"]}),
            utc(2026, 3, 29, 1, 0) - TICK,
            False,
            id="berlin-spring-0159-cet-closed",
        ),
        pytest.param(
            hours("Europe/Berlin", {"sun": ["02:00-03:00"]}),
            utc(2026, 10, 25, 0, 30),
            True,
            id="berlin-fall-0230-first-occurrence-open",
        ),
        pytest.param(
            hours("Europe/Berlin", {"sun": ["02:00-03:00"]}),
            utc(2026, 10, 25, 1, 30),
            True,
            id="berlin-fall-0230-second-occurrence-open",
        ),
        pytest.param(
            hours("Europe/Berlin", {"sun": ["02:00-03:00"]}),
            utc(2026, 10, 25, 2, 0),
            False,
            id="berlin-fall-0300-cet-closed",
        ),
        # DST, Santiago: clocks fall back from Sunday 00:00 to Saturday 23:00 on 5 April (03:00 UTC)
        pytest.param(
            hours("America/Santiago", {"sat": ["23:00-24:00"]}),
            utc(2026, 4, 5, 3, 30),
            True,
            id="santiago-saturday-evening-happens-twice",
        ),
        pytest.param(
            hours("America/Santiago", {"sun": ["00:00-02:00"]}),
            utc(2026, 4, 5, 3, 30),
            False,
            id="santiago-sunday-has-not-started-in-the-repeated-hour",
        ),
        # a line without hours
        pytest.param(always_open(), utc(2026, 5, 17, 3, 33), True, id="always-open-sunday-night"),
        pytest.param(always_open("Asia/Kolkata"), utc(2026, 3, 8, 7, 0), True, id="always-open-any-zone"),
        pytest.param(hours("UTC", {}), utc(2026, 5, 12, 12, 0), False, id="empty-schedule-closed"),
    ],
)
def test_is_open(schedule: Schedule, now: datetime, expected: bool) -> None:
    assert is_open(schedule, now) is expected


# ---- when it opens next -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "now", "expected"),
    [
        pytest.param(
            OFFICE, utc(2026, 5, 15, 19, 0), utc(2026, 5, 18, 9, 0), id="friday-evening-to-monday-0900"
        ),
        pytest.param(
            OFFICE, utc(2026, 5, 12, 6, 0), utc(2026, 5, 12, 9, 0), id="early-morning-to-0900-same-day"
        ),
        pytest.param(
            SPLIT, utc(2026, 5, 15, 13, 30), utc(2026, 5, 15, 14, 0), id="lunch-break-to-1400-same-day"
        ),
        pytest.param(OFFICE, utc(2026, 5, 12, 10, 15), utc(2026, 5, 12, 10, 15), id="open-now-is-now"),
        pytest.param(
            office(holidays=[date(2026, 5, 12)]),
            utc(2026, 5, 12, 10, 0),
            utc(2026, 5, 13, 9, 0),
            id="holiday-to-the-day-after",
        ),
        pytest.param(
            office(holidays=[date(2026, 5, 15)]),
            utc(2026, 5, 14, 19, 0),
            utc(2026, 5, 18, 9, 0),
            id="holiday-friday-to-monday",
        ),
        pytest.param(
            office(workdays=[date(2026, 5, 16)]),
            utc(2026, 5, 15, 19, 0),
            utc(2026, 5, 16, 9, 0),
            id="friday-evening-to-extra-saturday",
        ),
        pytest.param(NIGHT, utc(2026, 5, 15, 19, 0), utc(2026, 5, 16, 22, 0), id="to-saturday-night"),
        pytest.param(
            office("Asia/Kolkata"),
            at("Asia/Kolkata", 2026, 5, 15, 19, 0),
            at("Asia/Kolkata", 2026, 5, 18, 9, 0),
            id="kolkata-friday-evening-to-monday-local",
        ),
        pytest.param(
            hours("America/New_York", {"sun": ["02:30-04:00"]}),
            at("America/New_York", 2026, 3, 8, 0, 0),
            at("America/New_York", 2026, 3, 8, 3, 0),
            id="ny-spring-gap-opens-at-0300-edt",
        ),
        pytest.param(
            hours("Europe/Berlin", {"sun": ["02:30-04:00"]}),
            at("Europe/Berlin", 2026, 3, 29, 0, 0),
            at("Europe/Berlin", 2026, 3, 29, 3, 0),
            id="berlin-spring-gap-opens-at-0300-cest",
        ),
        pytest.param(
            hours("America/Havana", {"sun": ["00:00-06:00"]}),
            at("America/Havana", 2026, 3, 7, 23, 0),
            at("America/Havana", 2026, 3, 8, 1, 0),
            id="havana-midnight-gap-opens-at-0100",
        ),
        pytest.param(
            hours("America/New_York", {"sun": ["01:30-05:00"]}),
            utc(2026, 11, 1, 6, 0),
            utc(2026, 11, 1, 6, 30),
            id="ny-fall-reopens-at-the-second-0130",
        ),
        pytest.param(
            hours(
                "UTC",
                {"mon": ["09:00-18:00"]},
                holidays=[date(2026, 5, 18) + timedelta(weeks=w) for w in range(40)],
            ),
            utc(2026, 5, 12, 12, 0),
            utc(2027, 2, 22, 9, 0),
            id="forty-holiday-mondays-later",
        ),
        pytest.param(
            hours("America/Santiago", {"sun": ["00:00-02:00"]}),
            utc(2026, 4, 5, 2, 30),
            utc(2026, 4, 5, 4, 0),
            id="santiago-sunday-starts-at-the-second-midnight",
        ),
        pytest.param(hours("UTC", {}), utc(2026, 5, 12, 12, 0), None, id="empty-schedule-never"),
        pytest.param(
            hours(
                "UTC",
                {"mon": ["09:00-18:00"]},
                holidays=[date(2026, 5, 18) + timedelta(weeks=w) for w in range(60)],
            ),
            utc(2026, 5, 12, 12, 0),
            None,
            id="not-within-400-days-is-never",
        ),
    ],
)
def test_next_open(schedule: Schedule, now: datetime, expected: datetime | None) -> None:
    got = next_open(schedule, now)
    assert (None if got is None else in_utc(got)) == (None if expected is None else in_utc(expected))
    if got is not None and got is not now:
        assert got.tzinfo == ZoneInfo(schedule.timezone)


def test_next_open_after_the_spring_gap_is_0300_local_wall_time() -> None:
    got = next_open(hours("America/New_York", {"sun": ["02:30-04:00"]}), utc(2026, 3, 8, 5, 0))
    assert got is not None
    assert (got.hour, got.minute, got.utcoffset()) == (3, 0, timedelta(hours=-4))


# ---- when the open period ends ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "now", "expected"),
    [
        pytest.param(OFFICE, utc(2026, 5, 12, 10, 0), utc(2026, 5, 12, 18, 0), id="office-closes-at-18"),
        pytest.param(SPLIT, utc(2026, 5, 15, 10, 0), utc(2026, 5, 15, 13, 0), id="morning-ends-at-lunch"),
        pytest.param(
            hours("UTC", {"mon": ["09:00-13:00", "13:00-18:00"]}),
            utc(2026, 5, 11, 10, 0),
            utc(2026, 5, 11, 18, 0),
            id="back-to-back-intervals-are-one-period",
        ),
        pytest.param(NIGHT, utc(2026, 5, 16, 23, 0), utc(2026, 5, 17, 2, 0), id="overnight-ends-sunday-02"),
        pytest.param(
            hours("UTC", {"sat": ["22:00-02:00"], "sun": ["02:00-04:00"]}),
            utc(2026, 5, 16, 23, 0),
            utc(2026, 5, 17, 4, 0),
            id="overnight-runs-into-sunday-interval",
        ),
        pytest.param(OFFICE, utc(2026, 5, 12, 20, 0), None, id="closed-now-is-none"),
        pytest.param(
            always_open("Europe/Berlin"), utc(2026, 5, 12, 20, 0), None, id="always-open-never-closes"
        ),
        pytest.param(
            Schedule("Europe/Berlin", always_open().weekly, holidays=frozenset({date(2027, 3, 1)})),
            utc(2026, 5, 12, 20, 0),
            at("Europe/Berlin", 2027, 3, 1, 0, 0),
            id="round-the-clock-closes-on-a-holiday",
        ),
        pytest.param(
            hours(
                "UTC",
                {day: ["00:00-12:00", "12:00-24:00"] for day in (*WORKWEEK, "sat", "sun")},
                holidays=[date(2026, 6, 1)],
            ),
            utc(2026, 5, 12, 20, 0),
            utc(2026, 6, 1, 0, 0),
            id="round-the-clock-in-pieces-closes-on-a-holiday",
        ),
        pytest.param(
            Schedule("UTC", always_open().weekly, holidays=frozenset({date(2028, 1, 1)})),
            utc(2026, 5, 12, 20, 0),
            None,
            id="holiday-beyond-400-days-is-never",
        ),
        pytest.param(
            hours("America/New_York", {"sun": ["01:00-02:00"]}),
            utc(2026, 11, 1, 5, 10),
            utc(2026, 11, 1, 7, 0),
            id="ny-fall-0100-0200-lasts-two-hours",
        ),
        pytest.param(
            hours("America/New_York", {"sun": ["01:30-05:00"]}),
            utc(2026, 11, 1, 5, 45),
            utc(2026, 11, 1, 6, 0),
            id="ny-fall-closes-when-the-clock-steps-back",
        ),
        pytest.param(
            hours("America/New_York", {"sat": ["22:00-02:00"], "sun": ["02:30-04:00"]}),
            at("America/New_York", 2026, 3, 7, 23, 0),
            at("America/New_York", 2026, 3, 8, 4, 0),
            id="ny-spring-gap-joins-saturday-night-to-sunday",
        ),
        pytest.param(
            hours("America/Santiago", {"sat": ["23:00-24:00"]}),
            utc(2026, 4, 5, 2, 10),
            utc(2026, 4, 5, 4, 0),
            id="santiago-repeated-saturday-hour-is-one-two-hour-period",
        ),
    ],
)
def test_next_close(schedule: Schedule, now: datetime, expected: datetime | None) -> None:
    got = next_close(schedule, now)
    assert (None if got is None else in_utc(got)) == (None if expected is None else in_utc(expected))


@pytest.mark.parametrize("decide", [is_open, next_open, next_close])
def test_naive_now_is_rejected(decide: Callable[[Schedule, datetime], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(OFFICE, datetime(2026, 5, 12, 12, 0))


# ---- parsing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"weekly": {"monday": ["09:00-18:00"]}}, "unknown weekday 'monday'", id="unknown-weekday"
        ),
        pytest.param(
            {"weekly": {"mon": ["9-18"]}}, "mon: malformed interval '9-18'", id="malformed-no-minutes"
        ),
        pytest.param({"weekly": {"mon": ["09:00 to 18:00"]}}, "malformed interval", id="malformed-words"),
        pytest.param({"weekly": {"mon": ["09:00-"]}}, "malformed interval", id="malformed-no-end"),
        pytest.param({"weekly": {"mon": ["25:00-26:00"]}}, "mon: time out of range", id="hour-out-of-range"),
        pytest.param(
            {"weekly": {"tue": ["09:60-10:00"]}}, "tue: time out of range", id="minute-out-of-range"
        ),
        pytest.param({"weekly": {"mon": ["22:00-24:30"]}}, "time out of range", id="past-24-00"),
        pytest.param({"weekly": {"mon": ["24:00-02:00"]}}, "time out of range", id="24-00-as-a-start"),
        pytest.param(
            {"weekly": {"wed": ["09:00-09:00"]}}, "wed: zero-length interval '09:00-09:00'", id="zero-length"
        ),
        pytest.param(
            {"weekly": {"mon": ["09:00-13:00", "12:00-18:00"]}},
            "mon: '09:00-13:00' overlaps '12:00-18:00'",
            id="overlap-same-day",
        ),
        pytest.param(
            {"weekly": {"mon": ["09:00-18:00", "09:00-18:00"]}}, "overlaps", id="same-interval-twice"
        ),
        pytest.param(
            {"weekly": {"mon": ["08:00-20:00", "10:00-11:00"]}}, "overlaps", id="interval-inside-another"
        ),
        pytest.param(
            {"weekly": {"sat": ["22:00-02:00"], "sun": ["01:00-05:00"]}},
            "sun: sat '22:00-02:00' overlaps '01:00-05:00'",
            id="overnight-overlaps-next-day",
        ),
        pytest.param(
            {"weekly": {"sun": ["23:00-01:00"], "mon": ["00:30-05:00"]}},
            "mon: sun '23:00-01:00' overlaps '00:30-05:00'",
            id="sunday-overnight-overlaps-monday",
        ),
        pytest.param(
            {"weekly": {"mon": ["22:00-02:00", "23:00-23:30"]}}, "overlaps", id="overnight-overlaps-same-day"
        ),
        pytest.param({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'", id="unknown-timezone"),
        pytest.param({"timezone": ""}, "unknown timezone ''", id="empty-timezone"),
        pytest.param({"timezone": "../etc/passwd"}, "unknown timezone", id="path-as-timezone"),
        pytest.param(
            {"weekly": {"mon": "09:00-18:00"}}, "mon: expected a list of intervals", id="string-not-list"
        ),
        pytest.param(
            {"workday_template": "monday"}, "unknown workday_template 'monday'", id="unknown-template"
        ),
        pytest.param(
            {"holidays": [date(2026, 5, 16)], "workdays": [date(2026, 5, 16)]},
            "2026-05-16 is both a holiday and an extra working day",
            id="holiday-and-workday",
        ),
        pytest.param(
            {"holidays": [datetime(2026, 5, 12, tzinfo=UTC)]},
            "holidays: expected dates",
            id="datetime-holiday",
        ),
    ],
)
def test_parse_schedule_rejects(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"timezone": "UTC", "weekly": {"mon": ["09:00-18:00"]}, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_schedule(**args)


def test_parse_schedule_reads_intervals_as_minutes_and_leaves_missing_days_closed() -> None:
    schedule = parse_schedule(
        "Europe/Moscow",
        {"mon": ["14:00-18:00", "09:00-13:00"], "fri": ["00:00-24:00"], "sat": ["22:00-02:00"]},
        holidays=[date(2026, 1, 1)],
        workdays=[date(2026, 5, 16)],
        workday_template="fri",
    )
    assert schedule.weekly == (
        ((540, 780), (840, 1080)),
        (),
        (),
        (),
        ((0, 1440),),
        ((1320, 120),),
        (),
    )
    assert (schedule.holidays, schedule.workdays, schedule.workday_template) == (
        frozenset({date(2026, 1, 1)}),
        frozenset({date(2026, 5, 16)}),
        4,
    )


def test_interval_ending_at_midnight_means_until_midnight() -> None:
    assert hours("UTC", {"sat": ["22:00-00:00"]}) == hours("UTC", {"sat": ["22:00-24:00"]})
    assert not is_open(hours("UTC", {"sat": ["22:00-00:00"]}), utc(2026, 5, 17, 0, 0))


def test_overnight_tail_may_end_where_the_next_day_starts() -> None:
    schedule = hours("UTC", {"sat": ["22:00-02:00"], "sun": ["02:00-04:00"]})
    assert is_open(schedule, utc(2026, 5, 17, 2, 0))


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        pytest.param(((),) * 6, "expected 7 days", id="six-days"),
        pytest.param((((-1, 60),),) + ((),) * 6, "out of range", id="negative-start"),
        pytest.param((((60, 1441),),) + ((),) * 6, "out of range", id="end-past-midnight"),
        pytest.param((((60, 60),),) + ((),) * 6, "zero-length", id="zero-length"),
        pytest.param((((60, 600), (300, 900)),) + ((),) * 6, "overlaps", id="overlap"),
    ],
)
def test_schedule_constructor_validates(
    weekly: tuple[tuple[tuple[int, int], ...], ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule("UTC", weekly)


def test_schedule_constructor_rejects_unknown_timezone_and_template() -> None:
    with pytest.raises(ValueError, match="unknown timezone"):
        Schedule("Nowhere/City", always_open().weekly)
    with pytest.raises(ValueError, match="workday_template"):
        Schedule("UTC", always_open().weekly, workday_template=7)


# ---- properties -------------------------------------------------------------------------------------------

ZONES = (
    "UTC",
    "Europe/Moscow",
    "Asia/Kolkata",
    "America/New_York",
    "Europe/Berlin",
    "America/Havana",  # DST at midnight
    "Australia/Lord_Howe",  # half-hour DST
    "America/Santiago",  # falls back from Sunday 00:00 to Saturday 23:00
)
# DST transitions of 2026 (UTC), so random instants often land on the nights that matter
TRANSITIONS = (
    utc(2026, 3, 8, 7, 0),  # New York spring
    utc(2026, 11, 1, 6, 0),  # New York fall
    utc(2026, 3, 29, 1, 0),  # Berlin spring
    utc(2026, 10, 25, 1, 0),  # Berlin fall
    utc(2026, 3, 8, 5, 0),  # Havana spring (00:00 -> 01:00)
    utc(2026, 11, 1, 5, 0),  # Havana fall
    utc(2026, 4, 4, 15, 0),  # Lord Howe fall (02:00 -> 01:30)
    utc(2026, 10, 3, 15, 30),  # Lord Howe spring
    utc(2026, 4, 5, 3, 0),  # Santiago fall (Sun 00:00 -> Sat 23:00)
    utc(2026, 9, 6, 4, 0),  # Santiago spring (00:00 -> 01:00)
    utc(2026, 5, 13, 12, 0),  # an ordinary week
)
# minutes near the wall times that DST skips or repeats, plus anything
MINUTES = st.one_of(
    st.sampled_from([0, 30, 60, 90, 120, 150, 180, 210, 1380, 1410, 1440]), st.integers(0, 1440)
)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    """Valid schedules: non-overlapping intervals per day, some overnight, holidays and extra days nearby."""
    days: list[list[tuple[int, int]]] = []
    for _ in range(7):
        points = sorted(draw(st.sets(MINUTES, max_size=6)))
        points = points[: len(points) // 2 * 2]
        days.append([(points[i], points[i + 1]) for i in range(0, len(points), 2)])
    for weekday in range(7):
        following = days[(weekday + 1) % 7]
        if days[weekday] and draw(st.booleans()):
            start, _ = days[weekday][-1]
            # the tail must stay before its own start and before the next day's first interval
            limit = min(start, following[0][0] if following else 1440)
            if limit > 1:
                days[weekday][-1] = (start, draw(st.integers(1, limit - 1)))
    anchor = draw(st.sampled_from(TRANSITIONS)).date()
    nearby = st.builds(lambda k: anchor + timedelta(days=k), st.integers(-4, 10))
    holidays = draw(st.frozensets(nearby, max_size=4))
    workdays = draw(st.frozensets(nearby, max_size=2)) - holidays
    return Schedule(
        timezone=draw(st.sampled_from(ZONES)),
        weekly=tuple(tuple(day) for day in days),
        holidays=holidays,
        workdays=workdays,
        workday_template=draw(st.integers(0, 6)),
    )


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    """Aware instants, mostly within three days of a DST transition, expressed in one of the zones."""
    base = draw(st.sampled_from(TRANSITIONS))
    shift = draw(
        st.one_of(
            st.integers(-3 * 86_400, 3 * 86_400).map(lambda s: timedelta(seconds=s)),
            st.sampled_from(
                [timedelta(0), timedelta(minutes=-30), timedelta(minutes=30), timedelta(hours=1)]
            ),
        )
    )
    micro = draw(st.sampled_from([timedelta(0), TICK, timedelta(microseconds=500_000)]))
    return (base + shift + micro).astimezone(ZoneInfo(draw(st.sampled_from(ZONES))))


def in_utc(moment: datetime) -> datetime:
    """Aware arithmetic and comparison within one zone are wall-clock; in UTC they are real time."""
    return moment.astimezone(UTC)


def evenly(start: datetime, stop: datetime, count: int = 50) -> list[datetime]:
    start, stop = in_utc(start), in_utc(stop)
    return [start + (stop - start) * i / count for i in range(count)]


PROPERTY = settings(max_examples=200, deadline=None, database=None)


@PROPERTY
@given(schedules(), instants())
def test_next_open_is_open_and_not_before_now(schedule: Schedule, now: datetime) -> None:
    opens = next_open(schedule, now)
    if opens is None:
        # holidays are all within two weeks, so only a schedule without any hours never opens
        assert not any(schedule.weekly)
    else:
        assert in_utc(opens) >= in_utc(now)
        assert is_open(schedule, opens)
        if opens is not now:  # a later instant is given in the line's timezone
            assert opens.tzinfo == ZoneInfo(schedule.timezone)


@PROPERTY
@given(schedules(), instants())
def test_nothing_is_open_between_now_and_next_open(schedule: Schedule, now: datetime) -> None:
    opens = next_open(schedule, now)
    if opens is not None and opens != now:
        assert not any(is_open(schedule, t) for t in evenly(now, opens))
        assert not is_open(schedule, in_utc(opens) - TICK)  # the earliest: closed right before it
    else:
        assert opens is None or is_open(schedule, now)


@PROPERTY
@given(schedules(), instants())
def test_open_now_means_next_open_is_now(schedule: Schedule, now: datetime) -> None:
    if is_open(schedule, now):
        assert next_open(schedule, now) == now
    else:
        opens = next_open(schedule, now)
        assert opens is None or in_utc(opens) > in_utc(now)


@PROPERTY
@given(schedules(), instants())
def test_next_close_ends_the_current_open_period(schedule: Schedule, now: datetime) -> None:
    closes = next_close(schedule, now)
    if not is_open(schedule, now):
        assert closes is None
    elif closes is None:
        # open for 400 days: holidays are all near `now`, so it must be open round the clock after them
        assert is_open(schedule, in_utc(now) + timedelta(days=20))
        assert is_open(schedule, in_utc(now) + timedelta(days=123, hours=7))
    else:
        assert in_utc(closes) > in_utc(now)
        assert is_open(schedule, in_utc(closes) - TICK)
        assert not is_open(schedule, closes)
        assert all(is_open(schedule, t) for t in evenly(now, closes))


def first_minute_where(schedule: Schedule, now: datetime, open: bool, days: int = 2) -> datetime | None:
    """The slow way: step whole UTC minutes after `now` (every boundary of these zones is on one)."""
    moment = in_utc(now).replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(days * 1440):
        if is_open(schedule, moment) is open:
            return moment
        moment += timedelta(minutes=1)
    return None


@PROPERTY
@given(schedules(), instants())
def test_next_open_and_next_close_agree_with_a_minute_by_minute_scan(
    schedule: Schedule, now: datetime
) -> None:
    open_now = is_open(schedule, now)
    got = next_close(schedule, now) if open_now else next_open(schedule, now)
    expected = first_minute_where(schedule, now, open=not open_now)
    if expected is None:  # nothing changes within the two days scanned
        assert got is None or in_utc(got) > in_utc(now) + timedelta(days=2)
    else:
        assert got is not None and in_utc(got) == expected
