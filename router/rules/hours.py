"""PURE: a line's business hours — is it open at `now`, when does it open next, when does the open period end.

Intervals are wall-clock times in the line's timezone and belong to the calendar day they start on, so an
overnight interval keeps running past midnight even into a holiday. Open/close instants are computed from
local dates and UTC offsets (never minute by minute), which keeps DST gaps and folds exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Interval = tuple[int, int]  # (start, end) minutes since local midnight; end <= start runs past midnight

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 400  # a line that stays closed (or open) longer than this is treated as "never" (or "forever")
_DAY = 86_400
_ONE_DAY = timedelta(days=1)
_SECOND = timedelta(seconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_INTERVAL = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


@dataclass(frozen=True, slots=True)
class Schedule:
    """A line's weekly hours in its timezone, with holidays and extra working days."""

    timezone: str
    weekly: tuple[tuple[Interval, ...], ...]  # 7 days, Monday first
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # extra working days (a worked Saturday)
    workday_template: int = 0  # the weekday whose intervals an extra working day uses

    def __post_init__(self) -> None:
        _zone(self.timezone)
        if len(self.weekly) != 7:
            raise ValueError(f"weekly: expected 7 days (Monday first), got {len(self.weekly)}")
        if not 0 <= self.workday_template <= 6:
            raise ValueError(f"workday_template: expected a weekday 0..6, got {self.workday_template}")
        both = sorted(self.holidays & self.workdays)
        if both:
            raise ValueError(f"{both[0].isoformat()} is both a holiday and an extra working day")
        for day, intervals in zip(WEEKDAYS, self.weekly, strict=True):
            for start, end in intervals:
                if not (0 <= start < 1440 and 0 < end <= 1440):
                    raise ValueError(f"{day}: interval {(start, end)} is out of range")
                if start == end:
                    raise ValueError(f"{day}: zero-length interval {_fmt((start, end))!r}")
        _check_overlaps(self.weekly)


def parse_schedule(
    timezone: str,
    weekly: Mapping[str, Sequence[str]],
    holidays: Iterable[date] = (),
    workdays: Iterable[date] = (),
    workday_template: str = "mon",
) -> Schedule:
    """Build a Schedule from config text ("mon": ["09:00-18:00"]); a day not listed is closed."""
    days: list[tuple[Interval, ...]] = [() for _ in WEEKDAYS]
    for key, texts in weekly.items():
        if key not in WEEKDAYS:
            raise ValueError(f"unknown weekday {key!r} (expected one of {', '.join(WEEKDAYS)})")
        if isinstance(texts, str):
            raise ValueError(f"{key}: expected a list of intervals, got the string {texts!r}")
        days[WEEKDAYS.index(key)] = tuple(sorted(_parse_interval(key, text) for text in texts))
    if workday_template not in WEEKDAYS:
        raise ValueError(
            f"unknown workday_template {workday_template!r} (expected one of {', '.join(WEEKDAYS)})"
        )
    return Schedule(
        timezone=timezone,
        weekly=tuple(days),
        holidays=_dates("holidays", holidays),
        workdays=_dates("workdays", workdays),
        workday_template=WEEKDAYS.index(workday_template),
    )


def always_open(timezone: str = "UTC") -> Schedule:
    """The schedule of a line without business hours."""
    return Schedule(timezone=timezone, weekly=(((0, 1440),),) * 7)


def is_open(schedule: Schedule, now: datetime) -> bool:
    """Whether the line is within its business hours at `now` (timezone-aware)."""
    local = _aware(now).astimezone(_zone(schedule.timezone))
    minute = local.hour * 60 + local.minute
    day = local.date()
    if any(start <= minute and (minute < end or end <= start) for start, end in _intervals_on(schedule, day)):
        return True
    # yesterday's overnight interval still runs, whatever today is
    return any(end <= start and minute < end for start, end in _intervals_on(schedule, day - _ONE_DAY))


