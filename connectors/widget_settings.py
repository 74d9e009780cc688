"""The widget channel's settings block and what a line's settings guard it with: origins and message rates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connectors.origins import OriginPolicy, check_origins
from connectors.ratelimit import Rate
from queues.forms import Form

# what a visitor may attach when the line's config says nothing: pictures, PDFs, plain text and office documents
DEFAULT_FILE_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/zip",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
)
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/(\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126})$")


class WidgetFiles(BaseModel):
    """What a visitor may attach (`files` of the widget block), checked by the server on every upload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)  # a file's size
    types: tuple[str, ...] = DEFAULT_FILE_TYPES  # MIME types; `image/*` takes every image/ type
    per_message: int = Field(5, ge=1, le=10)

    @field_validator("types")
    @classmethod
    def _check_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(v.strip().lower() for v in value)
        for v in out:
            if not _MIME.match(v):
                raise ValueError(f"{v!r} is not a MIME type: write type/subtype (application/pdf) or type/*")
        if not out:
            raise ValueError("types is empty: list at least one, or set enabled: false")
        return out

    def allows(self, mime: str) -> bool:
        """Whether a file of this MIME type may be attached."""
        major = mime.partition("/")[0]
        return mime in self.types or f"{major}/*" in self.types


class WidgetShow(BaseModel):
    """When the launcher shows on a site's page (`show` of the widget block); the page's path is matched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pages: tuple[str, ...] = Field((), max_length=50)  # paths, `*` for any part; empty: every page
    hide: tuple[str, ...] = Field((), max_length=50)  # paths it never shows on (they win over `pages`)
    delay_seconds: int = Field(0, ge=0, le=3600)  # after this long on the first page of a visit

    @field_validator("pages", "hide")
    @classmethod
    def _check_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not path.startswith("/") or len(path) > 300 or any(c.isspace() for c in path):
                raise ValueError(f"{path!r} is not a page's path: write /shop/* (a path, * for any part)")
        return value


class WidgetOffline(BaseModel):
    """What the widget says when the line does not work now (`offline` of the widget block): a text, and
    optionally a form in place of the chat (Bitrix24's day-off form), whose answers wait for the morning."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    when: Literal["closed", "nobody_online", "closed_or_nobody"] = "closed_or_nobody"
    text: str | None = Field(None, min_length=1, max_length=500)  # None: the widget's own
    form: Form | None = None


class WidgetSettings(BaseModel):
    """The `widget` channel block of a line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["widget"]
    account: str | None = None  # defaults to the line id
    title: str | None = None  # None: the widget's own, in the page's language; the page's data-title wins
    # shown in the empty chat before the first message (None: the widget's own, in the page's language)
    greeting: str | None = Field(None, min_length=1, max_length=500)
    sound: bool = True  # a short chime on an operator's reply while the chat is closed or the tab is hidden
    token_ttl_days: int = Field(365, ge=1, le=3650)
    allowed_origins: list[str] = []  # empty: any site may embed the widget (the demo)
    trust_forwarded_for: bool = False
    rate_per_visitor: int = Field(30, ge=1, le=6000)  # messages a minute
    burst_per_visitor: int = Field(10, ge=1, le=1000)
    rate_per_ip: int = Field(120, ge=1, le=60000)
    burst_per_ip: int = Field(40, ge=1, le=10000)
    # the site signs its logged-in users with it (connectors/widget_identity.py); `required`: only signed visitors
    identity_secret: SecretStr | None = None
    identity: Literal["optional", "required"] = "optional"
    files: WidgetFiles = WidgetFiles()  # what visitors may attach (connectors/widget_uploads.py)
    prechat: Form | None = None  # asked before a new visitor's first message (queues/forms.py)
    show: WidgetShow = WidgetShow()  # on which pages, and after how long, the launcher shows
    language: Literal["auto", "en", "ru"] = "auto"  # auto: the page's (a page's own data-lang always wins)
    offline: WidgetOffline | None = None  # when the line is closed or nobody is online
    # the public chat page /chat/LINE (connectors/widget_page.py) and its branding
    page: bool = True
    color: str | None = None  # the accent colour, #rrggbb (a site's data-color wins on its pages)
    position: Literal["right", "left"] | None = None  # the launcher's corner (a site's data-position wins)
    logo_url: str | None = Field(None, max_length=2000)  # https://… shown in the chat's header on the page
    privacy_url: str | None = Field(None, max_length=2000)  # a link under the chat on the page

    @field_validator("identity_secret", mode="before")
    @classmethod
    def _no_empty_secret(cls, value: object) -> object:
        return None if value == "" else value  # `${VAR:-}` unset: no secret

    @model_validator(mode="after")
    def _check_identity(self) -> WidgetSettings:
        if self.identity == "required" and self.identity_secret is None:
            raise ValueError(
                "identity: required needs identity_secret (the key the site signs its users with)"
            )
        if self.identity_secret is not None and len(self.identity_secret.get_secret_value()) < 16:
            raise ValueError("identity_secret must be at least 16 characters (use a long random string)")
        return self

    @field_validator("color")
    @classmethod
    def _check_color(cls, value: str | None) -> str | None:
        if value is not None and not _COLOR.match(value):
            raise ValueError(f"{value!r} is not a colour: write #rrggbb (#2f6fed)")
        return value

    @field_validator("logo_url", "privacy_url")
    @classmethod
    def _check_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        schemes = ("https",) if info.field_name == "logo_url" else ("https", "http")
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.netloc or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not an address the page can use: write {schemes[0]}://host/path")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        return check_origins(value)


@dataclass
class LineGuards:
    """One widget line's origin policy and message rates."""

    origins: OriginPolicy
    per_visitor: Rate
    per_address: Rate
    trust_forwarded_for: bool

    @classmethod
    def of(cls, settings: WidgetSettings) -> LineGuards:
        """The guards of one line's settings."""
        return cls(
            OriginPolicy(settings.allowed_origins),
            Rate.per_minute(settings.rate_per_visitor, settings.burst_per_visitor),
            Rate.per_minute(settings.rate_per_ip, settings.burst_per_ip),
            settings.trust_forwarded_for,
        )
