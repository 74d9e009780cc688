"""PURE: a site's signed visitor identity (as Chatwoot's identity validation): the site's backend signs its
logged-in user with the line's `identity_secret`, the page hands the signed identity to the widget, and the widget's
`hello` carries it. A genuine one makes the visitor that user on every device (one conversation, one history), and
its e-mail and phone count as verified (they join the customer's lead across channels, as a channel-verified
contact does); a forged or altered one is refused.

The signature is HMAC-SHA256, in lower-case hex, over the user's fields joined by newlines, in this order, an absent
field as an empty string: `id`, `email`, `phone`, `name` (so none of them can be changed without the secret). In
Python: `hmac.new(secret, "\\n".join([id, email or "", phone or "", name or ""]).encode(), "sha256").hexdigest()`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

MAX_ID = 128
MAX_FIELD = 254  # the longest e-mail address; names and phones fit too
_HEX = re.compile(r"[0-9a-f]{64}")
_FIELDS = ("id", "email", "phone", "name", "hash")


@dataclass(frozen=True)
class SiteUser:
    """A visitor the site vouches for."""

    id: str
    email: str | None
    phone: str | None
    name: str | None


class IdentityRefused(ValueError):
    """Why a signed identity is not taken: `code` for the error frame, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def signature(secret: str, user: SiteUser) -> str:
    """The hex HMAC-SHA256 the site's backend computes for `user` (tests and the docs' example use it)."""
    text = "\n".join([user.id, user.email or "", user.phone or "", user.name or ""])
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, raw: Any) -> SiteUser:
    """The user a genuine signed identity names; IdentityRefused otherwise (the comparison takes constant time)."""
    if not isinstance(raw, dict) or set(raw) - set(_FIELDS):
        raise IdentityRefused("bad_identity", f"identity must be an object of {', '.join(_FIELDS)}")
    user_id, given = raw.get("id"), raw.get("hash")
    if not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_ID:
        raise IdentityRefused("bad_identity", f"identity.id must be a string of 1 to {MAX_ID} characters")
    if not isinstance(given, str) or not _HEX.fullmatch(given.lower()):
        raise IdentityRefused("bad_identity", "identity.hash must be the HMAC-SHA256 in hex (64 characters)")
    fields: dict[str, str | None] = {}
    for name in ("email", "phone", "name"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_FIELD):
            raise IdentityRefused("bad_identity", f"identity.{name} must be a string of at most {MAX_FIELD}")
        fields[name] = value or None
    user = SiteUser(user_id, fields["email"], fields["phone"], fields["name"])
    if not hmac.compare_digest(signature(secret, user), given.lower()):
        raise IdentityRefused("identity_refused", "the identity's signature does not match: it is not taken")
    return user


def is_site_user(visitor: str) -> bool:
    """Whether a visitor id is a signed-in user's (`visitor_of_user`), which only their signature opens."""
    return len(visitor) == 32 and visitor.startswith("u")


def visitor_of_user(account: str, user_id: str) -> str:
    """The visitor id of a site's user on a line: the same on every device, never one an anonymous visitor gets."""
    return "u" + hashlib.sha256(f"{account}\n{user_id}".encode()).hexdigest()[:31]
