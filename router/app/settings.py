"""Typed config for config/*.yaml (pydantic), reporting every problem as FILE:LINE: path: message."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from router.app.crm_settings import CrmSettings, line_pipeline_problems
from router.app.deal_settings import LineCrm
from router.app.rating_settings import RatingSettings
from router.app.yamlconf import ConfigProblem, load_yaml
from router.rules.hours import Schedule, always_open, parse_schedule

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_SLUG = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


def parse_duration(value: Any) -> Any:
    """`90`, `90s`, `2m`, `1.5h`, `500ms` → timedelta; anything else is left for pydantic to refuse."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration like 60s, 2m or 1h")
    seconds: float | None = None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds is None or not math.isfinite(seconds):
        raise ValueError("a duration like 60s, 2m or 1h")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError("the duration is too long") from None


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


LOOPBACK = ["127.0.0.1/32", "::1/128"]


def _networks(value: list[str]) -> list[str]:
    for entry in value:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not an address or network (10.0.0.0/8, 192.0.2.7, ::1)") from None
    return value


Networks = Annotated[list[str], AfterValidator(_networks)]


class HttpSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = None  # how browsers reach us, when behind a proxy: the console's own origin
    reuse_port: bool = False  # SO_REUSEPORT: several web processes share the port (the kernel balances)
    # proxies in front of us: their X-Forwarded-For names the client, and their connections are not capped
    trusted_proxies: Networks = Field(default_factory=lambda: list(LOOPBACK))
    max_connections_per_address: int = Field(256, ge=0, le=1_000_000)  # open at once; 0: no cap
    header_timeout: Duration = timedelta(seconds=10)  # a new connection's first request headers, whole
    metrics_allow: Networks = Field(default_factory=lambda: list(LOOPBACK))  # who may read /metrics
    metrics_token: str | None = None  # or anyone with `Authorization: Bearer <token>`
    session_check_interval: Duration = timedelta(seconds=60)  # open console sockets' sessions checked again

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("an absolute http(s) URL, like https://chat.example.com")
        return value

    @field_validator("header_timeout", "session_check_interval")
    @classmethod
    def _positive_interval(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=0.1):
            raise ValueError("must be at least 100ms")
        return value


class StorageSettings(_Strict):
    url: str | None = None  # default: SQLite under var_dir


