"""The one table reader: CSV (any of three separators) and XLSX, read or refused in a sentence."""

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.services import panelist_import, statement_import, tables
from app.services.errors import Invalid
from tests import dbstate
from tests.services.spreadsheets import bilingual, csv_bytes, xlsx_bytes


def test_comma_separated_csv_without_bom_and_with_quoted_commas_is_read_too(
    session: Session,
) -> None:
    b = bilingual(session)
    content = b'text,key\n"Rest, then exercise.",A1\n"He said ""stop"".",A2\n"Two\nlines.",A3\n'
    columns, rows = tables.read_table(filename="list.CSV", content=content)
    assert columns == ["text", "key"]
    assert [r["text"] for r in rows] == ["Rest, then exercise.", 'He said "stop".', "Two\nlines."]
    created = statement_import.import_statements(
        session, actor=b.user, study=b.study, filename="list.CSV", content=content
    )
    assert [s.key for s in created] == ["A1", "A2", "A3"]


def test_tab_separated_csv_is_sniffed_from_the_header() -> None:
    content = "name\temail\nLi Wei\tli@example.org\n".encode("utf-8-sig")
    assert tables.read_table(filename="p.csv", content=content) == (
        ["name", "email"],
        [{"name": "Li Wei", "email": "li@example.org"}],
    )


def test_xlsx_numbers_are_read_as_text_without_a_trailing_point_zero() -> None:
    content = xlsx_bytes(["key", "text", "topic"], [101, "First", 2.5], [102.0, "Second", None])
    columns, rows = tables.read_table(filename="s.xlsx", content=content)
    assert columns == ["key", "text", "topic"]
    assert rows == [
        {"key": "101", "text": "First", "topic": "2.5"},
        {"key": "102", "text": "Second", "topic": ""},
    ]


def test_trailing_empty_columns_and_blank_lines_are_ignored() -> None:
    content = b"\xef\xbb\xbf\r\ntext;key;;\r\n One ; A1 ;;\r\n;;;\r\nTwo;A2;;\r\n\r\n"
    assert tables.read_table(filename="s.csv", content=content) == (
        ["text", "key"],
        [{"text": "One", "key": "A1"}, {"text": "Two", "key": "A2"}],
    )


def test_row_numbers_are_those_a_spreadsheet_shows_even_after_blank_rows(session: Session) -> None:
    b = bilingual(session)
    content = csv_bytes("text|key", "One|A1", "|", '"Two', 'lines"|A2', "|A3")
    preview = statement_import.preview_statements(
        session, study=b.study, filename="s.csv", content=content
    )
    # Row 3 is blank; rows 4 and 5 of the text are one quoted cell, so "|A3" is spreadsheet row 5.
    assert [(e.row, e.column) for e in preview.errors] == [(5, "text")]


def _many_rows() -> bytes:
    return ("text\n" + "".join(f"Statement {i}\n" for i in range(5_001))).encode()


MALFORMED = {
    "a .txt file": ("statements.txt", b"text\nOne\n", "not a CSV or XLSX file"),
    "an .xls file": ("statements.xls", b"\xd0\xcf\x11\xe0", "save it as .xlsx"),
    "an empty file": ("statements.csv", b"", "is empty"),
    "a BOM and nothing else": ("statements.csv", b"\xef\xbb\xbf\r\n;;\r\n", "no header row"),
    "a Latin-1 CSV with accents": (
        "statements.csv",
        "text;key\nCafé au lait;A1\n".encode("latin-1"),
        "byte 0xE9 on line 2 is not UTF-8",
    ),
    "a UTF-16 CSV": ("statements.csv", "text\nOne\n".encode("utf-16"), "UTF-16"),
    "an .xlsx that is garbage": (
        "statements.xlsx",
        b"this is not a spreadsheet at all \x00\x01\x02",
        "cannot be read as an Excel workbook",
    ),
    "duplicate CSV headers": (
        "statements.csv",
        csv_bytes("text|key|Text ", "One|A1|Uno"),
        "the column 'Text' twice in its header (columns 1 and 3)",
    ),
    "duplicate XLSX headers": (
        "statements.xlsx",
        xlsx_bytes(["key", "text", "KEY"], ["A1", "One", "A2"]),
        "the column 'KEY' twice",
    ),
    "an unclosed quote": ("statements.csv", b'text;key\n"One;A1\n', "cannot be read as CSV"),
    "more cells than headers": (
        "statements.csv",
        b"text,key\nRest, then exercise,A1\nFine,A2\n",
        "row 2 has more cells than the header has columns",
    ),
    "values under no header": (
        "statements.csv",
        b"text;;key\nOne;stray;A1\n",
        "column 2 has values but no header",
    ),
    "more than 5,000 rows": ("statements.csv", _many_rows(), "more than 5,000 rows"),
}


@pytest.mark.parametrize(("filename", "content", "says"), MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_files_are_refused_with_a_clear_reason_and_change_nothing(
    session: Session, engine: Engine, filename: str, content: bytes, says: str
) -> None:
    b = bilingual(session)
    session.commit()
    before = dbstate.dump(engine)
    with pytest.raises(Invalid) as refused:
        tables.read_table(filename=filename, content=content)
    assert says in refused.value.message
    for run in (statement_import.import_statements, panelist_import.import_panelists):
        with pytest.raises(Invalid):
            run(session, actor=b.user, study=b.study, filename=filename, content=content)
    session.commit()
    assert dbstate.dump(engine) == before
