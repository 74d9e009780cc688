"""JSON answers and errors of the HTTP API: a stable code and a readable message on every 4xx."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import BodyPartReader, web

_DUMPS_OPTS = orjson.OPT_NON_STR_KEYS


class ApiError(Exception):
    """A 4xx answer with a stable code (429 and 503 with when to try again)."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None, **details: Any
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after
        self.details = details  # more fields of the answer (what a client needs to act on the refusal)


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer."""
    return web.Response(
        body=orjson.dumps(data, option=_DUMPS_OPTS), status=status, content_type="application/json"
    )


def error_response(status: int, code: str, message: str) -> web.Response:
    """A JSON error with its code."""
    return json_response({"code": code, "message": message}, status)


@web.middleware
async def api_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn ApiError into its JSON answer, and aiohttp's own 404/405 into JSON on /api."""
    try:
        return await handler(request)
    except ApiError as exc:
        body = {**exc.details, "code": exc.code, "message": exc.message}
        if exc.retry_after is not None:
            body["retry_after"] = exc.retry_after
        resp = json_response(body, exc.status)
        if exc.retry_after is not None:
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.status >= 400:
            code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
                exc.status, "http_error"
            )
            return error_response(exc.status, code, exc.reason)
        raise


@dataclass(frozen=True, slots=True)
class Upload:
    """A file a console sent as the multipart field `file`."""

    data: bytes
    name: str  # its file name, without path separators
    mime: str


async def multipart_file(request: web.Request, limit: int) -> Upload:
    """The request's multipart field `file` (the first field), read up to `limit` bytes; a 4xx saying what is
    wrong with the request otherwise."""
    if not request.content_type.startswith("multipart/"):
        raise ApiError(
            415, "unsupported_media_type", "send the file as multipart/form-data in a field `file`"
        )
    reader = await request.multipart()
    part = await reader.next()
    if part is None or not isinstance(part, BodyPartReader) or part.name != "file":
        raise ApiError(400, "missing_field", "a multipart field `file` is required")
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise ApiError(413, "too_large", f"files are limited to {limit} bytes")
    name = (part.filename or "file").replace("/", "_").replace("\\", "_")[:200]
    return Upload(bytes(data), name, part.headers.get("Content-Type", "application/octet-stream")[:200])


def query_time(query: Mapping[str, str], name: str) -> datetime | None:
    """An ISO-8601 time parameter (UTC when it has no offset); 400 when it is not one."""
    raw = query.get(name)
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "bad_field", f"{name} must be an ISO-8601 time") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