def next_open(schedule: Schedule, now: datetime) -> datetime | None:
    """`now` itself if open, else the first instant it opens (in its timezone); None if not in 400 days."""
    if is_open(schedule, now):
        # returned as given: converted, an instant in a DST fold would compare unequal to `now` (PEP 495)
        return now
    tz = _zone(schedule.timezone)
    if not any(schedule.weekly):
        return None
    t = _instant(now)
    first = now.astimezone(tz).date() - _ONE_DAY  # yesterday's overnight interval may still run
    offsets = _Offsets(tz, _wall(first) - _DAY)
    best: int | None = None
    for k in range(HORIZON_DAYS + 2):
        day = first + k * _ONE_DAY
        for start, _ in _segments_on(schedule, offsets, day):
            if start > t and (best is None or start < best):
                best = start
        if best is not None and best <= _wall(day):
            break  # a later day's intervals start after this wall midnight minus any UTC offset (< 24 h)
    return None if best is None else datetime.fromtimestamp(best, tz)


def next_close(schedule: Schedule, now: datetime) -> datetime | None:
    """When the current open period ends (in the line's timezone); None if closed now or open for 400 days."""
    if not is_open(schedule, now):
        return None
    tz = _zone(schedule.timezone)
    first = now.astimezone(tz).date() - _ONE_DAY
    end = _instant(now)
    if _round_the_clock(schedule.weekly):
        # only a holiday or an extra working day can end it; a DST fold can step back up to a day
        breaks = [d for d in schedule.holidays | schedule.workdays if d >= first - _ONE_DAY]
        if not breaks or min(breaks) - first > timedelta(days=HORIZON_DAYS):
            return None
        if min(breaks) - 3 * _ONE_DAY > first:
            # every wall time until the break is open, so skip to its eve from an instant surely in this open
            # period (any instant more than a day before the break's wall midnight)
            first, end = min(breaks) - 3 * _ONE_DAY, _wall(min(breaks)) - _DAY
    offsets = _Offsets(tz, _wall(first) - _DAY)
    pending: list[tuple[int, int]] = []
    for k in range(HORIZON_DAYS + 2):
        day = first + k * _ONE_DAY
        pending += _segments_on(schedule, offsets, day)
        # back-to-back intervals (13:00-18:00 after 09:00-13:00, or across midnight) are one open period
        while reach := [stop for start, stop in pending if start <= end]:
            pending = [(start, stop) for start, stop in pending if start > end]
            end = max(end, *reach)
        if end <= _wall(day):
            return datetime.fromtimestamp(end, tz)
    return None


# ---- internals ------------------------------------------------------------------------------------------


def _intervals_on(schedule: Schedule, day: date) -> tuple[Interval, ...]:
    """The intervals starting on a local date (an extra working day borrows the template weekday's)."""
    if day in schedule.workdays:
        return schedule.weekly[schedule.workday_template]
    if day in schedule.holidays:
        return ()
    return schedule.weekly[day.weekday()]


class _Offsets:
    """Tracks a stretch of instants over which the zone's UTC offset is known not to change (one probe a day).

    Relies on no zone changing its offset twice within a day (in tzdata since 1990: a week or more apart).
    """

    def __init__(self, tz: ZoneInfo, start: int) -> None:
        self.tz = tz
        self.start = self.until = start
        self.offset = _offset(tz, start)

    def constant(self, lo: int, hi: int) -> int | None:
        """The offset if it holds throughout [lo, hi] (called with growing windows), else None."""
        while self.until < hi:
            probe = min(self.until + _DAY, hi)
            offset = _offset(self.tz, probe)
            if offset != self.offset:
                self.start, self.offset = probe, offset
            self.until = probe
        return self.offset if self.start <= lo else None


def _segments_on(schedule: Schedule, offsets: _Offsets, day: date) -> list[tuple[int, int]]:
    """The open stretches, as [start, end) POSIX seconds, of the intervals starting on a local date."""
    intervals = _intervals_on(schedule, day)
    if not intervals:
        return []
    base = _wall(day)
    # every instant of these intervals lies within a day (the largest UTC offset) of their wall times
    offset = offsets.constant(base - _DAY, base + 3 * _DAY)
    out: list[tuple[int, int]] = []
    for start, end in intervals:
        a, b = base + start * 60, base + (end if end > start else end + 1440) * 60
        out += [(a - offset, b - offset)] if offset is not None else _instants(offsets.tz, a, b)
    return out


