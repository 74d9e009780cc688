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
    rate_fields,
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


# ---- `rate`: the visitor's rating of the answer (only its shape here; the engine checks the scale and the dialog)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "rate", "score": 1}, "missing_field"),
        ({"type": "rate", "dialog_id": "d1"}, "missing_field"),
        ({"type": "rate", "dialog_id": 5, "score": 1}, "bad_field"),
        ({"type": "rate", "dialog_id": "", "score": 1}, "bad_field"),
        ({"type": "rate", "dialog_id": "d" * 65, "score": 1}, "bad_field"),
        ({"type": "rate", "dialog_id": "d1", "score": True}, "bad_field"),
        ({"type": "rate", "dialog_id": "d1", "score": "5"}, "bad_field"),
        ({"type": "rate", "dialog_id": "d1", "score": 4.5}, "bad_field"),
        ({"type": "rate", "dialog_id": "d1", "score": 6}, "bad_field"),
        ({"type": "rate", "dialog_id": "d1", "score": -1}, "bad_field"),
        ({"type": "rate", "dialog_id": "d1", "score": 4, "comment": ["x"]}, "bad_field"),
        ({"type": "rate", "dialog_id": "d1", "score": 4, "comment": "x" * 2001}, "comment_too_long"),
    ],
)
def test_a_bad_rate_frame_is_refused_with_a_code_naming_its_dialog(frame: dict[str, Any], code: str) -> None:
    assert _code(rate_fields, frame) == code
    err = refusal(WidgetError(code, "why"), frame)
    assert err["code"] == code
    assert err.get("dialog_id") == (
        frame["dialog_id"][:64] if isinstance(frame.get("dialog_id"), str) else None
    )


def test_a_rate_frames_comment_loses_control_characters_and_an_empty_one_is_none() -> None:
    assert rate_fields({"dialog_id": "d1", "score": 0, "comment": " ok\x00\x07 "}) == ("d1", 0, "ok")
    assert rate_fields({"dialog_id": "d1", "score": 5, "comment": " \x00 "}) == ("d1", 5, None)
    assert rate_fields({"dialog_id": "d1", "score": 3, "comment": None}) == ("d1", 3, None)
