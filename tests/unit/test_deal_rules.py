"""The pure rules of deals: what a stage requires (skipping stages skips none of their fields), what a move sets,
amounts, custom field values, reminders, and the config's checks of pipelines and fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from router.app.crm_settings import CrmSettings, line_pipeline_problems
from router.app.deal_settings import CustomField, Pipeline
from router.rules.crm_fields import BadField, clean_fields, clean_value
from router.rules.deals import MoveRefused, missing_for, move, needs_reminder, parse_amount, required_for

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PIPE = Pipeline(
    id="sales",
    stages=[
        {"id": "new"},
        {"id": "contract", "required": ["contact", "site"]},
        {"id": "invoice", "required": ["amount"]},
        {"id": "won", "kind": "won", "required": ["paid_on"]},
        {"id": "lost", "kind": "lost", "required": ["reason"]},
    ],
)


@pytest.mark.parametrize(
    ("stage", "required"),
    [
        ("new", []),
        ("contract", ["contact", "site"]),
        ("invoice", ["contact", "site", "amount"]),
        ("won", ["contact", "site", "amount", "paid_on"]),
        ("lost", ["reason"]),
        ("nowhere", []),
    ],
)
def test_a_stage_requires_its_fields_and_every_earlier_working_stages(stage, required):
    assert required_for(PIPE.stages, stage) == required


def test_a_move_is_refused_with_what_is_missing_in_order_and_a_zero_amount_counts_as_given():
    deal = {"contact_id": None, "amount": 0, "fields": {"site": "https://x.example"}, "closed_at": None}
    assert missing_for(PIPE.stages, deal, "invoice") == ["contact"]
    with pytest.raises(MoveRefused) as refused:
        move(PIPE.stages, deal, "invoice", NOW)
    assert (refused.value.code, refused.value.missing) == ("required_fields", ["contact"])
    with pytest.raises(MoveRefused) as unknown:
        move(PIPE.stages, deal, "nowhere", NOW)
    assert unknown.value.code == "unknown_stage" and unknown.value.missing == []


def test_a_move_to_a_closed_stage_closes_once_and_back_to_work_opens_again():
    deal = {
        "contact_id": "c",
        "amount": 100,
        "fields": {"site": "s", "paid_on": "2026-12-01", "reason": "price"},
    }
    won = move(PIPE.stages, {**deal, "closed_at": None}, "won", NOW)
    assert (won.stage, won.closed_at, won.won) == ("won", NOW, True)
    earlier = NOW - timedelta(days=3)
    lost = move(PIPE.stages, {**deal, "closed_at": earlier}, "lost", NOW)
    assert (lost.closed_at, lost.won) == (
        earlier,
        False,
    )  # moved between closed stages: closed when it closed
    back = move(PIPE.stages, {**deal, "closed_at": earlier}, "invoice", NOW)
    assert (back.closed_at, back.won) == (None, None)


@pytest.mark.parametrize(
    ("raw", "minor"),
    [(1500, 150000), ("1 500,5", 150050), (99.99, 9999), ("0", 0), ("12.30", 1230), (None, None), ("", None)],
)
def test_amounts_are_kept_exactly_in_minor_units(raw, minor):
    assert parse_amount(raw) == minor


@pytest.mark.parametrize("raw", ["-5", "1.234", "abc", True, 1.005, "1" * 14, [1]])
def test_an_amount_that_is_not_one_is_refused(raw):
    with pytest.raises(ValueError, match="amount"):
        parse_amount(raw)


FIELDS = [
    CustomField(id="site", type="link"),
    CustomField(id="n", type="number"),
    CustomField(id="kind", type="list", values=["a", "b"]),
    CustomField(id="extras", type="list", values=["x", "y"], multiple=True),
    CustomField(id="day", type="date"),
    CustomField(id="at", type="datetime"),
    CustomField(id="vip", type="boolean"),
    CustomField(id="doc", type="file"),
]


def test_custom_field_values_are_checked_and_stored_in_their_type():
    got = clean_fields(
        FIELDS,
        {
            "site": "https://a.example/x",
            "n": "2.0",
            "kind": "b",
            "extras": ["y", "x", "y"],
            "day": "2026-12-31",
            "at": "2026-12-31T10:30:15+03:00",
            "vip": False,
            "doc": None,
        },
        {"n": 5, "gone": 1},
    )
    assert got == {
        "site": "https://a.example/x",
        "n": 2,
        "kind": "b",
        "extras": ["y", "x"],
        "day": "2026-12-31",
        "at": "2026-12-31T10:30+03:00",
        "vip": False,
    }
    assert clean_fields(
        FIELDS, {"n": None, "kind": ""}, {"n": 1, "kind": "a", "site": "https://s.example"}
    ) == {"site": "https://s.example"}


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("site", "javascript:alert(1)"),
        ("n", "nan"),
        ("n", True),
        ("kind", "c"),
        ("kind", ["a", "b"]),
        ("extras", ["z"]),
        ("day", "31.12.2026"),
        ("vip", "yes"),
        ("doc", {"ref": "someone-elses-upload", "name": "x"}),
        ("nope", 1),
    ],
)
def test_a_value_that_does_not_fit_names_its_field(field, raw):
    with pytest.raises(BadField) as bad:
        clean_fields(FIELDS, {field: raw})
    assert bad.value.field == field


def test_reminders_flag_open_records_idle_for_the_set_days_only():
    assert needs_reminder(NOW - timedelta(days=7), False, NOW, 7)
    assert not needs_reminder(NOW - timedelta(days=6, hours=23), False, NOW, 7)
    assert not needs_reminder(NOW - timedelta(days=70), True, NOW, 7)
    assert not needs_reminder(NOW - timedelta(days=70), False, NOW, 0)


def test_the_config_refuses_unsound_pipelines_and_fields():
    CrmSettings()  # the default pipeline is sound
    with pytest.raises(ValidationError, match=r"nor in crm\.fields\.deal"):
        CrmSettings(
            pipelines=[
                {
                    "id": "p",
                    "stages": [
                        {"id": "a", "required": ["site"]},
                        {"id": "w", "kind": "won"},
                        {"id": "l", "kind": "lost"},
                    ],
                }
            ]
        )
    with pytest.raises(ValidationError, match="won stage and a lost stage"):
        CrmSettings(pipelines=[{"id": "p", "stages": [{"id": "a"}, {"id": "w", "kind": "won"}]}])
    with pytest.raises(ValidationError, match="a list needs its values"):
        CrmSettings(fields={"deal": [{"id": "k", "type": "list"}]})
    with pytest.raises(ValidationError, match="is a deal's own"):
        CrmSettings(fields={"deal": [{"id": "amount", "type": "number"}]})
    assert clean_value(CustomField(id="s", type="string"), "  text ") == "text"
    data = {
        "crm": {"pipelines": [{"id": "p"}]},
        "lines": [{"crm": {"pipeline": "q"}}, {"crm": {"pipeline": "p"}}],
    }
    assert line_pipeline_problems(data) == [(("lines", 0, "crm", "pipeline"), "unknown pipeline 'q'")]
    own = {
        "lines": [
            {"crm": {"statuses": ["converted", "nope"]}},
            {"crm": {"statuses": ["proposal", "rejected"]}},
        ]
    }
    assert line_pipeline_problems(own) == [
        (("lines", 0, "crm", "statuses", 1), "unknown status 'nope' (not in crm.statuses)"),
        (("lines", 0, "crm", "statuses", 0), "the first status (a new lead's) must be a working one"),
    ]