def _instants(tz: ZoneInfo, a: int, b: int) -> list[tuple[int, int]]:
    """The instants whose wall time (seconds as if UTC) lies in [a, b): one stretch, or two around DST."""
    lo = a - max(_wall_offsets(tz, a))  # earliest instant that can show wall time `a` (gap or fold)
    hi = b - min(_wall_offsets(tz, b))  # latest instant that can show wall time `b`
    before, after = _offset(tz, lo), _offset(tz, hi)
    if before == after:
        return [(a - before, b - before)]
    # one transition in between (tz rules never change twice within a day); find its instant
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _offset(tz, mid) == before else (lo, mid)
    out = [(a - before, min(b - before, hi)), (max(a - after, hi), b - after)]
    return [(start, end) for start, end in out if start < end]


def _round_the_clock(weekly: tuple[tuple[Interval, ...], ...]) -> bool:
    """Whether every wall time of an ordinary week is inside an interval (previous day's tail included)."""
    for weekday in range(7):
        tails = [(0, end) for start, end in weekly[weekday - 1] if end <= start]
        own = [(start, end if end > start else 1440) for start, end in weekly[weekday]]
        reached = 0
        for start, end in sorted(tails + own):
            if start > reached:
                return False
            reached = max(reached, end)
        if reached < 1440:
            return False
    return True


def _check_overlaps(weekly: tuple[tuple[Interval, ...], ...]) -> None:
    """Reject intervals that overlap on a day, counting the previous day's overnight tail as that day's."""
    for weekday, intervals in enumerate(weekly):
        previous = WEEKDAYS[weekday - 1]
        pieces = [(0, end, f"{previous} {_fmt((s, end))!r}") for s, end in weekly[weekday - 1] if end <= s]
        pieces += [(s, e if e > s else 1440, repr(_fmt((s, e)))) for s, e in intervals]
        pieces.sort()
        for (_, end, first), (start, _, second) in pairwise(pieces):
            if start < end:
                raise ValueError(f"{WEEKDAYS[weekday]}: {first} overlaps {second}")


def _parse_interval(day: str, text: str) -> Interval:
    match = _INTERVAL.fullmatch(text)
    if match is None:
        raise ValueError(f"{day}: malformed interval {text!r} (expected 'HH:MM-HH:MM')")
    h1, m1, h2, m2 = (int(group) for group in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(
            f"{day}: time out of range in {text!r} (hours 00-23, minutes 00-59, or 24:00 as an end)"
        )
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(f"{day}: zero-length interval {text!r}")
    # "22:00-00:00" means until midnight, not an overnight interval with nothing after midnight
    return (start, 1440 if end == 0 else end)


def _dates(field: str, values: Iterable[date]) -> frozenset[date]:
    out = frozenset(values)
    for value in out:
        # a datetime never equals the date it falls on, so it would silently never match
        if isinstance(value, datetime) or not isinstance(value, date):
            raise ValueError(f"{field}: expected dates, got {value!r}")
    return out


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {timezone!r} (expected an IANA name like 'Europe/Berlin')"
        ) from None


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    return now


def _instant(now: datetime) -> int:
    """POSIX seconds, floored: every boundary is a whole second, so flooring never changes a comparison."""
    return (_aware(now) - _EPOCH) // _SECOND


def _wall(day: date) -> int:
    """Local midnight of `day` as wall-clock seconds, counted as if the wall clock were UTC."""
    return (day.toordinal() - _EPOCH_ORDINAL) * _DAY


def _offset(tz: ZoneInfo, instant: int) -> int:
    offset = datetime.fromtimestamp(instant, tz).utcoffset()
    assert offset is not None  # zoneinfo always knows its offset
    return offset // _SECOND


def _wall_offsets(tz: ZoneInfo, wall: int) -> tuple[int, int]:
    """The UTC offsets zoneinfo gives a wall time with fold=0 and fold=1 (differing only in a gap or fold)."""
    local = datetime(1970, 1, 1) + wall * _SECOND
    first = local.replace(tzinfo=tz).utcoffset()
    second = local.replace(tzinfo=tz, fold=1).utcoffset()
    assert first is not None and second is not None
    return first // _SECOND, second // _SECOND


def _fmt(interval: Interval) -> str:
    return "-".join(f"{m // 60:02d}:{m % 60:02d}" for m in interval)