class QueueSettings(_Strict):
    backend: Literal["memory", "redis"] = "memory"
    url: str | None = None
    partitions: int = Field(16, ge=1, le=1024)  # of the inbound stream: the most router workers that help
    lease_time: Duration = timedelta(seconds=5)  # a dead router worker's partitions move after about this
    cluster: bool = False  # url names a node of a Redis Cluster (the others are discovered)
    # several web processes: an operator's tabs in a web process that stopped renewing them (it died) count this
    # long before the operator goes offline
    presence_ttl: Duration = timedelta(seconds=30)

    @field_validator("presence_ttl")
    @classmethod
    def _ttl_positive(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value

    @model_validator(mode="after")
    def _redis_needs_url(self) -> QueueSettings:
        if self.backend == "redis" and not self.url:
            raise ValueError("backend redis needs url (e.g. redis://127.0.0.1:6379/0)")
        return self


class LimitsSettings(_Strict):
    max_message_length: int = Field(4000, ge=1, le=1_000_000)
    max_attachment_bytes: int = Field(20 * 1024 * 1024, ge=1024, le=2 * 1024**3)


class LogSettings(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class OperatorSettings(_Strict):
    login: str = Field(pattern=_SLUG)
    name: str
    role: Literal["admin", "operator"] = "operator"
    password: str | None = None  # an argon2 hash, or a plain secret from ${ENV}; unset = the demo password
    max_dialogs: int | None = Field(None, ge=1)


class DistributionSettings(_Strict):
    mode: Literal["even", "sequential", "all"] = "even"
    offer_timeout: Duration = timedelta(seconds=60)
    max_dialogs: int = Field(10, ge=1)
    retry_interval: Duration = timedelta(seconds=120)
    sticky: bool = True

    @field_validator("offer_timeout", "retry_interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value


class HoursSettings(_Strict):
    timezone: str = "UTC"
    mon: list[str] = Field(default_factory=list)
    tue: list[str] = Field(default_factory=list)
    wed: list[str] = Field(default_factory=list)
    thu: list[str] = Field(default_factory=list)
    fri: list[str] = Field(default_factory=list)
    sat: list[str] = Field(default_factory=list)
    sun: list[str] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)
    workday_template: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"

    @model_validator(mode="after")
    def _schedule(self) -> HoursSettings:
        self.schedule()  # raises ValueError with the problem
        return self

    def schedule(self) -> Schedule:
        """The pure schedule."""
        weekly = {day: getattr(self, day) for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        return parse_schedule(self.timezone, weekly, self.holidays, self.workdays, self.workday_template)


class AutoRepliesSettings(_Strict):
    welcome: str | None = None
    off_hours: str | None = None
    no_answer: str | None = None
    no_answer_after: Duration = timedelta(minutes=2)
    closing: str | None = None


class QuickAnswerSettings(_Strict):
    """A quick answer the line's operators share (their personal ones live in the store)."""

    title: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1)
    shortcut: str | None = Field(None, pattern=r"^[\w-]{1,30}$")


class LineSettings(_Strict):
    id: str = Field(pattern=_SLUG)
    name: str
    channels: list[dict[str, Any]] = Field(default_factory=list)  # validated by each connector's Settings
    queue: list[str] = Field(default_factory=list)
    distribution: DistributionSettings = DistributionSettings()
    language: Literal["en", "ru"] = "en"
    hours: HoursSettings | None = None  # None: always open
    auto_replies: AutoRepliesSettings = AutoRepliesSettings()
    on_no_answer: Literal["auto_reply", "requeue", "none"] = "none"
    auto_close_after: Duration | None = None
    reopen_within: Duration | None = None
    quick_answers: list[QuickAnswerSettings] = Field(default_factory=list)
    rating: RatingSettings | None = None
    crm: LineCrm = LineCrm()

    def schedule(self) -> Schedule:
        """The line's business hours (always open when none are set)."""
        return self.hours.schedule() if self.hours else always_open()


class Settings(_Strict):
    version: Literal[1]
    secret_key: str | None = None  # empty: generated into var_dir at first start
    var_dir: str = "var"
    http: HttpSettings = HttpSettings()
    storage: StorageSettings = StorageSettings()
    queue: QueueSettings = QueueSettings()
    limits: LimitsSettings = LimitsSettings()
    crm: CrmSettings = CrmSettings()
    log: LogSettings = LogSettings()
    operators: list[OperatorSettings] = Field(min_length=1)
    lines: list[LineSettings] = Field(min_length=1)

    @property
    def database_url(self) -> str:
        """The storage URL, defaulting to a SQLite file under var_dir."""
        return self.storage.url or f"sqlite+aiosqlite:///{Path(self.var_dir) / 'openlines.db'}"

    def operator(self, login: str) -> OperatorSettings | None:
        """The operator with this login."""
        return next((o for o in self.operators if o.login == login), None)

    def line(self, line_id: str) -> LineSettings | None:
        """The line with this id."""
        return next((ln for ln in self.lines if ln.id == line_id), None)

    def lines_of(self, login: str) -> list[str]:
        """Ids of the lines whose queue has the operator."""
        return [ln.id for ln in self.lines if login in ln.queue]

    def capacities(self) -> dict[tuple[str, str], int]:
        """(line, login) -> how many dialogs the operator may hold on the line; ("*", login) off any line."""
        capacity: dict[tuple[str, str], int] = {}
        for o in self.operators:
            capacity[("*", o.login)] = o.max_dialogs or 10
            for ln in self.lines:
                capacity[(ln.id, o.login)] = o.max_dialogs or ln.distribution.max_dialogs
        return capacity


ChannelValidator = Callable[[dict[str, Any]], list[tuple[tuple[str | int, ...], str]]]


def load_settings(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    channel_validators: Mapping[str, ChannelValidator] | None = None,
) -> tuple[Settings | None, list[ConfigProblem]]:
    """Read and validate a config file; returns the settings or every problem found."""
    env = os.environ if env is None else env
    filename = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        return None, [ConfigProblem(filename, 1, (), f"cannot read: {exc.strerror}")]
    except UnicodeDecodeError as exc:
        line = Path(path).read_bytes()[: exc.start].count(b"\n") + 1
        return None, [ConfigProblem(filename, line, (), "the file is not UTF-8 text")]
    loaded = load_yaml(text, filename, env)
    problems = list(loaded.problems)
    if loaded.data is None:  # a syntax error: there is nothing to validate further
        return None, problems
    data = loaded.data
    if not isinstance(data, dict):
        return None, [ConfigProblem(filename, 1, (), "the file must be a mapping")]
    data = _env_overrides(data, env)
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems += [
            ConfigProblem(
                filename,
                loaded.line_of(tuple(e["loc"])),
                tuple(e["loc"]),
                e["msg"].removeprefix("Value error, "),
            )
            for e in exc.errors()
        ]
    # reference and channel checks read the raw data, so they are reported even when fields are wrong
    for where, message in _reference_problems(data) + _channel_problems(data, channel_validators or {}):
        problems.append(ConfigProblem(filename, loaded.line_of(where), where, message))
    return (None if problems else settings), problems


_ENV_SECTIONS: dict[str, type[BaseModel]] = {
    "http": HttpSettings,
    "storage": StorageSettings,
    "queue": QueueSettings,
    "log": LogSettings,
}


def _env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """OPENLINES_<SECTION>_<FIELD> (e.g. OPENLINES_HTTP_PORT, OPENLINES_QUEUE_URL) replaces that setting, and
    OPENLINES_SECRET_KEY the top-level secret_key (every process and machine must sign with the same key)."""
    out = dict(data)
    secret = env.get("OPENLINES_SECRET_KEY")
    if secret:
        out["secret_key"] = secret
    for section, model in _ENV_SECTIONS.items():
        for name in model.model_fields:
            value = env.get(f"OPENLINES_{section.upper()}_{name.upper()}")
            if value is None:
                continue
            block = out.get(section) or {}
            if isinstance(block, dict):
                out[section] = {**block, name: value}
    return out


def _items(data: dict[str, Any], section: str) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(section)
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


def _reference_problems(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    out: list[tuple[tuple[str | int, ...], str]] = []
    for section, key in (("operators", "login"), ("lines", "id")):
        seen: set[Any] = set()
        for i, item in _items(data, section):
            if item.get(key) in seen:
                out.append(((section, i, key), f"duplicate {key} {item.get(key)!r}"))
            seen.add(item.get(key))
    logins = {op.get("login") for _, op in _items(data, "operators")}
    for i, line in _items(data, "lines"):
        queue = line.get("queue")
        for j, login in enumerate(queue if isinstance(queue, list) else []):
            if isinstance(login, str) and login not in logins:
                out.append((("lines", i, "queue", j), f"unknown operator {login!r}"))
        shortcuts: set[str] = set()
        for j, qa in _items(line, "quick_answers"):
            cut = qa.get("shortcut")
            if isinstance(cut, str) and cut.casefold() in shortcuts:
                out.append((("lines", i, "quick_answers", j, "shortcut"), f"duplicate shortcut {cut!r}"))
            if isinstance(cut, str):
                shortcuts.add(cut.casefold())
    out += line_pipeline_problems(data)
    return out


def _channel_problems(
    data: dict[str, Any], validators: Mapping[str, ChannelValidator]
) -> list[tuple[tuple[str | int, ...], str]]:
    out: list[tuple[tuple[str | int, ...], str]] = []
    accounts: set[tuple[str, str]] = set()
    for i, line in _items(data, "lines"):
        for j, block in _items(line, "channels"):
            base: tuple[str | int, ...] = ("lines", i, "channels", j)
            kind = block.get("type")
            if not isinstance(kind, str):
                out.append((base, "a channel needs a 'type'"))
                continue
            validate = validators.get(kind)
            if validate is None:
                known = ", ".join(sorted(validators)) or "none"
                out.append(((*base, "type"), f"unknown channel type {kind!r} (known: {known})"))
                continue
            out += [(base + sub, message) for sub, message in validate(block)]
            account = (kind, str(block.get("account") or line.get("id")))
            if account in accounts:
                out.append((base, f"{kind} account {account[1]!r} is bound to two lines"))
            accounts.add(account)
    return out
