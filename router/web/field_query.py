"""Custom field filters of a list from its query (`f.<field>=value`), typed by the field's declaration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_core.field_filters import FieldTest
from router.app.deal_settings import CustomField
from router.rules.crm_fields import BadField, clean_fields, clean_value
from router.web.http import ApiError


def field_tests(specs: list[CustomField], q: Mapping[str, str]) -> tuple[FieldTest, ...]:
    """Custom field filters from `f.<field>=value` parameters: a text contains it, a multiple list holds it, any
    other field equals it (as its type reads it)."""
    by_id = {s.id: s for s in specs}
    out: list[FieldTest] = []
    for key, raw in q.items():
        if not key.startswith("f."):
            continue
        spec = by_id.get(key[2:])
        if spec is None:
            raise ApiError(400, "bad_field", f"no custom field {key[2:]}")
        try:
            if spec.type in ("string", "address", "link", "file"):
                out.append((spec.id, "contains", raw[:200]))
            elif spec.type == "list" and spec.multiple:
                out.append((spec.id, "has", clean_value(_single(spec), raw)))
            else:
                value = {"true": True, "false": False}.get(raw, raw) if spec.type == "boolean" else raw
                out.append((spec.id, "eq", clean_value(spec, value)))
        except BadField as exc:
            raise ApiError(400, "bad_field", str(exc), field=spec.id) from None
    return tuple(out)


def _single(spec: CustomField) -> CustomField:
    return spec.model_copy(update={"multiple": False})


def custom_values(specs: list[CustomField], given: Any, current: Mapping[str, Any]) -> dict[str, Any]:
    """A record's custom fields after a body's `fields` (merged into `current`), or a 400 naming the field."""
    if not isinstance(given, dict):
        raise ApiError(400, "bad_field", "fields: an object of custom field values")
    try:
        return clean_fields(specs, given, current)
    except BadField as exc:
        raise ApiError(400, "bad_field", str(exc), field=exc.field) from None
