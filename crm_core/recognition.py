"""PURE: normalising phones and e-mails, and the order in which a returning customer is matched."""

from __future__ import annotations

import re
import unicodedata

_PUNCTUATION = re.compile(r"[\s().\-/]")
_LINE_BREAKS = re.compile("[\t\n\r\x0b\x0c\x85\u2028\u2029]+")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_phone(raw: str | None) -> str | None:
    """E.164-like digits with a leading +; Russian 8XXXXXXXXXX becomes +7XXXXXXXXXX; None if not a phone."""
    if not raw:
        return None
    s = raw.strip()
    if not s.isascii():  # other scripts' digits (full-width, Arabic-Indic) become ASCII: one number, one key
        s = "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in s)
    s = _PUNCTUATION.sub("", s)
    if not re.fullmatch(r"\+?[0-9]+", s):
        return None  # letters or stray symbols: not a phone, whatever digits it contains
    if s.startswith("00"):
        s = "+" + s[2:]
    digits = s.lstrip("+")
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        return None
    if not s.startswith("+") and len(digits) == 11 and digits[0] == "8":
        digits = "7" + digits[1:]  # the domestic trunk prefix of Russian numbers
    return "+" + digits


def normalize_email(raw: str | None) -> str | None:
    """Lower-cased, trimmed address; None if it does not look like one."""
    if not raw:
        return None
    s = raw.strip().lower()
    return s if _EMAIL.match(s) else None


def fold(text: str | None) -> str:
    """Text as searches compare it, for every script alike: compatibility forms unified, accents and other combining
    marks dropped (ё = е, ά = α, İ = I), then case-folded (ß = ss). SQLite's lower() folds ASCII only."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare.casefold())


def one_line(text: str) -> str:
    """A one-line field (a name) without control characters: line breaks and tabs become a space, the rest (NUL
    among them, which PostgreSQL refuses) go."""
    return _CONTROL.sub("", _LINE_BREAKS.sub(" ", text)).strip()


# a name our connectors make up for a customer who gave none (connectors/widget_session.py): never a duplicate
_MADE_UP_NAME = re.compile(r"^Visitor [0-9A-Z]{4}$")
_NAME_WORD = re.compile(r"[^\W\d_]+")


def name_key(name: str | None, folded: str | None = None) -> str | None:
    """The key duplicate control compares full names by: the name's folded words in alphabetical order ("Петров
    Иван" = "иван петров"); None for a name of fewer than two words (a first name alone matches too many
    people), a word with digits in it (an account name, not a person's), or a name a connector made up. `folded`:
    the name's `fold` when the caller has it already."""
    if not name or _MADE_UP_NAME.match(name.strip()):
        return None
    words = []
    for token in (fold(name) if folded is None else folded).split():
        if any(ch.isdigit() for ch in token):
            return None
        words += _NAME_WORD.findall(token)
    if len(words) < 2:
        return None
    return " ".join(sorted(words))[:200]


def name_fields(name: str | None) -> dict[str, str | None]:
    """A lead's name as the store writes it, wherever it writes one: on one line, with the form searches compare
    (`fold`) and the key duplicate control compares (`name_key`)."""
    clean = one_line(name or "")
    folded = fold(clean)
    return {"name": clean, "name_search": folded, "name_key": name_key(clean, folded)}
