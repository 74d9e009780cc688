"""PURE: a form a customer fills (the widget's pre-chat form; fields an admin lists in the YAML) and the check of
what they sent: which fields are shown (a field may depend on another's answer, as Bitrix24's dependent fields),
which are required, and what each holds; then the answers as the transcript's text and the customer's contacts.

Shared by the connectors that show a form and the router, so it lives with the events' vocabulary."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FieldType = Literal["name", "phone", "email", "text", "textarea", "select", "checkbox"]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()\-./]{5,30}$")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTACT_TYPES = ("name", "phone", "email")  # at most one of each: they fill the lead


class ShowIf(BaseModel):
    """Show a field only when an earlier field's answer is this value (or one of these)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    equals: str | bool | tuple[str, ...]

    def holds(self, answer: str | bool | None) -> bool:
        """Whether the earlier field's answer shows the field."""
        if isinstance(self.equals, tuple):
            return isinstance(answer, str) and answer in self.equals
        return answer == self.equals


class FormField(BaseModel):
    """One field of a form."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # the answer's key: a-z, digits, _
    type: FieldType = "text"
    label: str = Field(min_length=1, max_length=200)
    required: bool = False
    options: tuple[str, ...] = ()  # a select's choices
    show_if: ShowIf | None = None
    max_length: int = Field(1000, ge=1, le=4000)  # a text's

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r}: a field's name is a-z, digits and _ (up to 40), starting with a letter"
            )
        return value

    @model_validator(mode="after")
    def _check_options(self) -> FormField:
        if self.type == "select" and not 1 <= len(self.options) <= 50:
            raise ValueError(f"the select field {self.name!r} needs 1-50 options")
        if self.type != "select" and self.options:
            raise ValueError(f"only a select field has options ({self.name!r} is a {self.type})")
        if any(not 1 <= len(o) <= 200 for o in self.options) or len(set(self.options)) != len(self.options):
            raise ValueError(f"the options of {self.name!r} must be distinct texts of 1-200 characters")
        return self


class Form(BaseModel):
    """A form: its fields in order, and the texts around them (None: the widget's own, in the page's language)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = Field(None, min_length=1, max_length=200)
    text: str | None = Field(None, min_length=1, max_length=1000)  # a line under the title
    submit: str | None = Field(None, min_length=1, max_length=60)  # the button's label
    fields: tuple[FormField, ...] = Field(min_length=1, max_length=30)

    @model_validator(mode="after")
    def _check_fields(self) -> Form:
        seen: dict[str, FormField] = {}
        for f in self.fields:
            if f.name in seen:
                raise ValueError(f"two fields are named {f.name!r}")
            if f.show_if is not None:
                earlier = seen.get(f.show_if.field)
                if earlier is None:
                    raise ValueError(
                        f"{f.name!r} depends on {f.show_if.field!r}, which is not a field before it"
                    )
                values = f.show_if.equals if isinstance(f.show_if.equals, tuple) else (f.show_if.equals,)
                if earlier.type == "checkbox" and not all(isinstance(v, bool) for v in values):
                    raise ValueError(f"{f.name!r}: the checkbox {earlier.name!r} is true or false")
                if earlier.type == "select" and not all(v in earlier.options for v in values):
                    raise ValueError(f"{f.name!r}: show_if names a value {earlier.name!r} does not offer")
            seen[f.name] = f
        for kind in CONTACT_TYPES:
            if sum(1 for f in self.fields if f.type == kind) > 1:
                raise ValueError(f"a form has at most one field of type {kind}")
        return self

    def view(self) -> dict[str, Any]:
        """The form as a client is told it (the widget draws it)."""
        return self.model_dump(mode="json", exclude_none=True)


Answer = str | bool


def check_answers(form: Form, raw: object) -> tuple[dict[str, Answer], dict[str, str]]:
    """The answers to the shown fields, cleaned, and what is wrong per field (`required`, `bad_email`,
    `bad_phone`, `bad_option`, `too_long`, `bad_type`); a hidden field's answer is dropped."""
    given: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    answers: dict[str, Answer] = {}
    errors: dict[str, str] = {}
    for f in form.fields:
        if f.show_if is not None and not f.show_if.holds(answers.get(f.show_if.field)):
            continue
        value = given.get(f.name)
        if f.type == "checkbox":
            if value is None:
                value = False
            if not isinstance(value, bool):
                errors[f.name] = "bad_type"
            elif f.required and not value:
                errors[f.name] = "required"
            else:
                answers[f.name] = value
            continue
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[f.name] = "bad_type"
            continue
        value = _CONTROL.sub("", value).strip()
        if f.type != "textarea":
            value = " ".join(value.split())
        if not value:
            if f.required:
                errors[f.name] = "required"
            continue
        problem = _problem(f, value)
        if problem:
            errors[f.name] = problem
        else:
            answers[f.name] = value
    return answers, errors


def _problem(f: FormField, value: str) -> str | None:
    limit = 200 if f.type in CONTACT_TYPES or f.type == "select" else f.max_length
    if len(value) > limit:
        return "too_long"
    if f.type == "email" and not _EMAIL.match(value):
        return "bad_email"
    if f.type == "phone" and (not _PHONE.match(value) or not 7 <= sum(c.isdigit() for c in value) <= 15):
        return "bad_phone"
    if f.type == "select" and value not in f.options:
        return "bad_option"
    return None


def transcript(form: Form, answers: Mapping[str, Answer], *, yes: str = "yes", no: str = "no") -> str:
    """The answers as the text of the customer's first message: one "Label: answer" line per field answered."""
    lines = []
    for f in form.fields:
        if f.name not in answers:
            continue
        value = answers[f.name]
        shown = (yes if value else no) if isinstance(value, bool) else value
        lines.append(f"{f.label}: {shown}" if "\n" not in str(shown) else f"{f.label}:\n{shown}")
    return "\n".join(lines)


def contacts(form: Form, answers: Mapping[str, Answer]) -> dict[str, str]:
    """The customer's name, phone and e-mail among the answers (the keys present are those answered)."""
    out: dict[str, str] = {}
    for f in form.fields:
        value = answers.get(f.name)
        if f.type in CONTACT_TYPES and isinstance(value, str) and value:
            out[f.type] = value
    return out
