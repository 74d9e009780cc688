"""A visitor's files: `POST /widget/upload?line=LINE` (multipart field `file`, the visitor's token as
`Authorization: Bearer TOKEN`) stores one file in the attachment store and answers an upload token; a `message`
frame then names up to `files.per_message` of those tokens in `attachments` (connectors/widget_session.py).

The server decides what is taken, whatever the page says: the line's `files` block (connectors/widget_settings.py)
gives the size and the MIME types, the type is the part's declared one (or the file name's when the browser said
nothing useful), and a type with a known signature (pictures, PDF, office files, zip) must have it, so a page
cannot be passed off as a picture. Each upload takes one from the visitor's and the address's message allowances.
The upload token is signed and names the line, the visitor and the stored file, so a visitor can only send their
own uploads; an upload no message carries is removed after a day (router/web/uploads.py)."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import structlog
from aiohttp import BodyPartReader, web

from connectors.base import ConnectorContext, Signer, UploadLog
from connectors.origins import client_address
from connectors.ratelimit import Limits, retry_after
from connectors.widget_frames import WidgetError
from connectors.widget_settings import LineGuards, WidgetFiles, WidgetSettings
from connectors.widget_tokens import FILE_LINK_TTL, visitor_of
from queues.messages import Attachment

log = structlog.get_logger("connectors.widget")
UPLOADS = "/widget/upload"
_UPLOAD = "widget.upload"
MAX_NAME = 200
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)  # the old Word and Excel files
_ZIP = (b"PK\x03\x04",)  # zip, and the office formats made of one
# what a file of these types starts with; a type not listed here is taken as it is and never shown inline
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
    "application/zip": (*_ZIP, b"PK\x05\x06"),
    "application/msword": _OLE,
    "application/vnd.ms-excel": _OLE,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _ZIP,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _ZIP,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _ZIP,
    "application/vnd.oasis.opendocument.text": _ZIP,
    "application/vnd.oasis.opendocument.spreadsheet": _ZIP,
}
_VAGUE = ("", "application/octet-stream", "binary/octet-stream")


def file_type(declared: str | None, name: str) -> str:
    """The MIME type a file is taken as: the declared one without parameters, else the name's."""
    mime = (declared or "").split(";", 1)[0].strip().lower()
    if mime in _VAGUE:
        mime = (mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream").lower()
    return mime


def content_matches(mime: str, head: bytes) -> bool:
    """Whether a file's first bytes are what its type's files start with (True for a type without a signature)."""
    if mime == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    marks = SIGNATURES.get(mime)
    return marks is None or any(head.startswith(m) for m in marks)


def clean_name(raw: str | None) -> str:
    """A file name safe to store and show: no path, no control characters, at most MAX_NAME characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return name[:MAX_NAME] or "file"


def upload_token(
    signer: Signer, account: str, visitor: str, ref: str, name: str, mime: str, size: int
) -> str:
    """What the upload answers: the token a `message` frame names the file by."""
    return signer.sign(
        {"kind": _UPLOAD, "line": account, "v": visitor, "ref": ref, "name": name, "mime": mime, "size": size}
    )


def message_files(
    signer: Signer, account: str, visitor: str, raw: Any, files: WidgetFiles
) -> tuple[Attachment, ...]:
    """The files a `message` frame's `attachments` (upload tokens) name: this visitor's own uploads on this line,
    not older than a day; a WidgetError otherwise."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise WidgetError("bad_field", "attachments must be a list of upload tokens")
    if len(raw) > files.per_message:
        raise WidgetError("too_many_files", f"a message may carry at most {files.per_message} files")
    out: dict[str, Attachment] = {}
    for token in raw:
        p = signer.verify(token, max_age_seconds=FILE_LINK_TTL)
        if not p or p.get("kind") != _UPLOAD or p.get("line") != account or p.get("v") != visitor:
            raise WidgetError(
                "bad_upload", "an attachment is not a file you uploaded here, or it has expired"
            )
        ref, name, mime, size = p.get("ref"), p.get("name"), p.get("mime"), p.get("size")
        if not (isinstance(ref, str) and isinstance(name, str) and isinstance(mime, str)):
            raise WidgetError(
                "bad_upload", "an attachment is not a file you uploaded here, or it has expired"
            )
        out[ref] = Attachment(name, mime, size if isinstance(size, int) else None, ref, stored=True)
    return tuple(out.values())


class UploadHost(Protocol):
    """What the upload route needs of its connector (connectors/widget.py)."""

    ctx: ConnectorContext
    limits: Limits
    wall: Callable[[], float]

    def line_of(self, account: str) -> tuple[WidgetSettings, LineGuards] | None:
        """A widget line's settings and guards."""
        ...


@dataclass
class _Refusal(Exception):
    status: int
    code: str
    message: str
    retry: int | None = None


class UploadRoute:
    """`POST` (and the browsers' CORS preflight `OPTIONS`) of `/widget/upload?line=LINE`."""

    def __init__(self, host: UploadHost, uploads: UploadLog | None) -> None:
        self.host, self.uploads = host, uploads

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Store a visitor's file and answer its upload token; a JSON error (code, message) otherwise."""
        account = request.query.get("line", "")
        origin = request.headers.get("Origin")
        line = self.host.line_of(account)
        if line is not None and origin is not None and not line[1].origins.allows(origin):
            return _answer(
                403, {"code": "origin_not_allowed", "message": "this site may not send files here"}
            )
        cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}
        if request.method == "OPTIONS":
            allow = {
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Authorization",
                "Access-Control-Max-Age": "600",
            }
            return web.Response(status=204, headers={**cors, **allow})
        try:
            if line is None:
                raise _Refusal(404, "unknown_line", f"there is no chat line {account[:100]!r} here")
            body = await self._store(request, account, *line)
        except _Refusal as r:
            log.info("widget.upload.refused", line=account[:100], code=r.code)
            headers = {**cors, **({"Retry-After": str(r.retry)} if r.retry else {})}
            return _answer(r.status, {"code": r.code, "message": r.message}, headers)
        return _answer(200, body, cors)

    async def _store(
        self, request: web.Request, account: str, settings: WidgetSettings, guards: LineGuards
    ) -> dict[str, Any]:
        ctx, rules = self.host.ctx, settings.files
        if not rules.enabled:
            raise _Refusal(403, "files_off", "this chat takes no files")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        visitor = visitor_of(ctx.signer, token.strip(), account, settings.token_ttl_days)
        if scheme.lower() != "bearer" or visitor is None:
            raise _Refusal(401, "invalid_token", "send the visitor token the chat was opened with")
        forwarded = request.headers.get("X-Forwarded-For") if guards.trust_forwarded_for else None
        address = client_address(request.remote, forwarded)
        buckets = [
            (f"widget:{account}:v:{visitor}", guards.per_visitor),
            (f"widget:{account}:ip:{address}", guards.per_address),
        ]
        try:
            wait = await self.host.limits.take(buckets, self.host.wall())
        except Exception as exc:  # Redis away: the visitor tries again
            log.warning("widget.limits.failed", line=account, error=str(exc))
            raise _Refusal(503, "unavailable", "the chat is busy; try again in a moment") from None
        if wait:
            raise _Refusal(429, "rate_limited", "too many files; try again later", retry_after(wait))
        if not request.content_type.startswith("multipart/"):
            raise _Refusal(415, "bad_request", "send the file as multipart/form-data in a field `file`")
        reader = await request.multipart()
        part = await reader.next()
        if part is None or not isinstance(part, BodyPartReader) or part.name != "file":
            raise _Refusal(400, "missing_field", "a multipart field `file` is required")
        name = clean_name(part.filename)
        mime = file_type(part.headers.get("Content-Type"), name)
        if not rules.allows(mime):
            raise _Refusal(415, "type_not_allowed", f"files of this type ({mime[:100]}) cannot be sent here")
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) > rules.max_bytes:
                raise _Refusal(413, "too_large", f"files are limited to {rules.max_bytes} bytes")
        if not data:
            raise _Refusal(400, "empty_file", "the file is empty")
        if not content_matches(mime, bytes(data[:16])):
            raise _Refusal(415, "bad_file", f"the file's content is not what its type ({mime[:100]}) says")
        try:
            ref = await ctx.attachments.put(bytes(data), name=name, mime=mime)
            if self.uploads is not None:
                await self.uploads.track(ref, account, visitor)
        except Exception as exc:  # the disk or the store away: nothing was taken, the visitor tries again
            log.warning("widget.upload.failed", line=account, error=str(exc))
            raise _Refusal(
                503, "unavailable", "the file could not be stored; try again in a moment"
            ) from None
        log.info("widget.upload.stored", line=account, size=len(data), mime=mime)
        return {
            "upload": upload_token(ctx.signer, account, visitor, ref, name, mime, len(data)),
            "name": name,
            "mime": mime,
            "size": len(data),
        }


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers or {}
    )
