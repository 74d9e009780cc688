"""A CSV file streamed as the answer of an export (leads, deals): the `separator` and `encoding` a request asks for,
checked, and the response started with its headers (and the byte-order mark spreadsheets want)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from crm_core import csv_leads
from router.web.http import ApiError


@dataclass
class CsvAnswer:
    """A started CSV download: write text to it with `write`, end with `resp.write_eof()`."""

    resp: web.StreamResponse
    separator: str
    codec: str

    async def write(self, text: str) -> None:
        """Text in the asked encoding (a character it cannot hold becomes `?`)."""
        await self.resp.write(text.encode(self.codec, "replace"))


async def start_csv(request: web.Request, filename: str) -> CsvAnswer:
    """Check ?separator=,|;&encoding=utf-8-sig|utf-8|windows-1251 (a 400 otherwise) and start the download."""
    q = request.query
    separator, encoding = q.get("separator", ","), q.get("encoding", "utf-8-sig")
    if separator not in csv_leads.SEPARATORS:
        raise ApiError(400, "bad_field", "separator must be , or ;")
    if encoding not in csv_leads.ENCODINGS:
        raise ApiError(400, "bad_field", f"encoding must be one of {', '.join(csv_leads.ENCODINGS)}")
    resp = web.StreamResponse(
        headers={
            "Content-Type": f"text/csv; charset={'windows-1251' if encoding == 'windows-1251' else 'utf-8'}",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        }
    )
    await resp.prepare(request)
    if encoding == "utf-8-sig":
        await resp.write("\ufeff".encode())
    return CsvAnswer(resp, separator, "utf-8" if encoding == "utf-8-sig" else encoding)
