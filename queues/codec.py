"""The JSON codec of the bus events (queues/messages.py): encode and decode by per-class plans, byte for byte
what a plain walk of the dataclasses would produce."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
import types
import typing
from collections.abc import Callable
from typing import Any, NamedTuple, Union

import orjson

from queues.event import Event

# kind -> event class, what `from_dict`, `loads` and `loads_many` decode to; queues/messages.py fills it
REGISTRY: dict[str, type[Event]] = {}


def to_dict(event: Event) -> dict[str, Any]:
    """Encode an event as a JSON-friendly dict with its kind and version."""
    names, values, plain_fixups, _ = _ENCODE_PLANS.get(event.__class__) or _encode_plan(event.__class__)
    out = {"kind": event.kind, "v": event.version}
    out.update(zip(names, values(event), strict=True))
    for name in plain_fixups:
        out[name] = _plain(out[name])
    return out


def from_dict(data: dict[str, Any]) -> Event:
    """Decode what `to_dict` produced; unknown fields are ignored so newer writers stay readable."""
    cls = REGISTRY[data["kind"]]
    return _build(cls, data if isinstance(data, dict) else dict(data))  # any mapping, as before


def dumps(event: Event) -> bytes:
    """Encode an event to JSON bytes."""
    names, values, _, json_fixups = _ENCODE_PLANS.get(event.__class__) or _encode_plan(event.__class__)
    out = {"kind": event.kind, "v": event.version}
    out.update(zip(names, values(event), strict=True))
    for name in json_fixups:
        out[name] = _plain(out[name])
    # orjson writes the other nested dataclasses and tuples itself, byte for byte as their `_plain` form
    return orjson.dumps(out)


def loads(raw: bytes | str) -> Event:
    """Decode JSON bytes to an event."""
    data = orjson.loads(raw)
    return _build(REGISTRY[data["kind"]], data)


def loads_many(raw: bytes | str) -> list[Event]:
    """Decode a JSON array of encoded events (b"[" + b",".join(dumps(e) for e in events) + b"]")."""
    return [_build(REGISTRY[data["kind"]], data) for data in orjson.loads(raw)]


# The codec works from per-class plans built on first use from the type hints: walking dataclasses.fields and
# typing.get_origin/get_args on every call made it 10-20 times slower than orjson. A plan is only ever
# replaced by an equal one, so building it twice in two threads is harmless.


class _EncodePlan(NamedTuple):
    names: tuple[str, ...]
    values: Callable[[Any], tuple[Any, ...]]  # all field values at once, in C
    # the fields `to_dict` still puts through `_plain`: all but those of types it returns as they are
    plain_fixups: tuple[str, ...]
    # the fields orjson might write other than as their `_plain` form, so `dumps` puts them through it too
    json_fixups: tuple[str, ...]


class _DecodePlan(NamedTuple):
    fields: frozenset[str]
    # all field values of a dict at once, in C, when __init__ takes every field positionally: a call with
    # keywords decoded by orjson is slow, as they are not the interned strings of the parameter names
    values: Callable[[Any], tuple[Any, ...]] | None
    names: tuple[str, ...]
    # (index, name, decoder) of the fields whose JSON values need converting
    decoders: tuple[tuple[int, str, Callable[[Any], Any]], ...]


_ENCODE_PLANS: dict[type, _EncodePlan] = {}
_DECODE_PLANS: dict[type, _DecodePlan] = {}
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    plan = _ENCODE_PLANS.get(value.__class__)
    if plan is None:
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            return value
        plan = _encode_plan(value.__class__)
    names, values, plain_fixups, _ = plan
    out = dict(zip(names, values(value), strict=True))
    for name in plain_fixups:
        out[name] = _plain(out[name])
    return out


def _encode_plan(cls: type[Any]) -> _EncodePlan:
    names = tuple(f.name for f in dataclasses.fields(cls))
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # annotations that do not resolve: every field goes by its value, through `_plain`
        hints = {}
    plan = _EncodePlan(
        names,
        _getter(names, operator.attrgetter, getattr),
        tuple(n for n in names if n not in hints or not _is_scalar(hints[n])),
        tuple(n for n in names if n not in hints or not _json_native(hints[n], set())),
    )
    _ENCODE_PLANS[cls] = plan
    return plan


def _getter(names: tuple[str, ...], many: Callable[..., Any], one: Callable[[Any, str], Any]) -> Any:
    """`many(*names)`, but returning a tuple for a single name too (attrgetter and itemgetter do not)."""
    if len(names) > 1:
        return many(*names)
    if names:
        name = names[0]
        return lambda obj: (one(obj, name),)
    return lambda obj: ()


def _strip_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return hint


def _is_scalar(hint: Any) -> bool:
    """Whether `_plain` returns values of this type as they are (dicts too: it does not look inside)."""
    hint = _strip_optional(hint)
    return hint in _SCALARS or typing.get_origin(hint) is dict


def _json_native(hint: Any, seen: set[type]) -> bool:
    """Whether orjson writes values of this type byte for byte as it writes their `_plain` form."""
    hint = _strip_optional(hint)
    if _is_scalar(hint):
        return True
    if typing.get_origin(hint) is tuple:  # orjson writes tuples as lists
        return all(_json_native(a, seen) for a in typing.get_args(hint) if a is not Ellipsis)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if hint in seen:
            return True
        seen.add(hint)
        try:
            hints = typing.get_type_hints(hint)
        except Exception:
            return False
        # orjson leaves out the fields whose names start with "_", `_plain` keeps them
        return all(
            not f.name.startswith("_") and f.name in hints and _json_native(hints[f.name], seen)
            for f in dataclasses.fields(hint)
        )
    return False


def _build(cls: type[Any], data: dict[str, Any]) -> Any:
    if not isinstance(data, dict):  # a nested value that is not a JSON object is kept as it is
        return data
    fields, values, names, decoders = _DECODE_PLANS.get(cls) or _decode_plan(cls)
    if values is not None and data.keys() >= fields:  # every field is there: the common case
        if not decoders:
            return cls(*values(data))
        args = list(values(data))
        for i, _, decode in decoders:
            value = args[i]
            if value is not None:  # None stays None, whatever the type
                args[i] = decode(value)
        return cls(*args)
    # fields missing (they take their defaults): keyword arguments, by our own (interned) names
    kwargs = {name: data[name] for name in names if name in data}
    for _, name, decode in decoders:
        value = kwargs.get(name)
        if value is not None:
            kwargs[name] = decode(value)
    return cls(**kwargs)


def _decode_plan(cls: type[Any]) -> _DecodePlan:
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    names = tuple(f.name for f in fields)
    decoders = []
    for i, f in enumerate(fields):
        decode = _decoder(hints[f.name])
        if decode is not None:
            decoders.append((i, f.name, decode))
    params = inspect.signature(cls).parameters.values()  # InitVars and kw_only fields are not positional
    positional = [(p.name, p.kind) for p in params] == [
        (n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names
    ]
    values = _getter(names, operator.itemgetter, operator.getitem) if positional else None
    plan = _DecodePlan(frozenset(names), values, names, tuple(decoders))
    _DECODE_PLANS[cls] = plan
    return plan


def _decoder(hint: Any) -> Callable[[Any], Any] | None:
    """What turns a JSON value (not None) into a value of `hint`; None when the JSON value is that already."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decoder(inner[0]) if len(inner) == 1 else None
    if origin is tuple:
        args = typing.get_args(hint)
        item = _decoder(args[0]) if args else None
        if item is None:
            return tuple
        return lambda value: tuple([None if v is None else item(v) for v in value])
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        # `_build` finds the plan when called, so a dataclass may contain its own type
        return functools.partial(_build, hint)
    return None
