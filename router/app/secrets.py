"""The process's secrets: the key that signs tokens and sessions, and every operator's password hash (the demo
password made once and kept in var/ when the config gives none)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.app import log_events as ev
from router.app.logs import get
from router.app.settings import Settings
from router.web.auth import Passwords, credential_fingerprint

log = get(__name__)
DEMO_PASSWORD_ENV = "OPENLINES_DEMO_PASSWORD"


@dataclass
class Secrets:
    """The secret key and operator password hashes, and the demo password when one was made or given."""

    key: bytes
    hashes: dict[str, str]
    credentials: dict[
        str, str
    ]  # login -> fingerprint of the configured credential (sessions are bound to it)
    demo_password: str | None = None
    demo_logins: list[str] = field(default_factory=list)
    demo_password_new: bool = False


def prepare_secrets(settings: Settings, env: Mapping[str, str]) -> Secrets:
    """Resolve the secret key (generated into var_dir when unset) and every operator's password hash."""
    var = Path(settings.var_dir)
    var.mkdir(parents=True, exist_ok=True)
    key = settings.secret_key
    if not key:
        if not (var / "secret_key").exists():
            log.info(ev.SECRET_KEY_CREATED, path=str(var / "secret_key"))
        key = _var_secret(var / "secret_key", lambda: secrets.token_urlsafe(32))
    hashes: dict[str, str] = {}
    configured: dict[str, str] = {}  # login -> the credential as the config gives it
    demo: str | None = None
    new = False
    demo_logins = []
    for op in settings.operators:
        if op.password and op.password.startswith("$argon2"):
            hashes[op.login] = configured[op.login] = op.password
            continue
        if op.password:
            hashes[op.login] = Passwords.hash(op.password)
            configured[op.login] = op.password
            continue
        if demo is None:
            demo = env.get(DEMO_PASSWORD_ENV)
            if not demo:
                path = var / "demo-password"
                new = not path.exists()
                demo = _var_secret(path, lambda: secrets.token_urlsafe(9))
                if new:
                    log.info(ev.DEMO_PASSWORD_CREATED, path=str(path))
        hashes[op.login] = Passwords.hash(demo)
        configured[op.login] = demo
        demo_logins.append(op.login)
    secret = key.encode()
    credentials = {login: credential_fingerprint(secret, login, c) for login, c in configured.items()}
    return Secrets(secret, hashes, credentials, demo, demo_logins, new)


def _var_secret(path: Path, make: Any) -> str:
    if path.exists():
        return path.read_text().strip()
    value = make()
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    try:
        os.link(tmp, path)  # atomic and exclusive: processes started together all end up with the first one's
    except FileExistsError:
        value = path.read_text().strip()
    finally:
        tmp.unlink()
    return str(value)
