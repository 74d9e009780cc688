"""The events that flow between connectors, the router and the web role: frozen, versioned, JSON-encodable."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Union

import orjson

_REGISTRY: dict[str, type[Event]] = {}


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every bus event; `kind` and `version` travel with the payload."""

    kind: ClassVar[str] = "event"
    version: ClassVar[int] = 1


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file reference; bodies live in the attachment store, never on the bus."""

    name: str
    mime: str = "application/octet-stream"
    size: int | None = None
    ref: str | None = None  # the channel's own file id or our attachment-store key
    url: str | None = None


@dataclass(frozen=True, slots=True)
class SenderProfile:
    """What the channel tells us about the customer (goes to the CRM identity)."""

    display_name: str = ""
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage(Event):
    """A customer message from a channel; (channel, account, external_id) is its idempotency key."""

    kind: ClassVar[str] = "inbound.message"
    event_id: str
    channel: str
    account: str
    chat_id: str
    external_id: str
    text: str
    ts: str
    sender: SenderProfile = field(default_factory=SenderProfile)
    attachments: tuple[Attachment, ...] = ()
    source_tag: str | None = None
    automatic: bool = False  # sent by an auto-responder (Auto-Submitted, bounces): never auto-replied to
    # this event edits the message with that external id: its text replaces the old one
    edit_of: str | None = None
    # who the customer is when that is not the conversation (an e-mail address writing in several threads);
    # None: the conversation (chat_id) is the customer, as in a messenger's private chat
    sender_id: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerConsent(Event):
    """The customer allowed or denied messages from us in their channel (VK message_allow / message_deny)."""

    kind: ClassVar[str] = "customer.consent"
    event_id: str
    channel: str
    account: str
    chat_id: str
    allowed: bool
    ts: str


@dataclass(frozen=True, slots=True)
class OperatorCommand(Event):
    """An operator's console command (take, reply, skip, transfer, close), routed on the dialog's partition."""

    kind: ClassVar[str] = "operator.command"
    event_id: str
    operator: str
    command: str
    dialog_id: str
    ts: str
    client_msg_id: str | None = None
    text: str | None = None
    visibility: str = "public"
    to_operator: str | None = None
    to_line: str | None = None
    attachments: tuple[Attachment, ...] = ()  # files uploaded for a reply (refs in the attachment store)


@dataclass(frozen=True, slots=True)
class OperatorPresence(Event):
    """An operator went online, away or offline."""

    kind: ClassVar[str] = "operator.presence"
    event_id: str
    operator: str
    status: str
    ts: str
    # several web processes: the number of the change in the operator's tabs registry (router/shared_load.py);
    # the router skips an event older than the last it applied. 0: unnumbered (one web process)
    seq: int = 0


@dataclass(frozen=True, slots=True)
class DialogTimer(Event):
    """A stored deadline of a dialog came due: an offer expired or a queued dialog is to be offered again."""

    kind: ClassVar[str] = "dialog.timer"
    event_id: str
    dialog_id: str
    timer: str  # "offer_expired" | "queue_retry"
    due: str  # the deadline this timer was for; a stale one is a no-op
    ts: str


@dataclass(frozen=True, slots=True)
class OutboundMessage(Event):
    """A message to deliver to a customer in their channel."""

    kind: ClassVar[str] = "outbound.message"
    event_id: str
    message_id: str
    dialog_id: str
    channel: str
    account: str
    chat_id: str
    text: str
    ts: str
    author_kind: str = "operator"
    author_name: str = ""
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class Receipt(Event):
    """The engine's commit receipt for an inbound event: it is stored (or was already)."""

    kind: ClassVar[str] = "receipt"
    event_id: str
    channel: str
    account: str
    chat_id: str
    external_id: str
    message_id: str | None
    dialog_id: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryStatus(Event):
    """What became of an outbound message: sent (with the channel's id for it) or failed (with the reason)."""

    kind: ClassVar[str] = "delivery.status"
    event_id: str
    message_id: str
    dialog_id: str
    channel: str
    state: str  # "sent" | "failed"
    attempts: int
    ts: str
    error: str | None = None
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConsoleEvent(Event):
    """A frame for the operator consoles of `recipients`."""

    kind: ClassVar[str] = "console.event"
    event_id: str
    recipients: tuple[str, ...]
    frame: dict[str, Any]


for _cls in (
    InboundMessage,
    CustomerConsent,
    OperatorCommand,
    OperatorPresence,
    DialogTimer,
    OutboundMessage,
    Receipt,
    DeliveryStatus,
    ConsoleEvent,
):
    _REGISTRY[_cls.kind] = _cls


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one delivery attempt: the channel's id for it, or an error that is retryable or final."""

    ok: bool
    external_id: str | None = None
    error: str | None = None
    retryable: bool = False


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
    cls = _REGISTRY[data["kind"]]
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
    return _build(_REGISTRY[data["kind"]], data)


def loads_many(raw: bytes | str) -> list[Event]:
    """Decode a JSON array of encoded events (b"[" + b",".join(dumps(e) for e in events) + b"]")."""
    return [_build(_REGISTRY[data["kind"]], data) for data in orjson.loads(raw)]


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
