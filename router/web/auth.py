"""Operator authentication: argon2 passwords, HMAC-signed tokens, sessions stored server-side."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
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
    """Checks operator passwords against argon2 hashes, off the event loop and a few at a time."""

    def __init__(self, hashes: Mapping[str, str], *, parallel: int | None = None) -> None:
        self._hasher = PasswordHasher()
        self._hashes = dict(hashes)
        # a login that does not exist still costs one verification, so timing does not reveal logins
        self._dummy = self._hasher.hash(secrets.token_hex(8))
        # argon2 takes tens of ms of CPU: on the loop, a burst of logins stalled every socket; in threads, at most
        # half the cores verify at once, so the loop keeps a core
        self._slots = asyncio.Semaphore(parallel or max(1, (os.cpu_count() or 2) // 2))

    @staticmethod
    def hash(plain: str) -> str:
        """An argon2id hash of a plain password."""
        return PasswordHasher().hash(plain)

    def check(self, login: str, password: str) -> bool:
        """True when the password is the operator's (blocking: argon2's CPU; `verify` from async code)."""
        stored = self._hashes.get(login)
        try:
            self._hasher.verify(stored or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return stored is not None

    async def verify(self, login: str, password: str) -> bool:
        """`check` in a worker thread, behind the semaphore."""
        async with self._slots:
            return await asyncio.to_thread(self.check, login, password)


class Sessions:
    """Console sessions: a signed random token for the browser, its hash in the store (shared by web processes),
    bound to a fingerprint of the credential it was made with (a changed password ends it)."""

    def __init__(
        self, store: Store, secret: bytes, clock: Clock, credentials: Mapping[str, str] | None = None
    ) -> None:
        self._store = store
        self._secret = secret
        self._clock = clock
        self._credentials = dict(credentials or {})
        self._cache: dict[str, tuple[str, float]] = {}  # token digest -> (login, until when, monotonic)

    def _mac(self, raw: str) -> str:
        return _b64(hmac.new(self._secret, raw.encode(), hashlib.sha256).digest()[:16])

    async def create(self, login: str) -> str:
        """A new session token for the operator."""
        raw = secrets.token_urlsafe(24)
        token = f"{raw}.{self._mac(raw)}"
        now = self._clock.now()
        credential = self._credentials.get(login, "")
        await self._store.create_session(digest(token), login, now, now + SESSION_TTL, credential)
        return token

    def genuine(self, token: str | None) -> bool:
        """Whether a token is one we signed (a forged one costs no database round trip)."""
        if not token:
            return False
        raw, _, mac = token.partition(".")
        return bool(raw) and hmac.compare_digest(mac, self._mac(raw))

    async def login_of(self, token: str | None) -> str | None:
        """The operator of a valid, live session token."""
        if not token or not self.genuine(token):
            return None
        key = digest(token)
        cached = self._cache.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        login = await self.live(key)
        if login:
            self._cache[key] = (login, time.monotonic() + _CACHE_SECONDS)
        return login

    async def live(self, key: str) -> str | None:
        """The operator of a session by its digest, read from the store (no cache): None when it ended, expired
        or was made with a credential the operator no longer has."""
        found = await self._store.session(key, self._clock.now())
        if found is None:
            return None
        login, credential = found
        if credential != self._credentials.get(login, ""):
            await self._store.delete_session(key)
            return None
        return login

    def forget(self, key: str) -> None:
        """Drop a session from this process's cache (it ended in another process)."""
        self._cache.pop(key, None)

    async def end(self, token: str) -> str:
        """Log the session out; its digest (what other processes are told)."""
        key = digest(token)
        self._cache.pop(key, None)
        await self._store.delete_session(key)
        return key


def digest(token: str) -> str:
    """The hash a session is stored and known by (a leaked table or log is no login)."""
    return hashlib.sha256(token.encode()).hexdigest()


def credential_fingerprint(secret: bytes, login: str, credential: str) -> str:
    """A fingerprint of an operator's configured credential (its hash, or the plain password the config gives):
    the same across restarts, different after any change, and no help to whoever reads the sessions table."""
    mac = hmac.new(secret, f"{login}\0{credential}".encode(), hashlib.sha256).digest()[:16]
    return _b64(mac)
