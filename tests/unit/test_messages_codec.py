"""The fast event codec writes byte for byte what the straightforward one did and reads what it read."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import InitVar, dataclass, field
from typing import Any, ClassVar, Union

import orjson
import pytest

from queues import messages
from queues.messages import (
    Attachment,
    ConsoleEvent,
    CustomerConsent,
    CustomerRating,
    DeliveryStatus,
    DialogTimer,
    Event,
    InboundMessage,
    OperatorCommand,
    OperatorPresence,
    OutboundMessage,
    Receipt,
    SenderProfile,
)

# --- the codec as it was before the per-class plans: the reference for output and tolerance -------------------


def old_to_dict(event: Event) -> dict[str, Any]:
    body = {f.name: old_plain(getattr(event, f.name)) for f in dataclasses.fields(event)}
    return {"kind": event.kind, "v": event.version, **body}


def old_from_dict(data: dict[str, Any]) -> Event:
    cls = messages._REGISTRY[data["kind"]]
    return old_build(cls, data)


def old_dumps(event: Event) -> bytes:
    return orjson.dumps(old_to_dict(event))


def old_loads(raw: bytes | str) -> Event:
    return old_from_dict(orjson.loads(raw))


def old_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: old_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [old_plain(v) for v in value]
    return value


def old_build(cls: type[Any], data: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = old_coerce(hints[f.name], data[f.name])
    return cls(**kwargs)


def old_coerce(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return old_coerce(inner[0], value) if len(inner) == 1 else value
    if origin is tuple:
        (item, *_) = typing.get_args(hint)
        return tuple(old_coerce(item, v) for v in value)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return old_build(hint, value)  # type: ignore[arg-type]
    return value


# --- representative events: every field filled, and only the required ones ------------------------------------

FILES = (
    Attachment(name="счёт.pdf", mime="application/pdf", size=48213, ref="att/1", url="https://x/1"),
    Attachment(name="photo.jpg"),
)
FULL_SENDER = SenderProfile(
    display_name="Анна Петрова",
    first_name="Анна",
    last_name="Петрова",
    username="anna_p",
    language="ru",
    phone="+79990001122",
    email="anna@example.com",
)

SAMPLES: dict[type[Event], list[Event]] = {
    InboundMessage: [
        InboundMessage(
            event_id="01J0000000000000000000000A",
            channel="telegram",
            account="bot1",
            chat_id="123",
            external_id="4711",
            text='Здравствуйте! "quotes" \\ and \n lines 😀',
            ts="2024-05-01T10:00:00.000Z",
            sender=FULL_SENDER,
            attachments=FILES,
            source_tag="ads",
            automatic=True,
            edit_of="4700",
            sender_id="anna@example.com",
        ),
        InboundMessage(
            event_id="e", channel="vk", account="a", chat_id="c", external_id="x", text="", ts="t"
        ),
    ],
    CustomerConsent: [
        CustomerConsent(event_id="e", channel="vk", account="club1", chat_id="42", allowed=True, ts="t"),
        CustomerConsent(event_id="e", channel="vk", account="club1", chat_id="42", allowed=False, ts="t"),
    ],
    CustomerRating: [
        CustomerRating(
            event_id="e", channel="widget", account="site", chat_id="v1", dialog_id="d1", score=5, ts="t"
        ),
        CustomerRating(
            event_id="e",
            channel="telegram",
            account="bot",
            chat_id="42",
            dialog_id="d1",
            score=0,
            ts="t",
            comment="Долго ждал — «ответ» & <b>",
        ),
    ],
    OperatorCommand: [
        OperatorCommand(
            event_id="e",
            operator="anna",
            command="reply",
            dialog_id="d1",
            ts="t",
            client_msg_id="c1",
            text="Сейчас проверю",
            visibility="internal",
            to_operator="boris",
            to_line="sales",
            attachments=FILES[:1],
        ),
        OperatorCommand(event_id="e", operator="anna", command="take", dialog_id="d1", ts="t"),
        OperatorCommand(event_id="e", operator="anna", command="typing", dialog_id="d1", ts="t", active=True),
    ],
    OperatorPresence: [OperatorPresence(event_id="e", operator="anna", status="away", ts="t")],
    DialogTimer: [DialogTimer(event_id="e", dialog_id="d1", timer="queue_retry", due="t1", ts="t2")],
    OutboundMessage: [
        OutboundMessage(
            event_id="e",
            message_id="m",
            dialog_id="d",
            channel="email",
            account="support@acme",
            chat_id="c",
            text="Добрый день",
            ts="t",
            author_kind="auto",
            author_name="Acme",
            attachments=FILES,
        ),
        OutboundMessage(
            event_id="e",
            message_id="m",
            dialog_id="d",
            channel="telegram",
            account="bot",
            chat_id="42",
            text="Оцените, пожалуйста, ответ",
            ts="t",
            author_kind="auto",
            ask_rating="five",
        ),
        OutboundMessage(
            event_id="e",
            message_id="m",
            dialog_id="d",
            channel="vk",
            account="a",
            chat_id="c",
            text="",
            ts="t",
        ),
    ],
    Receipt: [
        Receipt(
            event_id="e",
            channel="email",
            account="a",
            chat_id="c",
            external_id="<id@mail>",
            message_id="m",
            dialog_id="d",
            error="too_long",
        ),
        Receipt(
            event_id="e",
            channel="w",
            account="a",
            chat_id="c",
            external_id="x",
            message_id=None,
            dialog_id=None,
        ),
    ],
    DeliveryStatus: [
        DeliveryStatus(
            event_id="e",
            message_id="m",
            dialog_id="d",
            channel="telegram",
            state="sent",
            attempts=1,
            ts="t",
            error=None,
            external_id="99",
        ),
        DeliveryStatus(
            event_id="e",
            message_id="m",
            dialog_id="d",
            channel="telegram",
            state="failed",
            attempts=5,
            ts="t",
            error="403 Forbidden",
        ),
    ],
    ConsoleEvent: [
        ConsoleEvent(
            event_id="e",
            recipients=("anna", "boris"),
            frame={
                "type": "offer",
                "dialog": {"id": "d1", "n": 3, "f": 1.5, "tags": ["a", "b"], "x": None, "ok": True},
            },
        ),
        ConsoleEvent(event_id="e", recipients=(), frame={}),
    ],
    messages.Typing: [
        messages.Typing(
            event_id="e",
            channel="telegram",
            account="shop_bot",
            chat_id="42",
            who="operator",
            active=True,
            ts="t",
            dialog_id="d1",
            name="Анна",
        ),
        messages.Typing(
            event_id="e",
            channel="widget",
            account="support",
            chat_id="v1",
            who="customer",
            active=False,
            ts="t",
        ),
    ],
}
ALL = [e for events in SAMPLES.values() for e in events]


def test_samples_cover_the_registry() -> None:
    assert set(SAMPLES) == set(messages._REGISTRY.values())


@pytest.mark.parametrize("event", ALL, ids=lambda e: e.kind)
def test_output_is_byte_identical_and_round_trips(event: Event) -> None:
    raw = messages.dumps(event)
    assert raw == old_dumps(event)
    assert messages.to_dict(event) == old_to_dict(event)
    assert orjson.dumps(messages.to_dict(event)) == raw
    back = messages.loads(raw)
    assert back == event == old_loads(raw)
    assert messages.from_dict(orjson.loads(raw)) == event
    for f in dataclasses.fields(event):  # tuples come back as tuples, nested dataclasses as dataclasses
        assert type(getattr(back, f.name)) is type(getattr(old_loads(raw), f.name)), f.name


def test_to_dict_gives_lists_and_dicts_for_tuples_and_dataclasses() -> None:
    data = messages.to_dict(SAMPLES[InboundMessage][0])
    assert list(data)[:2] == ["kind", "v"]
    assert data["sender"] == dataclasses.asdict(FULL_SENDER)
    assert type(data["attachments"]) is list
    assert all(type(a) is dict for a in data["attachments"])
    assert type(messages.to_dict(SAMPLES[ConsoleEvent][0])["recipients"]) is list


def test_unknown_fields_are_ignored() -> None:
    event = SAMPLES[InboundMessage][0]
    data = messages.to_dict(event)
    data["added_in_v2"] = {"x": 1}
    data["sender"]["added_in_v2"] = "y"
    data["attachments"][0]["added_in_v2"] = 2
    assert messages.from_dict(data) == event == old_from_dict(data)
    assert messages.loads(orjson.dumps(data)) == event


def test_missing_fields_take_their_defaults() -> None:
    data = messages.to_dict(SAMPLES[InboundMessage][0])
    for name in ("sender", "attachments", "source_tag", "automatic", "edit_of", "sender_id"):
        del data[name]
    del data["v"]
    data["attachments"] = [{"name": "a.txt"}]  # an attachment with only its name
    back = messages.from_dict(data)
    assert back == old_from_dict(data)
    assert back.sender == SenderProfile()  # type: ignore[attr-defined]
    assert back.attachments == (Attachment(name="a.txt"),)  # type: ignore[attr-defined]
    assert back.source_tag is None and back.automatic is False  # type: ignore[attr-defined]


def test_none_stays_none() -> None:
    data = messages.to_dict(SAMPLES[InboundMessage][1])
    data["sender"] = None
    data["attachments"] = [None, {"name": "x", "size": None}]
    back = messages.from_dict(data)
    assert back == old_from_dict(data)
    assert back.sender is None  # type: ignore[attr-defined]
    assert back.attachments == (None, Attachment(name="x"))  # type: ignore[attr-defined]
    data["attachments"] = None
    assert messages.from_dict(data).attachments is None  # type: ignore[attr-defined]


def test_values_that_are_not_json_objects_are_kept_as_they_are() -> None:
    data = messages.to_dict(SAMPLES[InboundMessage][1])
    data["sender"] = "someone"
    data["attachments"] = ["a", {"name": "b"}]
    assert messages.from_dict(data) == old_from_dict(data)


def test_a_missing_required_field_is_still_an_error() -> None:
    data = messages.to_dict(SAMPLES[OperatorPresence][0])
    del data["status"]
    with pytest.raises(TypeError, match="status"):
        messages.from_dict(data)


def test_any_mapping_decodes() -> None:
    event = SAMPLES[OutboundMessage][0]
    assert messages.from_dict(types.MappingProxyType(messages.to_dict(event))) == event  # type: ignore[arg-type]


# --- dataclasses with what the registered events do not have: the plans fall back to the old ways ------------


@dataclass(frozen=True, slots=True)
class _Hidden:
    name: str
    _secret: str = "s"  # orjson leaves such fields out, `_plain` keeps them


@dataclass(frozen=True, slots=True)
class _CodecTestEvent(Event):
    kind: ClassVar[str] = "test.codec"
    version: ClassVar[int] = 3
    event_id: str
    anything: Any = None
    hidden: _Hidden | None = None
    pairs: tuple[tuple[str, int], ...] = ()
    mixed: int | str | None = None
    late: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class _CodecTestInitVar(Event):
    kind: ClassVar[str] = "test.initvar"
    event_id: str
    seed: InitVar[int] = 0
    extra: tuple[str, ...] = ()

    def __post_init__(self, seed: int) -> None:
        pass


ODD = [
    _CodecTestEvent(event_id="e"),
    _CodecTestEvent(
        event_id="e",
        anything=(FILES[1], [_Hidden("a")], {"k": (1,)}),
        hidden=_Hidden("h", "x"),
        pairs=(("a", 1), ("b", 2)),
        mixed="m",
        late="l",
    ),
    _CodecTestEvent(event_id="e", anything=_Hidden("a")),
    _CodecTestInitVar(event_id="e", extra=("a",)),
    # a tuple and a dataclass inside a dict: written as before (and read back as a list and a dict)
    ConsoleEvent(event_id="e", recipients=["anna"], frame={"pair": (1, 2), "file": FILES[0]}),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("event", ODD, ids=lambda e: type(e).__name__)
def test_unusual_dataclasses_encode_and_decode_as_before(
    event: Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert messages.dumps(event) == old_dumps(event)
    assert messages.to_dict(event) == old_to_dict(event)
    monkeypatch.setitem(messages._REGISTRY, event.kind, type(event))
    data = old_to_dict(event)
    assert messages.from_dict(data) == old_from_dict(data)
    raw = old_dumps(event)
    assert messages.loads(raw) == old_loads(raw)
    data["added_in_v2"] = 1
    data.pop("pairs", None)
    assert messages.from_dict(data) == old_from_dict(data)


def test_a_typing_frame_is_passed_on_when_it_changes_or_repeats_after_a_while() -> None:
    news = messages.typing_is_news
    assert news(None, True, 0.0) and news(None, False, 0.0)
    assert not news((True, 10.0), True, 11.9)  # "still typing" too soon
    assert news((True, 10.0), True, 10.0 + messages.TYPING_REPEAT)
    assert news((True, 10.0), False, 10.1) and news((False, 10.0), True, 10.1)  # a change, at once
    assert not news((False, 10.0), False, 99.0)  # stopped is stopped
