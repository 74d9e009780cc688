"""The `email` channel block of a line: one support mailbox, read over IMAP and answered over SMTP."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def _seconds(value: Any) -> Any:
    """`30`, `30s`, `2m`, `500ms` → seconds (the config's duration syntax; connectors cannot import router/)."""
    if isinstance(value, bool):
        raise ValueError("a duration like 30s, 2m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError("a duration like 30s, 2m or 1h")
    if not math.isfinite(seconds):
        raise ValueError("a duration like 30s, 2m or 1h")
    return seconds


Seconds = Annotated[float, BeforeValidator(_seconds)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImapSettings(_Strict):
    """Where the mailbox is read: IMAP over implicit TLS (993), STARTTLS (143) or plain (tests only)."""

    host: str
    port: int | None = Field(None, ge=1, le=65535)  # None: 993 with ssl, else 143
    ssl: bool | None = None  # None: on unless starttls is
    starttls: bool = False
    user: str | None = None  # None: the mailbox address
    password: SecretStr
    folder: str = "INBOX"
    move_to: str | None = None  # None: fetched mail is marked \Seen; a folder: it is moved there (and seen)
    poll_interval: Seconds = Field(60.0, ge=0.05, le=86400)
    idle: bool = True  # use IMAP IDLE when the server offers it (new mail arrives at once)
    timeout: Seconds = Field(30.0, ge=1, le=600)

    @model_validator(mode="after")
    def _check_tls(self) -> ImapSettings:
        if self.ssl and self.starttls:
            raise ValueError("choose one: ssl (implicit TLS, port 993) or starttls (port 143)")
        return self

    @property
    def use_ssl(self) -> bool:
        """Implicit TLS from the first byte."""
        return self.ssl if self.ssl is not None else not self.starttls

    @property
    def real_port(self) -> int:
        """The configured port, or the standard one for the TLS mode."""
        return self.port or (993 if self.use_ssl else 143)


class SmtpSettings(_Strict):
    """Where answers are sent: SMTP submission with STARTTLS (587), implicit TLS (465) or plain (tests only)."""

    host: str
    port: int | None = Field(None, ge=1, le=65535)  # None: 465 with ssl, 587 with starttls, else 25
    ssl: bool = False
    starttls: bool | None = None  # None: on unless ssl is
    user: str | None = None  # None: the IMAP user; "" sends without logging in
    password: SecretStr | None = None  # None: the IMAP password
    timeout: Seconds = Field(30.0, ge=1, le=600)
    # a 4xx answer (greylisting, rate limits) is tried again after retry_after, doubling up to an hour
    retry_after: Seconds = Field(60.0, ge=0.01, le=3600)
    max_tries: int = Field(8, ge=1, le=50)

    @model_validator(mode="after")
    def _check_tls(self) -> SmtpSettings:
        if self.ssl and self.starttls:
            raise ValueError("choose one: ssl (implicit TLS, port 465) or starttls (port 587)")
        return self

    @property
    def use_starttls(self) -> bool:
        """Upgrade the plain connection with STARTTLS before logging in."""
        return self.starttls if self.starttls is not None else not self.ssl

    @property
    def real_port(self) -> int:
        """The configured port, or the standard one for the TLS mode."""
        return self.port or (465 if self.ssl else 587 if self.use_starttls else 25)


class EmailSettings(_Strict):
    """The `email` channel block of a line: one support mailbox."""

    type: Literal["email"]
    account: str | None = None  # defaults to the line id
    address: str  # the support mailbox: mail to it is read, answers come from it
    from_name: str | None = None  # the name in From of our answers ("Acme Support")
    imap: ImapSettings
    smtp: SmtpSettings
    max_attachment_bytes: int = Field(10 * 1024 * 1024, ge=0, le=1024 * 1024 * 1024)

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        value = value.strip()
        if not _ADDRESS.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value.lower()

    @field_validator("from_name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        if value is not None and ("\n" in value or "\r" in value):
            raise ValueError("from_name must be one line")
        return value

    @property
    def imap_user(self) -> str:
        """The IMAP login."""
        return self.imap.user or self.address

    @property
    def smtp_login(self) -> tuple[str, str] | None:
        """The SMTP login and password, or None to send without logging in."""
        user = self.smtp.user if self.smtp.user is not None else self.imap_user
        if not user:
            return None
        password = self.smtp.password if self.smtp.password is not None else self.imap.password
        return user, password.get_secret_value()
