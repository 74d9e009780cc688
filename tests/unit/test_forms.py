"""queues/forms.py: a form as the YAML lists it (refused when it cannot work), and what a customer sent checked
field by field: shown or hidden by another answer, required, e-mail, phone, options, lengths."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from queues.forms import Form, check_answers, contacts, transcript

FORM = Form.model_validate(
    {
        "title": "Before we start",
        "fields": [
            {"name": "name", "type": "name", "label": "Your name", "required": True},
            {"name": "email", "type": "email", "label": "E-mail"},
            {"name": "phone", "type": "phone", "label": "Phone"},
            {
                "name": "topic",
                "type": "select",
                "label": "Topic",
                "options": ["Delivery", "Returns", "Other"],
            },
            {
                "name": "order",
                "type": "text",
                "label": "Order number",
                "required": True,
                "show_if": {"field": "topic", "equals": ["Delivery", "Returns"]},
            },
            {"name": "question", "type": "textarea", "label": "Question", "max_length": 50},
            {"name": "consent", "type": "checkbox", "label": "I agree", "required": True},
            {
                "name": "why",
                "type": "text",
                "label": "Why not",
                "show_if": {"field": "consent", "equals": False},
            },
        ],
    }
)


@pytest.mark.parametrize(
    ("values", "answers", "errors"),
    [
        (
            {"name": "  Ivan   Petrov ", "email": "ivan@example.com", "topic": "Other", "consent": True},
            {"name": "Ivan Petrov", "email": "ivan@example.com", "topic": "Other", "consent": True},
            {},
        ),
        # a dependent field is asked only when its condition holds, and then it may be required
        (
            {"name": "Ivan", "topic": "Returns", "consent": True},
            {"name": "Ivan", "topic": "Returns", "consent": True},
            {"order": "required"},
        ),
        (
            {"name": "Ivan", "topic": "Other", "order": "A-1", "consent": True},
            {"name": "Ivan", "topic": "Other", "consent": True},
            {},
        ),
        ({}, {}, {"name": "required", "consent": "required"}),
        (
            {"name": "Ivan", "email": "not-an-address", "phone": "call me", "consent": True},
            {"name": "Ivan", "consent": True},
            {"email": "bad_email", "phone": "bad_phone"},
        ),
        (
            {"name": "Ivan", "phone": "+7 (900) 123-45-67", "consent": True},
            {"name": "Ivan", "phone": "+7 (900) 123-45-67", "consent": True},
            {},
        ),
        (
            {"name": "Ivan", "topic": "Refunds", "consent": True},
            {"name": "Ivan", "consent": True},
            {"topic": "bad_option"},
        ),
        (
            {"name": "Ivan", "question": "x" * 51, "consent": True},
            {"name": "Ivan", "consent": True},
            {"question": "too_long"},
        ),
        ({"name": 42, "consent": "yes"}, {}, {"name": "bad_type", "consent": "bad_type"}),
        (
            {"name": "Ivan\x00\x07", "question": " line one\nline two ", "consent": True},
            {"name": "Ivan", "question": "line one\nline two", "consent": True},
            {},
        ),
        ("not a mapping", {}, {"name": "required", "consent": "required"}),
    ],
)
def test_answers_are_checked_field_by_field(
    values: Any, answers: dict[str, Any], errors: dict[str, str]
) -> None:
    assert check_answers(FORM, values) == (answers, errors)


def test_the_transcript_and_the_contacts() -> None:
    answers, _ = check_answers(
        FORM,
        {
            "name": "Ivan",
            "email": "ivan@example.com",
            "topic": "Returns",
            "order": "A-17",
            "question": "Broken\nbox",
            "consent": True,
        },
    )
    assert transcript(FORM, answers) == (
        "Your name: Ivan\nE-mail: ivan@example.com\nTopic: Returns\nOrder number: A-17\nQuestion:\nBroken\nbox\n"
        "I agree: yes"
    )
    assert contacts(FORM, answers) == {"name": "Ivan", "email": "ivan@example.com"}
    assert FORM.view()["fields"][4]["show_if"] == {"field": "topic", "equals": ["Delivery", "Returns"]}


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ([{"name": "a", "label": "A"}, {"name": "a", "label": "B"}], "two fields are named 'a'"),
        ([{"name": "Bad-Name", "label": "A"}], "a field's name is a-z"),
        ([{"name": "a", "type": "select", "label": "A"}], "needs 1-50 options"),
        ([{"name": "a", "label": "A", "options": ["x"]}], "only a select field has options"),
        (
            [
                {"name": "a", "label": "A", "show_if": {"field": "b", "equals": "x"}},
                {"name": "b", "label": "B"},
            ],
            "not a field before it",
        ),
        (
            [
                {"name": "a", "type": "select", "label": "A", "options": ["x"]},
                {"name": "b", "label": "B", "show_if": {"field": "a", "equals": "y"}},
            ],
            "does not offer",
        ),
        (
            [{"name": "a", "type": "email", "label": "A"}, {"name": "b", "type": "email", "label": "B"}],
            "at most one field of type email",
        ),
        ([{"name": "a", "type": "date", "label": "A"}], "Input should be"),
        ([], "at least 1 item"),
    ],
)
def test_a_form_that_cannot_work_is_refused_with_the_reason(fields: list[dict[str, Any]], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Form.model_validate({"fields": fields})
