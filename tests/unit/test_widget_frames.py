"""The widget's frames without a socket: parsing, a `message` frame's checks in their order, the refusal frames
(tests/integration/test_errors.py drives the same codes through a daemon)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.widget_frames import (
    MAX_CLIENT_MSG_ID,
    WidgetError,
    message_fields,
    parse_frame,
    refusal,
    unavailable,
)


def _code(call: Any, *args: Any) -> str:
    with pytest.raises(WidgetError) as caught:
        call(*args)
    return caught.value.code


@pytest.mark.parametrize("data", ["not json", "[1, 2]", '"text"', "null", '"\\ud800"'])
def test_anything_but_a_json_object_is_bad_json(data: str) -> None:
    assert _code(parse_frame, data) == "bad_json"


def test_a_json_object_is_a_frame() -> None:
    assert parse_frame('{"type": "hello", "visitor_token": null}') == {"type": "hello", "visitor_token": None}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"text": "no id"}, "missing_field"),
        ({"client_msg_id": 5}, "missing_field"),  # a missing field is named before a bad one
        ({"client_msg_id": 5, "text": "hi"}, "bad_field"),
        ({"client_msg_id": "", "text": "hi"}, "bad_field"),
        ({"client_msg_id": "x" * (MAX_CLIENT_MSG_ID + 1), "text": "hi"}, "bad_field"),
        ({"client_msg_id": "a", "text": ["not", "text"]}, "bad_field"),
        ({"client_msg_id": "a", "text": " \x00\x1b\x7f\x85 "}, "empty_message"),  # only control characters
        ({"client_msg_id": "a", "text": "x" * 11}, "message_too_long"),
    ],
)
def test_a_bad_message_frame_is_refused_with_its_code(frame: dict[str, Any], code: str) -> None:
    assert _code(message_fields, frame, 10) == code


def test_a_message_keeps_tabs_and_newlines_and_loses_other_control_characters() -> None:
    cmid, text = message_fields({"client_msg_id": "m1", "text": "  a\tb\nc\x00\x1b[31m\x9f  "}, 10)
    assert (cmid, text) == ("m1", "a\tb\nc[31m")
    # the length counts once the control characters are gone
    assert message_fields({"client_msg_id": "m2", "text": "\x00" * 50 + "x" * 10}, 10) == ("m2", "x" * 10)


def test_a_refusal_names_the_refused_message_and_when_to_send_it_again() -> None:
    frame = refusal(unavailable(), {"type": "message", "client_msg_id": "m1", "text": "hi"})
    assert frame == {
        "type": "error",
        "code": "unavailable",
        "message": "the message could not be taken now; send it again",
        "retry_after": 1,
        "client_msg_id": "m1",
    }
    assert refusal(WidgetError("bad_json", "nope"), None) == {
        "type": "error",
        "code": "bad_json",
        "message": "nope",
    }
    # a client_msg_id that is not a string is not echoed
    assert "client_msg_id" not in refusal(WidgetError("bad_field", "x"), {"client_msg_id": 5})
