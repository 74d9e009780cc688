"""Operator authentication: argon2 passwords, HMAC-signed tokens, sessions stored server-side."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from crm_core.store import Store
from router.app.clock import Clock

SESSION_TTL = timedelta(days=7)
_CACHE_SECONDS = 30.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs small JSON payloads with the daemon's secret key (visitor tokens)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest()[:24])

    def sign(self, payload: dict[str, Any]) -> str:
        """`body.mac`, the body carrying `iat` (issued-at, seconds)."""
        body = _b64(orjson.dumps({"iat": int(time.time()), **payload}))
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str, max_age_seconds: float) -> dict[str, Any] | None:
        """The payload of a genuine token not older than max_age_seconds, else None."""
        body, _, mac = token.partition(".")
        if not body or not mac or not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            payload = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("iat"), int):
            return None
        if time.time() - payload["iat"] > max_age_seconds:
            return None
        return payload


class Passwords:
    """Checks operator passwords against argon2 hashes."""

    def __init__(self, hashes: Mapping[str, str]) -> None:
        self._hasher = PasswordHasher()
        self._hashes = dict(hashes)
        # a login that does not exist still costs one verification, so timing does not reveal logins
        self._dummy = self._hasher.hash(secrets.token_hex(8))

    @staticmethod
    def hash(plain: str) -> str:
        """An argon2id hash of a plain password."""
        return PasswordHasher().hash(plain)

    def check(self, login: str, password: str) -> bool:
        """True when the password is the operator's."""
        stored = self._hashes.get(login)
        try:
            self._hasher.verify(stored or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return stored is not None


class Sessions:
    """Console sessions: a signed random token for the browser, its hash in the store (shared by web processes)."""

    def __init__(self, store: Store, secret: bytes, clock: Clock) -> None:
        self._store = store
        self._secret = secret
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}

    def _mac(self, raw: str) -> str:
        return _b64(hmac.new(self._secret, raw.encode(), hashlib.sha256).digest()[:16])

    async def create(self, login: str) -> str:
        """A new session token for the operator."""
        raw = secrets.token_urlsafe(24)
        token = f"{raw}.{self._mac(raw)}"
        now = self._clock.now()
        await self._store.create_session(_digest(token), login, now, now + SESSION_TTL)
        return token

    async def login_of(self, token: str | None) -> str | None:
        """The operator of a valid, live session token."""
        if not token:
            return None
        raw, _, mac = token.partition(".")
        if not raw or not hmac.compare_digest(mac, self._mac(raw)):
            return None  # forged: no database round trip
        cached = self._cache.get(token)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        login = await self._store.session_login(_digest(token), self._clock.now())
        if login:
            self._cache[token] = (login, time.monotonic() + _CACHE_SECONDS)
        return login

    async def end(self, token: str) -> None:
        """Log the session out."""
        self._cache.pop(token, None)
        await self._store.delete_session(_digest(token))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
