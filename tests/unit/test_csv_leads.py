"""Reading leads from CSV files as people save them, and writing them out (crm_core/csv_leads.py)."""

from __future__ import annotations

import pytest

from crm_core.csv_leads import (
    CsvProblem,
    LeadRow,
    Rejected,
    data_lines,
    decode,
    export_lines,
    guess_mapping,
    rows,
)


def test_encodings_are_recognised_and_a_bom_is_dropped() -> None:
    text = "Имя;Телефон\nИван Петров;8 916 000-00-01\n"
    assert decode(text.encode("utf-8")) == (text, "utf-8")
    assert decode(b"\xef\xbb\xbf" + text.encode("utf-8")) == (text, "utf-8-sig")
    assert decode(text.encode("windows-1251")) == (text, "windows-1251")
    assert decode(text.encode("windows-1251"), "windows-1251")[0] == text
    with pytest.raises(CsvProblem, match="not utf-8"):
        decode(text.encode("windows-1251"), "utf-8")
    with pytest.raises(CsvProblem, match="encoding must be one of"):
        decode(b"", "koi8-r")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            ["ФИО", "Мобильный телефон", "E-mail", "Ответственный"],
            {0: "name", 1: "phone", 2: "email", 3: "responsible"},
        ),
        (["Full name", "Work phone", "Phone", "Notes", "Status"], {0: "name", 2: "phone", 4: "status"}),
        (["Name", "Contact"], {0: "name"}),  # one name column: the first
    ],
)
def test_columns_are_mapped_from_their_headers(header: list[str], expected: dict[int, str]) -> None:
    assert guess_mapping(header) == expected


def test_rows_are_checked_each_with_its_line_number_and_reason() -> None:
    text = (
        "Имя;Телефон;Почта;Статус;Ответственный\n"
        'Иван Петров;"8 916 000-00-01, +7 495 000 00 02";IVAN@example.com;new;anna\n'
        ";;;;\n"
        "Анна;позвоните мне;;;\n"
        "Олег;;oleg@example;;\n"
        "Пётр;+79160000003;;lost;\n"
        "Мария;+79160000004;;;nobody\n"
        ";;;new;\n"
        "Ольга;+79160000005;;;\n"
    )
    header, columns, checked = rows(text, statuses=["new", "won"], operators=["anna"])
    assert header[0] == "Имя" and columns == {
        0: "name",
        1: "phone",
        2: "email",
        3: "status",
        4: "responsible",
    }
    got = list(checked)
    assert got[0] == LeadRow(
        2,
        "Иван Петров",
        ("+79160000001", "+74950000002"),
        ("ivan@example.com",),
        {"status": "new", "responsible": "anna"},
    )
    assert [(r.line, r.reason) for r in got if isinstance(r, Rejected)] == [
        (4, "'позвоните мне' is not a valid phone"),
        (5, "'oleg@example' is not a valid e-mail"),
        (6, "unknown status 'lost'"),
        (7, "unknown operator 'nobody'"),
        (8, "no name, phone or e-mail"),
    ]
    assert got[-1] == LeadRow(9, "Ольга", ("+79160000005",))


def test_the_separator_is_sniffed_and_a_mapping_given_wins() -> None:
    _, columns, checked = rows(
        "a,b,c\nИван Петров,x,+79160000001\n", mapping={"a": "name", "c": "phone", "b": "skip"}
    )
    assert columns == {0: "name", 2: "phone"}
    assert list(checked) == [LeadRow(2, "Иван Петров", ("+79160000001",))]
    with pytest.raises(CsvProblem, match="no column is a name"):
        rows("a,b\n1,2\n")
    with pytest.raises(CsvProblem, match="no column 'd'"):
        rows("a,b\n1,2\n", mapping={"d": "name"})
    with pytest.raises(CsvProblem, match="not a lead field"):
        rows("a,b\n1,2\n", mapping={"a": "salary"})


def test_export_writes_every_contact_and_defuses_formulas() -> None:
    lead = {
        "id": "L1",
        "name": '=HYPERLINK("http://evil")',
        "phones": [{"value": "+79160000001"}, {"value": "+74950000002"}],
        "emails": [{"value": "a@example.com"}],
        "status": "new",
        "responsible": None,
        "source": "@import",
        "created_at": None,
        "updated_at": None,
    }
    lines = list(export_lines([lead], separator=";"))
    assert lines[0] == "id;name;phones;emails;status;responsible;source;created_at;updated_at\r\n"
    assert (
        lines[1]
        == """L1;"'=HYPERLINK(""http://evil"")";+79160000001, +74950000002;a@example.com;new;;'@import;;\r\n"""
    )
    # what the export writes, the import reads back
    _, _, back = rows("".join(lines).replace("'=", "="), separator=";")
    assert [(r.phones, r.emails) for r in back if isinstance(r, LeadRow)] == [
        (("+79160000001", "+74950000002"), ("a@example.com",))
    ]


@pytest.mark.parametrize(
    ("text", "n"), [("", 0), ("a,b", 0), ("a,b\n", 0), ("a,b\n1,2", 1), ("a,b\n1,2\n3,4\n", 2)]
)
def test_the_lines_after_the_header(text: str, n: int) -> None:
    assert data_lines(text) == n
