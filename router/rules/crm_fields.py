"""PURE: custom field values of leads, contacts and deals, checked against their declaration (`crm.fields`) and
turned into what is stored (JSON: text, numbers, lists, ISO dates, booleans)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

TEXT_MAX = 2000  # a string or address field
LINK_MAX = 2000


class FieldSpec(Protocol):
    """A declared custom field (router/app/deal_settings.CustomField)."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def values(self) -> list[str]: ...
    @property
    def multiple(self) -> bool: ...


class BadField(ValueError):
    """A value that does not fit its field: which field, and why in words."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def clean_value(spec: FieldSpec, raw: Any) -> Any:
    """The value as stored (None clears the field); BadField when it does not fit the field's type."""
    if raw is None or raw == "" or raw == []:
        return None
    kind = spec.type
    if kind in ("string", "address"):
        if not isinstance(raw, str) or len(raw) > TEXT_MAX:
            raise BadField(spec.id, f"text of at most {TEXT_MAX} characters")
        return raw.strip() or None
    if kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise BadField(spec.id, "a number")
        try:
            number = float(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise BadField(spec.id, "a number") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise BadField(spec.id, "a finite number")
        return (
            int(number)
            if isinstance(number, float) and number.is_integer() and abs(number) < 2**53
            else number
        )
    if kind == "boolean":
        if not isinstance(raw, bool):
            raise BadField(spec.id, "true or false")
        return raw
    if kind == "list":
        chosen = raw if isinstance(raw, list) else [raw]
        if not spec.multiple and len(chosen) > 1:
            raise BadField(spec.id, "one of its values")
        unknown = [v for v in chosen if v not in spec.values]
        if unknown:
            raise BadField(spec.id, f"one of {', '.join(spec.values)}")
        return list(dict.fromkeys(chosen)) if spec.multiple else chosen[0]
    if kind == "date":
        try:
            return date.fromisoformat(raw).isoformat() if isinstance(raw, str) else _bad(spec, "a date")
        except ValueError:
            raise BadField(spec.id, "a date as YYYY-MM-DD") from None
    if kind == "datetime":
        try:
            value = datetime.fromisoformat(raw) if isinstance(raw, str) else _bad(spec, "a time")
        except ValueError:
            raise BadField(spec.id, "a time as YYYY-MM-DDTHH:MM (ISO 8601)") from None
        return value.isoformat(timespec="minutes")
    if kind == "link":
        parts = urlsplit(raw) if isinstance(raw, str) and len(raw) <= LINK_MAX else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadField(spec.id, "a link starting with http:// or https://")
        return raw
    if kind == "file":
        # a file comes only through its upload route (…/fields/{id}/file), which stores the body: a value given
        # here could name another record's file
        raise BadField(spec.id, "upload the file into the field (POST …/fields/{field}/file); null clears it")
    raise BadField(spec.id, f"unknown type {kind}")


def _bad(spec: FieldSpec, what: str) -> Any:
    raise BadField(spec.id, what)


def clean_fields(
    specs: Sequence[FieldSpec], changes: Mapping[str, Any], current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The record's custom fields after these changes (cleared ones dropped); BadField for an unknown field or a
    value that does not fit."""
    by_id = {s.id: s for s in specs}
    out = {k: v for k, v in (current or {}).items() if k in by_id}
    for key, raw in changes.items():
        spec = by_id.get(key)
        if spec is None:
            raise BadField(key, "no such field")
        value = clean_value(spec, raw)
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out
