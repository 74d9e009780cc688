"""How the public protocol writes times: ISO-8601 UTC with milliseconds and a Z."""

from __future__ import annotations

from datetime import UTC, datetime

_last: tuple[datetime | None, str] = (None, "")  # a batch writes its `now` many times: the last one, kept


def iso(dt: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and a Z, as the public protocol writes times."""
    global _last
    if dt is None:
        return None
    last, text = _last
    if dt is last:
        return text
    text = dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    _last = (dt, text)
    return text


def parse_iso(value: str) -> datetime:
    """The inverse of `iso`."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
