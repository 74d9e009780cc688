"""The widget protocol's frames: a visitor's frame parsed, a `message` frame's fields checked, the error frames
of a refusal, a frame sent to a visitor's socket."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import orjson
import structlog
from aiohttp import WSCloseCode, web

from connectors.ratelimit import FloodGuard, Verdict
from queues.messages import RATING_COMMENT_MAX

log = structlog.get_logger("connectors.widget")
PROTOCOL = 1
MAX_FRAME = 64 * 1024
MAX_CLIENT_MSG_ID = 128
# C0 and C1 control characters and DEL, except tab and newline: invisible, and they break transcripts and CSVs
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class WidgetError(Exception):
    """A refused frame: the error code and message the visitor gets, and when to send it again (if at all)."""

    def __init__(
        self, code: str, message: str, retry_after: int | None = None, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.fields = fields  # a form's: what is wrong with each field


def parse_frame(data: str) -> dict[str, Any]:
    """A text frame as a JSON object, or WidgetError `bad_json`."""
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        # also lone surrogates (`"\ud800"`): they could never be stored as UTF-8
        raise WidgetError("bad_json", "the frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise WidgetError("bad_json", "the frame must be a JSON object")
    return frame


def message_fields(frame: dict[str, Any], max_length: int) -> tuple[str, str]:
    """A `message` frame's client_msg_id and its text without control characters, or the WidgetError why not
    (the text may be empty when the frame carries attachments)."""
    cmid = frame.get("client_msg_id")
    files = frame.get("attachments")
    text = frame.get("text", "" if files else None)
    if cmid is None or text is None:
        raise WidgetError("missing_field", "message needs client_msg_id and text")
    if not isinstance(cmid, str) or not cmid or len(cmid) > MAX_CLIENT_MSG_ID:
        raise WidgetError("bad_field", f"client_msg_id must be a string of 1-{MAX_CLIENT_MSG_ID} characters")
    if not isinstance(text, str):
        raise WidgetError("bad_field", "text must be a string")
    text = _CONTROL.sub("", text).strip()
    if not text and not files:
        raise WidgetError("empty_message", "the message is empty")
    if len(text) > max_length:
        raise WidgetError("message_too_long", f"text is longer than {max_length} characters")
    return cmid, text


MAX_RATING_COMMENT = RATING_COMMENT_MAX
MAX_DIALOG_ID = 64


def rate_fields(frame: dict[str, Any]) -> tuple[str, int, str | None]:
    """A `rate` frame's dialog_id, score and optional comment (control characters dropped), or the WidgetError
    why not. Only the shape is checked here: the engine knows the line's scale and whose dialog it is."""
    dialog_id, score, comment = frame.get("dialog_id"), frame.get("score"), frame.get("comment")
    if dialog_id is None or score is None:
        raise WidgetError("missing_field", "rate needs dialog_id and score")
    if not isinstance(dialog_id, str) or not 0 < len(dialog_id) <= MAX_DIALOG_ID:
        raise WidgetError("bad_field", "dialog_id must be a dialog id")
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 5:
        raise WidgetError("bad_field", "score must be a whole number from 0 to 5")
    if comment is not None:
        if not isinstance(comment, str):
            raise WidgetError("bad_field", "comment must be a string or null")
        comment = _CONTROL.sub("", comment).strip() or None
        if comment is not None and len(comment) > MAX_RATING_COMMENT:
            raise WidgetError("comment_too_long", f"comment is longer than {MAX_RATING_COMMENT} characters")
    return dialog_id, score, comment


def refusal(exc: WidgetError, frame: dict[str, Any] | None) -> dict[str, Any]:
    """The error frame for a refused frame, naming the refused message (or rated dialog) where there is one."""
    err = error_frame(exc.code, exc.message)
    if exc.retry_after is not None:
        err["retry_after"] = exc.retry_after
    if exc.fields is not None:
        err["fields"] = exc.fields
    if frame is not None and isinstance(cmid := frame.get("client_msg_id"), str):
        err["client_msg_id"] = cmid
    if frame is not None and frame.get("type") == "rate" and isinstance(frame.get("dialog_id"), str):
        err["dialog_id"] = frame["dialog_id"][:MAX_DIALOG_ID]  # the question whose rating was refused
    return err


def unavailable() -> WidgetError:
    """A message that could not be taken now (the queue or the shared limits away): not stored, sent again."""
    return WidgetError("unavailable", "the message could not be taken now; send it again", 1)


def error_frame(code: str, message: str) -> dict[str, Any]:
    """An `error` frame."""
    return {"type": "error", "code": code, "message": message}


async def send_frame(ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
    """Send a frame unless the socket is closed (or closes meanwhile: then it is dropped)."""
    if not ws.closed:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(orjson.dumps(frame).decode())


async def throttle(ws: web.WebSocketResponse, account: str, verdict: Verdict, flood: FloodGuard) -> bool:
    """Act on a frame over the connection's cap; True when the connection was closed."""
    if verdict is Verdict.CLOSE:
        log.warning("widget.flood.closed", line=account, dropped=flood.dropped)
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many frames")
        return True
    if verdict is Verdict.DROP_AND_NOTIFY:
        log.info("widget.flood.throttled", line=account, dropped=flood.dropped)
        await send_frame(
            ws, {**error_frame("rate_limited", "too many frames: some were dropped"), "retry_after": 1}
        )
    return False
