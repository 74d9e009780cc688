"""PURE: leads in CSV files. Reading a file as people save it (UTF-8 with or without a BOM, or Windows-1251; `,` or
`;` between fields), mapping its columns to lead fields (by their headers in English or Russian, or as the user
says), checking each row (a rejected row says its line number and why), and writing leads back out."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crm_core.recognition import normalize_email, normalize_phone, one_line

FIELDS = ("name", "phone", "email", "status", "responsible", "source")
ENCODINGS = ("utf-8", "utf-8-sig", "windows-1251")
SEPARATORS = (",", ";")
NAME_MAX = 200
CONTACTS_MAX = 20
# headers a column is known by (folded: lower case, no spaces, dashes or underscores), first match wins; several
# columns may map to phone or e-mail ("Work phone", "Mobile"): their values add up
_HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("name", "fullname", "contact", "customer", "фио", "имя", "клиент", "контакт", "названиелида"),
    "phone": ("phone", "phones", "mobile", "tel", "telephone", "телефон", "телефоны", "мобильный", "тел"),
    "email": ("email", "emails", "mail", "почта", "электроннаяпочта", "эпочта", "емейл"),
    "status": ("status", "stage", "статус", "стадия"),
    "responsible": ("responsible", "owner", "manager", "ответственный", "менеджер"),
    "source": ("source", "источник"),
}
_FOLD = re.compile(r"[\s_\-.]+")
# one cell may hold several phones or e-mails: "8 916 000-00-01, +7 495 …" (a phone itself has no , or ;)
_SPLIT = re.compile(r"[,;\n]+")


class CsvProblem(ValueError):
    """A file that cannot be read as CSV at all (its encoding, its header, a mapping to an unknown field)."""


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """The file's text and the encoding it was read in: the one given, else UTF-8 (a BOM is dropped), else
    Windows-1251 (what Excel on a Russian Windows saves)."""
    if encoding is not None:
        if encoding not in ENCODINGS:
            raise CsvProblem(f"encoding must be one of {', '.join(ENCODINGS)}")
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise CsvProblem(f"the file is not {encoding}: {exc.reason} at byte {exc.start}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("windows-1251", errors="replace"), "windows-1251"


def sniff_separator(text: str) -> str:
    """`;` when the header line has more of them than commas (outside quotes), else `,`."""
    header = text.split("\n", 1)[0]
    bare = re.sub(r'"[^"]*"', "", header)
    return ";" if bare.count(";") > bare.count(",") else ","


def data_lines(text: str) -> int:
    """How many lines follow the header (a progress bar's total; a quoted cell over several lines counts each)."""
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    return max(0, lines - 1)


def guess_mapping(header: Sequence[str]) -> dict[int, str]:
    """Column index → lead field, from the headers this module knows; other columns are ignored."""
    out: dict[int, str] = {}
    for i, title in enumerate(header):
        folded = _FOLD.sub("", title.strip().lower().replace("ё", "е"))
        for name, known in _HEADERS.items():
            if folded in known or any(folded.startswith(k) for k in known if len(k) >= 5):
                if name != "name" or "name" not in out.values():
                    out[i] = name
                break
    return out


def mapping_from(header: Sequence[str], given: Mapping[str, str]) -> dict[int, str]:
    """Column index → field from the user's `{column header: field}` (a field "" or "skip" ignores the column);
    the columns it does not name are guessed. Raises CsvProblem for an unknown header or field."""
    out = guess_mapping(header)
    index = {h.strip(): i for i, h in enumerate(header)}
    for column, name in given.items():
        if column.strip() not in index:
            raise CsvProblem(f"the file has no column {column!r}")
        i = index[column.strip()]
        if name in ("", "skip"):
            out.pop(i, None)
        elif name not in FIELDS:
            raise CsvProblem(f"{name!r} is not a lead field ({', '.join(FIELDS)})")
        else:
            out[i] = name
    if not set(out.values()) & {"name", "phone", "email"}:
        raise CsvProblem("no column is a name, a phone or an e-mail: say which columns are")
    return out


@dataclass(frozen=True, slots=True)
class LeadRow:
    """A checked row: the lead it describes, its contacts normalised."""

    line: int  # the file's line number (the header is line 1)
    name: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    fields: dict[str, str] = field(
        default_factory=dict
    )  # status, responsible, source when the file gives them


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row that is not imported, and why."""

    line: int
    reason: str


def rows(
    text: str,
    *,
    separator: str | None = None,
    mapping: Mapping[str, str] | None = None,
    statuses: Sequence[str] = (),
    operators: Iterable[str] = (),
) -> tuple[list[str], dict[int, str], Iterator[LeadRow | Rejected]]:
    """The file's header, what each column was taken for (its index → field), and its rows, each checked: a
    LeadRow, or Rejected with the reason."""
    sep = separator or sniff_separator(text)
    if sep not in SEPARATORS:
        raise CsvProblem(f"separator must be one of {' '.join(SEPARATORS)}")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvProblem("the file is empty") from None
    except csv.Error as exc:
        raise CsvProblem(f"line 1: {exc}") from None
    columns = mapping_from(header, mapping or {})
    known_statuses, known_operators = set(statuses), set(operators)

    def checked() -> Iterator[LeadRow | Rejected]:
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Rejected(reader.line_num, f"not CSV: {exc}")
                continue
            if not any(c.strip() for c in cells):
                continue  # a blank line
            yield check(reader.line_num, cells, columns, known_statuses, known_operators)

    return header, columns, checked()


def check(
    line: int, cells: Sequence[str], columns: Mapping[int, str], statuses: set[str], operators: set[str]
) -> LeadRow | Rejected:
    """One row's cells as a lead, or why not."""
    name = ""
    phones: list[str] = []
    emails: list[str] = []
    fields: dict[str, str] = {}
    for i, kind in columns.items():
        value = cells[i].strip() if i < len(cells) else ""
        if not value:
            continue
        if kind in ("phone", "email"):
            norm = normalize_phone if kind == "phone" else normalize_email
            for part in _SPLIT.split(value):
                if not part.strip():
                    continue
                got = norm(part)
                if got is None:
                    return Rejected(
                        line,
                        f"{part.strip()[:60]!r} is not a valid {'phone' if kind == 'phone' else 'e-mail'}",
                    )
                (phones if kind == "phone" else emails).append(got)
        elif kind == "name":
            name = one_line(value)
        else:
            fields[kind] = value
    if len(name) > NAME_MAX:
        return Rejected(line, f"the name is longer than {NAME_MAX} characters")
    if not name and not phones and not emails:
        return Rejected(line, "no name, phone or e-mail")
    if "status" in fields and statuses and fields["status"] not in statuses:
        return Rejected(line, f"unknown status {fields['status'][:60]!r}")
    if "responsible" in fields and fields["responsible"] not in operators:
        return Rejected(line, f"unknown operator {fields['responsible'][:60]!r}")
    phones, emails = list(dict.fromkeys(phones)), list(dict.fromkeys(emails))
    if len(phones) > CONTACTS_MAX or len(emails) > CONTACTS_MAX:
        return Rejected(line, f"more than {CONTACTS_MAX} phones or e-mails")
    return LeadRow(line, name or (emails[0] if emails else phones[0]), tuple(phones), tuple(emails), fields)


EXPORT_HEADER = (
    "id",
    "name",
    "phones",
    "emails",
    "status",
    "responsible",
    "source",
    "created_at",
    "updated_at",
)


def export_lines(
    leads: Iterable[Mapping[str, Any]],
    *,
    separator: str = ",",
    header: bool = True,
    custom: Sequence[str] = (),
) -> Iterator[str]:
    """The CSV text of these leads (each with "phones" and "emails" lists), the header first (unless not), line by line;
    several phones (e-mails) share a cell, separated by ", " (which the import splits again); then a column per
    custom field of `custom` (its id as the header). A cell that a spreadsheet would run as a formula is quoted with
    a leading apostrophe."""

    def cells() -> Iterator[Sequence[Any]]:
        if header:
            yield (*EXPORT_HEADER, *custom)
        for lead in leads:
            yield [
                lead["id"],
                lead.get("name") or "",
                ", ".join(c["value"] for c in lead.get("phones") or ()),
                ", ".join(c["value"] for c in lead.get("emails") or ()),
                lead.get("status") or "",
                lead.get("responsible") or "",
                lead.get("source") or "",
                _when(lead.get("created_at")),
                _when(lead.get("updated_at")),
                *(custom_cell((lead.get("fields") or {}).get(key)) for key in custom),
            ]

    return csv_lines(cells(), separator=separator)


def csv_lines(rows: Iterable[Sequence[Any]], *, separator: str = ",") -> Iterator[str]:
    """Rows of cells as CSV text, line by line, each cell safe from spreadsheets' formulas (the deals' export)."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=separator, lineterminator="\r\n")
    for cells in rows:
        buf.seek(0)
        buf.truncate()
        writer.writerow([_safe(c) for c in cells])
        yield buf.getvalue()


def custom_cell(value: Any) -> str:
    """A custom field's value in a cell: a list's values joined, yes/no as true/false, a file by its name."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return str(value.get("name", ""))
    return str(value)


def _when(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value or "")


def _safe(value: Any) -> str:
    """A customer's text never runs as a spreadsheet formula (CSV injection): =, +, -, @ at the start are
    quoted; a phone's own leading + is not text a customer typed into a formula, so +digits stay."""
    text = str(value)
    if text[:1] in ("=", "-", "@", "\t", "\r") or (
        text[:1] == "+" and not text[1:].replace(", +", "").isdigit()
    ):
        return "'" + text
    return text
