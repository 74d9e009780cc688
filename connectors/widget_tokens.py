"""The widget's signed tokens: the visitor token a browser keeps (who the visitor is, on which line) and the file
link an operator's file reaches a visitor by (which visitor, message and file). Both are signed with the daemon's
key; each carries what the other has not, so neither can stand in for the other."""

from __future__ import annotations

import time
import uuid
from typing import Any

from connectors.base import Signer

FILE_LINK_TTL = 24 * 3600  # seconds; every hello and history page issues fresh links
FILE_LINKS = "/widget/files/"
_FILE = "widget.file"


def new_visitor(signer: Signer, account: str) -> tuple[str, str]:
    """A new visitor of a line: its id and its token."""
    visitor = uuid.uuid4().hex
    return visitor, visitor_token(signer, account, visitor)


def visitor_token(signer: Signer, account: str, visitor: str) -> str:
    """The token a browser keeps for a visitor of a line."""
    return signer.sign({"v": visitor, "line": account, "iat": int(time.time())})


def visitor_of(signer: Signer, token: str, account: str, ttl_days: int) -> str | None:
    """The visitor a genuine, unexpired token of this line names, else None."""
    payload = signer.verify(token, max_age_seconds=ttl_days * 86400)
    if not payload or "kind" in payload or payload.get("line") != account:
        return None
    visitor = payload.get("v")
    return visitor if isinstance(visitor, str) and visitor else None


def file_link(signer: Signer, account: str, visitor: str, message_id: str, n: int) -> str:
    """The path at which one visitor (and only they, with their token) gets file `n` of a message."""
    token = signer.sign({"kind": _FILE, "line": account, "visitor": visitor, "message": message_id, "n": n})
    return FILE_LINKS + token


def link_target(signer: Signer, token: str) -> tuple[str, str, str, int] | None:
    """The (line, visitor, message id, file number) of a genuine file link not older than FILE_LINK_TTL."""
    payload: dict[str, Any] | None = signer.verify(token, max_age_seconds=FILE_LINK_TTL)
    if not payload or payload.get("kind") != _FILE:
        return None
    line, visitor, message, n = (payload.get(k) for k in ("line", "visitor", "message", "n"))
    if not (isinstance(line, str) and isinstance(visitor, str) and isinstance(message, str)):
        return None
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        return None
    return line, visitor, message, n
