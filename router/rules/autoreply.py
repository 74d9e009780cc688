"""PURE: which auto-replies a dialog gets now, and their text. The dialog's auto-reply state is stored with it,
so a restart never fires one twice for the same trigger; replies never answer automatic messages (no loops)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Kind = Literal["welcome", "off_hours", "no_answer", "closing"]
Language = Literal["en", "ru"]


@dataclass(frozen=True, slots=True)
class Templates:
    """A line's auto-reply texts (None: that reply is off)."""

    welcome: str | None = None
    off_hours: str | None = None
    no_answer: str | None = None
    closing: str | None = None
    no_answer_after: timedelta = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class ReplyState:
    """What a dialog remembers about its auto-replies."""

    off_hours_key: str | None = None  # the off-hours period already told about (its opening instant)
    answer_due: datetime | None = None  # when `no_answer` fires if no operator has answered
    no_answer_sent: bool = False  # in this waiting period


@dataclass(frozen=True, slots=True)
class Context:
    """What the templates may mention."""

    client_name: str
    line_name: str
    operator_name: str
    next_open: datetime | None
    timezone: str
    language: Language
    now: datetime


def customer_wrote(
    st: ReplyState,
    t: Templates,
    *,
    new_dialog: bool,
    automatic: bool,
    line_open: bool,
    next_open: datetime | None,
    now: datetime,
) -> tuple[ReplyState, tuple[Kind, ...]]:
    """A customer message arrived: welcome a new dialog, say when a closed line opens (once per closed period),
    and start the no-answer clock."""
    if automatic:  # an auto-responder's message: answering it could loop forever
        return st, ()
    kinds: list[Kind] = []
    if new_dialog and t.welcome:
        kinds.append("welcome")
    if not line_open:
        key = next_open.isoformat() if next_open else "never"
        if t.off_hours and st.off_hours_key != key:
            kinds.append("off_hours")
            st = replace(st, off_hours_key=key)
    elif t.no_answer and st.answer_due is None and not st.no_answer_sent:
        st = replace(st, answer_due=now + t.no_answer_after)
    return st, tuple(kinds)


def operator_answered(st: ReplyState) -> ReplyState:
    """A public operator answer ends the waiting period."""
    return replace(st, answer_due=None, no_answer_sent=False)


def answer_overdue(
    st: ReplyState, t: Templates, due: datetime, *, line_open: bool
) -> tuple[ReplyState, tuple[Kind, ...]]:
    """The no-answer clock ran out: send `no_answer` once (not while the line is closed: off_hours said it)."""
    if st.answer_due != due:
        return st, ()  # stale: answered (or rescheduled) meanwhile
    st = replace(st, answer_due=None)
    if not line_open or st.no_answer_sent or not t.no_answer:
        return st, ()
    return replace(st, no_answer_sent=True), ("no_answer",)


def nobody_took_it(st: ReplyState, t: Templates) -> tuple[ReplyState, tuple[Kind, ...]]:
    """Every operator was offered the dialog and none took it (`on_no_answer: auto_reply`): say so once."""
    if st.no_answer_sent or not t.no_answer:
        return st, ()
    return replace(st, no_answer_sent=True, answer_due=None), ("no_answer",)


def operator_closed(t: Templates, *, by_operator: bool) -> tuple[Kind, ...]:
    """`closing` when an operator closes the dialog (not on auto-close)."""
    return ("closing",) if by_operator and t.closing else ()


def text_of(kind: Kind, t: Templates, ctx: Context) -> str:
    """The rendered text of an auto-reply."""
    template = getattr(t, kind) or ""
    values = {
        "client_name": ctx.client_name,
        "line_name": ctx.line_name,
        "operator_name": ctx.operator_name,
        "next_open": format_when(ctx.next_open, ctx.timezone, ctx.language, ctx.now),
    }
    # only the four names are replaced: any other brace an admin writes stays as written and can never fail
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


_PLACEHOLDER = re.compile(r"\{(client_name|line_name|operator_name|next_open)\}")


_EN_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_RU_DAYS = ("понедельник", "вторник", "среду", "четверг", "пятницу", "субботу", "воскресенье")
_RU_MONTHS = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)


def format_when(when: datetime | None, timezone: str, language: Language, now: datetime) -> str:
    """A moment as a customer reads it, in the line's timezone and language: "tomorrow at 09:00"."""
    if when is None:
        return "later" if language == "en" else "позже"
    tz = ZoneInfo(timezone)
    local, today = when.astimezone(tz), now.astimezone(tz).date()
    hm = local.strftime("%H:%M")
    days = (local.date() - today).days
    if language == "ru":
        if days == 0:
            return f"сегодня в {hm}"
        if days == 1:
            return f"завтра в {hm}"
        prep = "во" if local.weekday() == 1 else "в"
        return f"{prep} {_RU_DAYS[local.weekday()]}, {local.day} {_RU_MONTHS[local.month - 1]}, в {hm}"
    if days == 0:
        return f"today at {hm}"
    if days == 1:
        return f"tomorrow at {hm}"
    return f"{_EN_DAYS[local.weekday()]}, {local.day} {_EN_MONTHS[local.month - 1]} at {hm}"
