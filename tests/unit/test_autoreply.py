"""Auto-replies: which ones a dialog earns now (`welcome`, `off_hours`, `no_answer`, `closing`) and their text.

Rules (issue, "Auto-replies"): `welcome` greets the first message of a new dialog; `off_hours` tells when a
closed line opens, once per off-hours period per dialog; `no_answer` fires when no operator replied within
`no_answer_after` of the customer's message, or when nobody took the dialog; `closing` when an operator closes
it. Auto-replies never answer an automatic message and never fire twice for one trigger (the ReplyState carries
what was sent). Templates may mention {client_name}, {line_name}, {operator_name} and {next_open}, the latter
formatted in the line's timezone and language.

Fixed instants only. May 2026: Fri 8, Sat 9, Sun 10, Mon 11 … Sun 17. Berlin springs forward on Sun 29 March 2026
(02:00→03:00) and falls back on Sun 25 October 2026 (03:00→02:00).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from router.rules.autoreply import (
    Context,
    Kind,
    Language,
    ReplyState,
    Templates,
    answer_overdue,
    customer_wrote,
    format_when,
    nobody_took_it,
    operator_answered,
    operator_closed,
    text_of,
)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def at(tz: str, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A wall-clock time in `tz`."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz))


NOW = utc(2026, 5, 11, 20, 0)  # Monday evening
WAIT = timedelta(minutes=5)
TUE_9 = utc(2026, 5, 12, 9, 0)  # when the closed line opens next
WED_9 = utc(2026, 5, 13, 9, 0)  # the opening after a later closed period
EARLIER_DUE = utc(2026, 5, 11, 19, 58)

ALL = Templates(welcome="W", off_hours="O", no_answer="N", closing="C", no_answer_after=WAIT)
NONE = Templates()
FRESH = ReplyState()


def wrote(
    st: ReplyState = FRESH,
    t: Templates = ALL,
    *,
    new_dialog: bool = False,
    automatic: bool = False,
    line_open: bool = True,
    next_open: datetime | None = None,
    now: datetime = NOW,
) -> tuple[ReplyState, tuple[Kind, ...]]:
    return customer_wrote(
        st, t, new_dialog=new_dialog, automatic=automatic, line_open=line_open, next_open=next_open, now=now
    )


# ---- customer_wrote: which replies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("templates", "st", "new_dialog", "line_open", "next_open", "expected"),
    [
        pytest.param(ALL, FRESH, True, True, None, ("welcome",), id="new-dialog-open-line-welcomed"),
        pytest.param(ALL, FRESH, False, True, None, (), id="existing-dialog-not-welcomed"),
        pytest.param(
            replace(ALL, welcome=None), FRESH, True, True, None, (), id="new-dialog-no-welcome-template"
        ),
        pytest.param(NONE, FRESH, True, False, TUE_9, (), id="no-templates-at-all"),
        pytest.param(ALL, FRESH, False, False, TUE_9, ("off_hours",), id="closed-line-first-message"),
        pytest.param(
            ALL,
            FRESH,
            True,
            False,
            TUE_9,
            ("welcome", "off_hours"),
            id="new-dialog-closed-line-welcome-first",
        ),
        pytest.param(
            replace(ALL, welcome=None), FRESH, True, False, TUE_9, ("off_hours",), id="new-closed-no-welcome"
        ),
        pytest.param(
            replace(ALL, off_hours=None),
            FRESH,
            True,
            False,
            TUE_9,
            ("welcome",),
            id="new-closed-no-off-hours",
        ),
        pytest.param(
            replace(ALL, off_hours=None), FRESH, False, False, TUE_9, (), id="closed-no-off-hours-template"
        ),
        pytest.param(ALL, FRESH, False, False, None, ("off_hours",), id="closed-and-never-opens"),
        pytest.param(
            ALL,
            ReplyState(off_hours_key=TUE_9.isoformat()),
            False,
            True,
            TUE_9,
            (),
            id="open-line-no-off-hours-whatever-the-state",
        ),
        pytest.param(ALL, FRESH, False, True, NOW, (), id="open-line-no-off-hours"),
    ],
)
def test_customer_wrote_kinds(
    templates: Templates,
    st: ReplyState,
    new_dialog: bool,
    line_open: bool,
    next_open: datetime | None,
    expected: tuple[Kind, ...],
) -> None:
    _, kinds = wrote(st, templates, new_dialog=new_dialog, line_open=line_open, next_open=next_open)
    assert kinds == expected


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(
            [(False, TUE_9), (False, TUE_9)],
            [("off_hours",), ()],
            id="same-closed-period-told-once",
        ),
        pytest.param(
            [(False, TUE_9), (False, TUE_9), (False, TUE_9)],
            [("off_hours",), (), ()],
            id="three-messages-one-period",
        ),
        pytest.param(
            [(False, TUE_9), (True, None), (False, WED_9)],
            [("off_hours",), (), ("off_hours",)],
            id="later-closed-period-told-again",
        ),
        pytest.param(
            [(False, TUE_9), (False, WED_9)],
            [("off_hours",), ("off_hours",)],
            id="different-next-open-told-again",
        ),
        pytest.param(
            [(False, TUE_9), (True, None), (True, None), (False, TUE_9)],
            [("off_hours",), (), (), ()],
            id="open-messages-between-do-not-reset-the-period",
        ),
        pytest.param(
            [(False, None), (False, None)],
            [("off_hours",), ()],
            id="never-opens-told-once",
        ),
        pytest.param(
            [(True, None), (False, TUE_9)],
            [(), ("off_hours",)],
            id="open-then-closed",
        ),
    ],
)
def test_off_hours_once_per_closed_period(
    steps: list[tuple[bool, datetime | None]], expected: list[tuple[Kind, ...]]
) -> None:
    st, got = FRESH, []
    for line_open, next_open in steps:
        st, kinds = wrote(st, replace(ALL, no_answer=None), line_open=line_open, next_open=next_open)
        got.append(kinds)
    assert got == expected


def test_off_hours_state_is_kept_when_the_template_is_off() -> None:
    st, kinds = wrote(FRESH, replace(ALL, off_hours=None), line_open=False, next_open=TUE_9)
    assert (st, kinds) == (FRESH, ())
    # turned on later in the same period, it still tells once
    st, kinds = wrote(st, ALL, line_open=False, next_open=TUE_9)
    assert kinds == ("off_hours",)
    assert wrote(st, ALL, line_open=False, next_open=TUE_9)[1] == ()


# ---- customer_wrote: the no-answer clock --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("templates", "st", "line_open", "expected_due"),
    [
        pytest.param(ALL, FRESH, True, NOW + WAIT, id="open-starts-the-clock"),
        pytest.param(
            replace(ALL, no_answer_after=timedelta(seconds=30)),
            FRESH,
            True,
            NOW + timedelta(seconds=30),
            id="uses-no-answer-after",
        ),
        pytest.param(ALL, FRESH, False, None, id="closed-line-no-clock"),
        pytest.param(replace(ALL, no_answer=None), FRESH, True, None, id="no-template-no-clock"),
        pytest.param(
            ALL, ReplyState(answer_due=EARLIER_DUE), True, EARLIER_DUE, id="running-clock-not-restarted"
        ),
        pytest.param(
            ALL,
            ReplyState(answer_due=EARLIER_DUE),
            False,
            EARLIER_DUE,
            id="closed-line-keeps-running-clock",
        ),
        pytest.param(ALL, ReplyState(no_answer_sent=True), True, None, id="already-sent-no-clock"),
    ],
)
def test_customer_wrote_answer_clock(
    templates: Templates, st: ReplyState, line_open: bool, expected_due: datetime | None
) -> None:
    after, _ = wrote(st, templates, line_open=line_open, next_open=None if line_open else TUE_9)
    assert after.answer_due == expected_due
    assert after.no_answer_sent == st.no_answer_sent


@pytest.mark.parametrize(
    ("st", "new_dialog", "line_open", "next_open"),
    [
        pytest.param(FRESH, True, True, None, id="new-dialog-open"),
        pytest.param(FRESH, True, False, TUE_9, id="new-dialog-closed"),
        pytest.param(FRESH, False, False, None, id="closed-never-opens"),
        pytest.param(FRESH, False, True, None, id="open-would-start-clock"),
        pytest.param(
            ReplyState(off_hours_key="2026-05-10T09:00:00+00:00"), False, False, TUE_9, id="new-period"
        ),
        pytest.param(
            ReplyState(answer_due=EARLIER_DUE, no_answer_sent=False), False, True, None, id="clock-runs"
        ),
    ],
)
def test_automatic_message_gets_no_reply_and_changes_nothing(
    st: ReplyState, new_dialog: bool, line_open: bool, next_open: datetime | None
) -> None:
    after, kinds = wrote(
        st, ALL, new_dialog=new_dialog, automatic=True, line_open=line_open, next_open=next_open
    )
    assert kinds == ()
    assert after == st


def test_customer_wrote_keeps_unrelated_state() -> None:
    st = ReplyState(off_hours_key=TUE_9.isoformat(), answer_due=None, no_answer_sent=False)
    after, kinds = wrote(st, ALL, line_open=True)
    assert kinds == ()
    assert after == ReplyState(off_hours_key=TUE_9.isoformat(), answer_due=NOW + WAIT, no_answer_sent=False)


# ---- operator_answered ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "st",
    [
        pytest.param(FRESH, id="fresh"),
        pytest.param(ReplyState(answer_due=NOW + WAIT), id="clock-running"),
        pytest.param(ReplyState(no_answer_sent=True), id="no-answer-sent"),
        pytest.param(ReplyState(off_hours_key="k", answer_due=NOW, no_answer_sent=True), id="everything-set"),
    ],
)
def test_operator_answered_ends_the_waiting_period(st: ReplyState) -> None:
    after = operator_answered(st)
    assert after.answer_due is None
    assert after.no_answer_sent is False
    assert after.off_hours_key == st.off_hours_key


def test_after_an_operator_answer_the_next_message_waits_again() -> None:
    st, _ = wrote(FRESH, ALL)
    st, kinds = answer_overdue(st, ALL, NOW + WAIT, line_open=True)
    assert kinds == ("no_answer",)
    later = NOW + timedelta(minutes=10)
    st, _ = wrote(st, ALL, now=later)
    assert st.answer_due is None  # still unanswered: no second no_answer clock
    st = operator_answered(st)
    st, _ = wrote(st, ALL, now=later)
    assert st.answer_due == later + WAIT
    assert answer_overdue(st, ALL, later + WAIT, line_open=True)[1] == ("no_answer",)


# ---- answer_overdue ----------------------------------------------------------------------------------------

DUE = NOW + WAIT


@pytest.mark.parametrize(
    ("st", "templates", "due", "line_open", "expected_state", "expected"),
    [
        pytest.param(
            ReplyState(answer_due=DUE),
            ALL,
            DUE,
            True,
            ReplyState(answer_due=None, no_answer_sent=True),
            ("no_answer",),
            id="due-fires",
        ),
        pytest.param(
            ReplyState(off_hours_key="k", answer_due=DUE),
            ALL,
            DUE,
            True,
            ReplyState(off_hours_key="k", answer_due=None, no_answer_sent=True),
            ("no_answer",),
            id="due-fires-keeps-off-hours-key",
        ),
        pytest.param(
            ReplyState(answer_due=DUE),
            ALL,
            DUE.astimezone(ZoneInfo("Europe/Moscow")),
            True,
            ReplyState(answer_due=None, no_answer_sent=True),
            ("no_answer",),
            id="same-instant-other-zone-fires",
        ),
        pytest.param(
            ReplyState(answer_due=DUE + WAIT),
            ALL,
            DUE,
            True,
            ReplyState(answer_due=DUE + WAIT),
            (),
            id="stale-rescheduled",
        ),
        pytest.param(ReplyState(), ALL, DUE, True, ReplyState(), (), id="stale-answered-meanwhile"),
        pytest.param(
            ReplyState(answer_due=DUE, no_answer_sent=True),
            ALL,
            DUE + WAIT,
            True,
            ReplyState(answer_due=DUE, no_answer_sent=True),
            (),
            id="stale-keeps-everything",
        ),
        pytest.param(
            ReplyState(answer_due=DUE),
            ALL,
            DUE,
            False,
            ReplyState(answer_due=None, no_answer_sent=False),
            (),
            id="closed-line-clears-clock",
        ),
        pytest.param(
            ReplyState(answer_due=DUE, no_answer_sent=True),
            ALL,
            DUE,
            True,
            ReplyState(answer_due=None, no_answer_sent=True),
            (),
            id="already-sent",
        ),
        pytest.param(
            ReplyState(answer_due=DUE),
            replace(ALL, no_answer=None),
            DUE,
            True,
            ReplyState(answer_due=None, no_answer_sent=False),
            (),
            id="template-removed-meanwhile",
        ),
    ],
)
def test_answer_overdue(
    st: ReplyState,
    templates: Templates,
    due: datetime,
    line_open: bool,
    expected_state: ReplyState,
    expected: tuple[Kind, ...],
) -> None:
    assert answer_overdue(st, templates, due, line_open=line_open) == (expected_state, expected)


@pytest.mark.parametrize("line_open", [True, False], ids=["open", "closed"])
def test_answer_overdue_fires_at_most_once(line_open: bool) -> None:
    st = ReplyState(answer_due=DUE)
    st, first = answer_overdue(st, ALL, DUE, line_open=line_open)
    st, second = answer_overdue(st, ALL, DUE, line_open=True)  # the same timer delivered again
    assert first == (("no_answer",) if line_open else ())
    assert second == ()


# ---- nobody_took_it ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("st", "templates", "expected_state", "expected"),
    [
        pytest.param(FRESH, ALL, ReplyState(no_answer_sent=True), ("no_answer",), id="fires"),
        pytest.param(
            ReplyState(off_hours_key="k", answer_due=DUE),
            ALL,
            ReplyState(off_hours_key="k", answer_due=None, no_answer_sent=True),
            ("no_answer",),
            id="fires-and-stops-the-clock",
        ),
        pytest.param(
            ReplyState(no_answer_sent=True),
            ALL,
            ReplyState(no_answer_sent=True),
            (),
            id="already-sent",
        ),
        pytest.param(ReplyState(answer_due=DUE), NONE, ReplyState(answer_due=DUE), (), id="no-template"),
    ],
)
def test_nobody_took_it(
    st: ReplyState, templates: Templates, expected_state: ReplyState, expected: tuple[Kind, ...]
) -> None:
    assert nobody_took_it(st, templates) == (expected_state, expected)


@pytest.mark.parametrize(
    "st",
    [pytest.param(FRESH, id="fresh"), pytest.param(ReplyState(answer_due=DUE), id="clock-running")],
)
def test_nobody_took_it_says_so_once(st: ReplyState) -> None:
    st, first = nobody_took_it(st, ALL)
    st, second = nobody_took_it(st, ALL)
    _, overdue = answer_overdue(st, ALL, DUE, line_open=True)  # the old clock must not repeat it
    assert (first, second, overdue) == (("no_answer",), (), ())


# ---- operator_closed ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("templates", "by_operator", "expected"),
    [
        pytest.param(ALL, True, ("closing",), id="operator-closes"),
        pytest.param(ALL, False, (), id="auto-close"),
        pytest.param(replace(ALL, closing=None), True, (), id="no-template"),
        pytest.param(replace(ALL, closing=None), False, (), id="auto-close-no-template"),
    ],
)
def test_operator_closed(templates: Templates, by_operator: bool, expected: tuple[Kind, ...]) -> None:
    assert operator_closed(templates, by_operator=by_operator) == expected


# ---- text_of -----------------------------------------------------------------------------------------------


def ctx(**changes: object) -> Context:
    base = Context(
        client_name="Ann",
        line_name="Support",
        operator_name="Bob",
        next_open=TUE_9,
        timezone="UTC",
        language="en",
        now=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


EVERY = "{client_name}|{line_name}|{operator_name}|{next_open}"


@pytest.mark.parametrize(
    ("kind", "templates", "context", "expected"),
    [
        pytest.param(
            "welcome",
            Templates(welcome="Hi {client_name}, this is {line_name}."),
            ctx(),
            "Hi Ann, this is Support.",
            id="welcome",
        ),
        pytest.param(
            "off_hours",
            Templates(off_hours="{line_name} opens {next_open}."),
            ctx(),
            "Support opens tomorrow at 09:00.",
            id="off-hours-en",
        ),
        pytest.param(
            "off_hours",
            Templates(off_hours="Откроемся {next_open}."),
            ctx(language="ru", timezone="Europe/Moscow"),
            "Откроемся завтра в 12:00.",
            id="off-hours-ru-line-timezone",
        ),
        pytest.param(
            "no_answer",
            Templates(no_answer="{client_name}, all operators are busy."),
            ctx(),
            "Ann, all operators are busy.",
            id="no-answer",
        ),
        pytest.param(
            "closing",
            Templates(closing="{operator_name} closed the dialog."),
            ctx(),
            "Bob closed the dialog.",
            id="closing",
        ),
        pytest.param(
            "welcome", Templates(welcome=EVERY), ctx(), "Ann|Support|Bob|tomorrow at 09:00", id="every"
        ),
        pytest.param(
            "closing",
            Templates(closing=EVERY),
            ctx(next_open=None, language="ru"),
            "Ann|Support|Bob|позже",
            id="every-no-next-open-ru",
        ),
        pytest.param(
            "welcome",
            Templates(welcome="{client_name} {client_name}"),
            ctx(),
            "Ann Ann",
            id="repeated-placeholder",
        ),
        pytest.param(
            "closing",
            Templates(closing="Closed by {operator_name}."),
            ctx(operator_name=""),
            "Closed by .",
            id="no-operator-empty",
        ),
        pytest.param(
            "welcome",
            Templates(welcome="Hello!", no_answer="{client_name}"),
            ctx(),
            "Hello!",
            id="kind-picks-its-own-template",
        ),
        pytest.param(
            "no_answer",
            Templates(welcome="Hello!", no_answer="Wait, {client_name}"),
            ctx(),
            "Wait, Ann",
            id="kind-picks-no-answer-template",
        ),
    ],
)
def test_text_of(kind: Kind, templates: Templates, context: Context, expected: str) -> None:
    assert text_of(kind, templates, context) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("Hi {client_name} {foo}", "Hi Ann {foo}", id="unknown-name"),
        pytest.param("{next_opening}", "{next_opening}", id="typo-of-a-known-name"),
        pytest.param("{Client_Name}", "{Client_Name}", id="wrong-case"),
        pytest.param("Hi {client_name}, ref {0}", "Hi Ann, ref {0}", id="numbered"),
        pytest.param("Hi {client_name} {}", "Hi Ann {}", id="empty"),
        pytest.param("Hi {client_name} {foo.bar}", "Hi Ann {foo.bar}", id="dotted"),
    ],
)
def test_unknown_placeholder_stays_as_written(template: str, expected: str) -> None:
    assert text_of("welcome", Templates(welcome=template), ctx()) == expected


@pytest.mark.parametrize(
    ("field", "value", "template", "expected"),
    [
        pytest.param(
            "client_name", "{line_name}", "Hi {client_name}", "Hi {line_name}", id="client-is-a-placeholder"
        ),
        pytest.param("client_name", "{0}", "Hi {client_name}", "Hi {0}", id="client-is-positional"),
        pytest.param("client_name", "{{x}}", "Hi {client_name}", "Hi {{x}}", id="client-has-double-braces"),
        pytest.param("client_name", "{", "Hi {client_name}!", "Hi {!", id="client-has-a-lone-brace"),
        pytest.param(
            "operator_name",
            "{next_open}",
            "By {operator_name}",
            "By {next_open}",
            id="operator-is-a-placeholder",
        ),
        pytest.param(
            "line_name", "{client_name}", "{line_name}: {client_name}", "{client_name}: Ann", id="line"
        ),
    ],
)
def test_braces_in_names_are_not_interpreted(field: str, value: str, template: str, expected: str) -> None:
    assert text_of("welcome", Templates(welcome=template), ctx(**{field: value})) == expected


@pytest.mark.parametrize("kind", ["welcome", "off_hours", "no_answer", "closing"])
def test_text_of_a_missing_template_is_empty(kind: Kind) -> None:
    assert text_of(kind, NONE, ctx()) == ""


# ---- format_when -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "timezone", "language", "now", "expected"),
    [
        pytest.param(utc(2026, 5, 11, 21, 0), "UTC", "en", NOW, "today at 21:00", id="en-today"),
        pytest.param(utc(2026, 5, 11, 21, 0), "UTC", "ru", NOW, "сегодня в 21:00", id="ru-today"),
        pytest.param(NOW, "UTC", "en", NOW, "today at 20:00", id="en-now-itself"),
        pytest.param(TUE_9, "UTC", "en", NOW, "tomorrow at 09:00", id="en-tomorrow"),
        pytest.param(TUE_9, "UTC", "ru", NOW, "завтра в 09:00", id="ru-tomorrow"),
        pytest.param(
            utc(2026, 5, 12, 0, 0), "UTC", "en", NOW, "tomorrow at 00:00", id="en-tomorrow-midnight"
        ),
        pytest.param(WED_9, "UTC", "en", NOW, "Wednesday, 13 May at 09:00", id="en-later-weekday"),
        pytest.param(WED_9, "UTC", "ru", NOW, "в среду, 13 мая, в 09:00", id="ru-later-weekday"),
        pytest.param(
            utc(2026, 5, 25, 8, 30), "UTC", "en", NOW, "Monday, 25 May at 08:30", id="en-two-weeks-later"
        ),
        pytest.param(
            utc(2027, 1, 1, 9, 0),
            "UTC",
            "en",
            utc(2026, 12, 31, 12, 0),
            "tomorrow at 09:00",
            id="en-new-year",
        ),
        pytest.param(
            utc(2027, 1, 4, 9, 0),
            "UTC",
            "en",
            utc(2026, 12, 31, 12, 0),
            "Monday, 4 Jan at 09:00",
            id="en-across-years",
        ),
        pytest.param(
            utc(2027, 1, 4, 9, 0),
            "UTC",
            "ru",
            utc(2026, 12, 31, 12, 0),
            "в понедельник, 4 января, в 09:00",
            id="ru-across-years",
        ),
        pytest.param(None, "UTC", "en", NOW, "later", id="en-none"),
        pytest.param(None, "Europe/Moscow", "ru", NOW, "позже", id="ru-none"),
    ],
)
def test_format_when(
    when: datetime | None, timezone: str, language: Language, now: datetime, expected: str
) -> None:
    assert format_when(when, timezone, language, now) == expected


# the same instants read in different zones: 22:30 UTC on Monday is Tuesday 01:30 in Moscow
@pytest.mark.parametrize(
    ("when", "now", "timezone", "expected"),
    [
        pytest.param(utc(2026, 5, 11, 22, 30), NOW, "UTC", "today at 22:30", id="utc-today"),
        pytest.param(
            utc(2026, 5, 11, 22, 30), NOW, "Europe/Moscow", "tomorrow at 01:30", id="moscow-tomorrow"
        ),
        pytest.param(
            utc(2026, 5, 11, 22, 30), NOW, "America/New_York", "today at 18:30", id="new-york-today"
        ),
        pytest.param(
            utc(2026, 5, 12, 8, 0), utc(2026, 5, 11, 23, 30), "UTC", "tomorrow at 08:00", id="utc-tomorrow"
        ),
        pytest.param(
            utc(2026, 5, 12, 8, 0), utc(2026, 5, 11, 23, 30), "Asia/Tokyo", "today at 17:00", id="tokyo-today"
        ),
        pytest.param(
            utc(2026, 5, 13, 3, 0),
            utc(2026, 5, 11, 20, 0),
            "America/Los_Angeles",
            "tomorrow at 20:00",
            id="los-angeles-tomorrow-not-wednesday",
        ),
        pytest.param(
            at("Europe/Moscow", 2026, 5, 12, 9, 0),
            at("Asia/Tokyo", 2026, 5, 12, 4, 0),
            "UTC",
            "tomorrow at 06:00",
            id="arguments-in-other-zones-are-converted",
        ),
    ],
)
def test_format_when_uses_the_line_timezone(
    when: datetime, now: datetime, timezone: str, expected: str
) -> None:
    assert format_when(when, timezone, "en", now) == expected


@pytest.mark.parametrize(
    ("when", "now", "expected"),
    [
        # Sun 29 March 2026: 02:00 CET → 03:00 CEST; 07:00 UTC is 09:00 local that day
        pytest.param(
            utc(2026, 3, 29, 7, 0), utc(2026, 3, 28, 23, 30), "today at 09:00", id="spring-day-after-midnight"
        ),
        pytest.param(utc(2026, 3, 29, 7, 0), utc(2026, 3, 28, 17, 0), "tomorrow at 09:00", id="spring-eve"),
        pytest.param(
            utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 0, 30), "today at 03:00", id="right-after-the-gap"
        ),
        pytest.param(
            utc(2026, 3, 29, 0, 59), utc(2026, 3, 29, 0, 30), "today at 01:59", id="right-before-the-gap"
        ),
        pytest.param(
            utc(2026, 3, 30, 7, 0), utc(2026, 3, 28, 17, 0), "Monday, 30 Mar at 09:00", id="spring-two-days"
        ),
        # Sun 25 October 2026: 03:00 CEST → 02:00 CET; 08:00 UTC is 09:00 local that day
        pytest.param(utc(2026, 10, 25, 8, 0), utc(2026, 10, 24, 20, 0), "tomorrow at 09:00", id="autumn-eve"),
        pytest.param(
            utc(2026, 10, 25, 0, 30), utc(2026, 10, 24, 23, 0), "today at 02:30", id="fold-first-0230"
        ),
        pytest.param(
            utc(2026, 10, 25, 1, 30), utc(2026, 10, 24, 23, 0), "today at 02:30", id="fold-second-0230"
        ),
        pytest.param(
            utc(2026, 10, 25, 22, 30), utc(2026, 10, 24, 22, 30), "today at 23:30", id="25-hour-day"
        ),
    ],
)
def test_format_when_on_berlin_dst_days(when: datetime, now: datetime, expected: str) -> None:
    assert format_when(when, "Europe/Berlin", "en", now) == expected


FRI_NOON = utc(2026, 5, 8, 12, 0)


@pytest.mark.parametrize(
    ("day", "ru", "en"),
    [
        pytest.param(10, "в воскресенье, 10 мая, в 09:00", "Sunday, 10 May at 09:00", id="sunday"),
        pytest.param(11, "в понедельник, 11 мая, в 09:00", "Monday, 11 May at 09:00", id="monday"),
        pytest.param(12, "во вторник, 12 мая, в 09:00", "Tuesday, 12 May at 09:00", id="tuesday-vo"),
        pytest.param(13, "в среду, 13 мая, в 09:00", "Wednesday, 13 May at 09:00", id="wednesday"),
        pytest.param(14, "в четверг, 14 мая, в 09:00", "Thursday, 14 May at 09:00", id="thursday"),
        pytest.param(15, "в пятницу, 15 мая, в 09:00", "Friday, 15 May at 09:00", id="friday"),
        pytest.param(16, "в субботу, 16 мая, в 09:00", "Saturday, 16 May at 09:00", id="saturday"),
    ],
)
def test_format_when_weekday_forms(day: int, ru: str, en: str) -> None:
    when = utc(2026, 5, day, 9, 0)
    assert (format_when(when, "UTC", "ru", FRI_NOON), format_when(when, "UTC", "en", FRI_NOON)) == (ru, en)


@pytest.mark.parametrize(
    ("month", "ru", "en"),
    [
        pytest.param(1, "января", "Jan", id="jan"),
        pytest.param(2, "февраля", "Feb", id="feb"),
        pytest.param(3, "марта", "Mar", id="mar"),
        pytest.param(4, "апреля", "Apr", id="apr"),
        pytest.param(5, "мая", "May", id="may"),
        pytest.param(6, "июня", "Jun", id="jun"),
        pytest.param(7, "июля", "Jul", id="jul"),
        pytest.param(8, "августа", "Aug", id="aug"),
        pytest.param(9, "сентября", "Sep", id="sep"),
        pytest.param(10, "октября", "Oct", id="oct"),
        pytest.param(11, "ноября", "Nov", id="nov"),
        pytest.param(12, "декабря", "Dec", id="dec"),
    ],
)
def test_format_when_month_names(month: int, ru: str, en: str) -> None:
    when = utc(2026, month, 20, 9, 0)
    now = when - timedelta(days=3)
    assert f" 20 {ru}, в 09:00" in format_when(when, "UTC", "ru", now)
    assert format_when(when, "UTC", "en", now).endswith(f", 20 {en} at 09:00")
