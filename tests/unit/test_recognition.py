"""crm_core/recognition.py: normalising phones and e-mails (tables)."""

from __future__ import annotations

import re

import pytest

from crm_core.recognition import normalize_email, normalize_phone

E164 = re.compile(r"^\+[0-9]{7,15}$")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Russian domestic trunk prefix 8 → +7
        ("89123456789", "+79123456789"),
        ("8 912 345 67 89", "+79123456789"),
        ("8 (912) 345-67-89", "+79123456789"),
        ("8-912-345-67-89", "+79123456789"),
        ("8(912)3456789", "+79123456789"),
        # +7 and bare 7 kept
        ("+79123456789", "+79123456789"),
        ("+7 912 345 67 89", "+79123456789"),
        ("+7 (912) 345-67-89", "+79123456789"),
        ("79123456789", "+79123456789"),
        ("  +7 912 345-67-89\t", "+79123456789"),
        # an explicit + means the 8 is a country code, not a trunk prefix
        ("+8 912 345 67 89", "+89123456789"),
        # only 11 digits starting with 8 are a Russian domestic number
        ("8912345678", "+8912345678"),
        # 00 international prefix
        ("0079123456789", "+79123456789"),
        ("00 44 20 7946 0958", "+442079460958"),
        ("00 (44) 20-7946-0958", "+442079460958"),
        # other countries, punctuation removed
        ("+44 (20) 7946-0958", "+442079460958"),
        ("+1 (555) 010-9999", "+15550109999"),
        ("+49.30.1234567", "+49301234567"),
        # length bounds: 7..15 digits
        ("1234567", "+1234567"),
        ("+123456789012345", "+123456789012345"),
        ("123456", None),
        ("+123456", None),
        ("+1234567890123456", None),
        ("0012345", None),  # 00 + 5 digits
        # not phones
        (None, None),
        ("", None),
        ("   ", None),
        ("+", None),
        ("++", None),
        ("()- ", None),
        ("not a phone", None),
        ("8 (912) 345+67-89", None),  # a + in the middle
    ],
)
def test_normalize_phone(raw: str | None, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "8 912 abc 45 67",  # letters between the digits are not dropped silently
        "+7 912 345 67 89 ext 12",  # an extension is not part of the number
        "tel: 8912345678x",
        "8-800-FLOWERS",
        "call me 89123456789",
    ],
)
def test_phone_with_letters_is_not_a_phone(raw: str) -> None:
    assert normalize_phone(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "８９１２３４５６７８９",  # full-width digits
        "٨٩١٢٣٤٥٦٧٨٩",  # Arabic-Indic digits
        "+7 912 345 67 89",
        "8 (912) 345-67-89",
        "0044 20 7946 0958",
    ],
)
def test_a_normalized_phone_is_ascii_e164_or_none(raw: str) -> None:
    result = normalize_phone(raw)
    assert result is None or E164.match(result), result


def test_normalize_phone_is_idempotent() -> None:
    for raw in ("8 (912) 345-67-89", "+44 20 7946 0958", "0079123456789", "1234567"):
        once = normalize_phone(raw)
        assert once is not None
        assert normalize_phone(once) == once


def test_the_same_number_written_differently_is_one_key() -> None:
    spellings = ["8 912 345-67-89", "+7 (912) 345 67 89", "79123456789", "0079123456789", "8(912)3456789"]
    assert {normalize_phone(s) for s in spellings} == {"+79123456789"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ivan@example.com", "ivan@example.com"),
        ("  Ivan.Petrov@Example.COM  ", "ivan.petrov@example.com"),
        ("\tIVAN@MAIL.RU\n", "ivan@mail.ru"),
        ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
        ("Иван@Пример.РФ", "иван@пример.рф"),
        ("a@b.c", "a@b.c"),
        # invalid
        (None, None),
        ("", None),
        ("   ", None),
        ("ivan", None),
        ("ivan@", None),
        ("@example.com", None),
        ("ivan@example", None),
        ("ivan@example.", None),
        ("ivan@@example.com", None),
        ("ivan@exa@mple.com", None),
        ("iv an@example.com", None),
        ("ivan@exam ple.com", None),
        ("a@b.c\nx@y.z", None),
        ("ivan.example.com", None),
    ],
)
def test_normalize_email(raw: str | None, expected: str | None) -> None:
    assert normalize_email(raw) == expected


def test_normalize_email_is_idempotent() -> None:
    once = normalize_email(" Ivan@Example.com ")
    assert once == "ivan@example.com"
    assert normalize_email(once) == once
