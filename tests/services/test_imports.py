"""Importing statements and panelists from CSV or XLSX: previewed, all or nothing, idempotent."""

from io import BytesIO
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import AuditEntry, Panelist, Statement
from app.services import imports
from app.services.errors import Invalid
from tests import dbstate
from tests.services.builders import Built, build_study


def csv_bytes(*lines: str, separator: str = ";") -> bytes:
    return "\r\n".join(
        separator.join(cells) for cells in (line.split("|") for line in lines)
    ).encode("utf-8-sig")


def xlsx_bytes(*rows: list[Any]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = BytesIO()
    workbook.save(out)
    return out.getvalue()


def bilingual(session: Session, **fields: Any) -> Built:
    b = build_study(session, statements=1, panelists=1, languages=["en", "zh-Hans"], **fields)
    b.study.groups = ["physiotherapists", "physiatrists"]
    session.flush()
    return b


def statements_of(session: Session, built: Built) -> dict[str, Statement]:
    found = session.scalars(
        select(Statement)
        .where(Statement.study_id == built.study.id)
        .options(selectinload(Statement.versions))
        .execution_options(populate_existing=True)
    )
    return {s.key: s for s in found}


def panel_of(session: Session, built: Built) -> list[Panelist]:
    return list(
        session.scalars(
            select(Panelist).where(Panelist.study_id == built.study.id).order_by(Panelist.id)
        )
    )


STATEMENTS_CSV = csv_bytes(
    "key|topic|text|text_zh-Hans",
    "R1|Exercise|Supervised exercise reduces pain.|有监督的运动可以减轻疼痛。",
    "R2|Exercise|Exercise should be progressed gradually.|运动应循序渐进。",
    "R3|Education|Pain education is offered to every patient.|",
)


def test_csv_with_bom_semicolons_and_chinese_text_imports_statements_with_translations(session):
    b = bilingual(session)
    created = imports.import_statements(
        session, actor=b.user, study=b.study, filename="statements.csv", content=STATEMENTS_CSV
    )
    assert [s.key for s in created] == ["R1", "R2", "R3"]
    stored = statements_of(session, b)
    assert stored["R1"].topic == "Exercise"
    assert stored["R1"].current.text == "Supervised exercise reduces pain."
    assert stored["R1"].current.translations == {"zh-Hans": "有监督的运动可以减轻疼痛。"}
    assert stored["R1"].current.text_in("zh-Hans") == "有监督的运动可以减轻疼痛。"
    assert stored["R3"].current.translations == {}  # an empty translation cell adds none
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "import.statements")
    ).one()
    assert entry.detail == {"filename": "statements.csv", "imported": 3, "unchanged": 0}


def test_comma_separated_csv_without_bom_and_with_quoted_commas_is_read_too(session):
    b = bilingual(session)
    content = b'text,key\n"Rest, then exercise.",A1\n"He said ""stop"".",A2\n"Two\nlines.",A3\n'
    columns, rows = imports.read_table(filename="list.CSV", content=content)
    assert columns == ["text", "key"]
    assert [r["text"] for r in rows] == ["Rest, then exercise.", 'He said "stop".', "Two\nlines."]
    created = imports.import_statements(
        session, actor=b.user, study=b.study, filename="list.CSV", content=content
    )
    assert [s.key for s in created] == ["A1", "A2", "A3"]


def test_tab_separated_csv_is_sniffed_from_the_header():
    content = "name\temail\nLi Wei\tli@example.org\n".encode("utf-8-sig")
    assert imports.read_table(filename="p.csv", content=content) == (
        ["name", "email"],
        [{"name": "Li Wei", "email": "li@example.org"}],
    )


def test_xlsx_imports_panelists_with_their_groups(session):
    b = bilingual(session)
    content = xlsx_bytes(
        [" Name ", "EMAIL", "Group", "Language", "TimeZone"],
        ["王芳", "Wang.Fang@Example.org", "physiatrists", "zh-hans", "Asia/Shanghai"],
        ["Ann Smith", "ann@example.org", "Physiotherapists", "en", "europe/london"],
        [None, None, None, None, None],  # a blank row in the middle is skipped
        ["Bo Jensen", None, "physiotherapists", None, None],
    )
    preview = imports.preview_panelists(
        session, study=b.study, filename="panel.xlsx", content=content
    )
    assert preview.ok
    assert preview.columns == ["Name", "EMAIL", "Group", "Language", "TimeZone"]
    invitations = imports.import_panelists(
        session, actor=b.user, study=b.study, filename="panel.xlsx", content=content
    )
    assert len(invitations) == 3
    added = [(p.name, p.email, p.group, p.language, p.timezone) for p in panel_of(session, b)[1:]]
    assert added == [
        ("王芳", "wang.fang@example.org", "physiatrists", "zh-Hans", "Asia/Shanghai"),
        ("Ann Smith", "ann@example.org", "physiotherapists", "en", "Europe/London"),
        ("Bo Jensen", None, "physiotherapists", "en", None),
    ]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "import.panelists")).one()
    assert entry.detail == {"filename": "panel.xlsx", "imported": 3, "unchanged": 0}


def test_xlsx_numbers_are_read_as_text_without_a_trailing_point_zero():
    content = xlsx_bytes(["key", "text", "topic"], [101, "First", 2.5], [102.0, "Second", None])
    columns, rows = imports.read_table(filename="s.xlsx", content=content)
    assert columns == ["key", "text", "topic"]
    assert rows == [
        {"key": "101", "text": "First", "topic": "2.5"},
        {"key": "102", "text": "Second", "topic": ""},
    ]


def test_a_statement_file_with_bad_rows_imports_nothing_and_names_each_row_and_column(
    session, engine
):
    b = bilingual(session)
    session.commit()
    before = dbstate.dump(engine)
    content = csv_bytes(
        "key|text|txt|text_fr",
        "N1|A good statement.||",
        "N2|||",
        "N1|Another good statement.||",
        "S01|Not the wording S01 has.||",
        "N4|A good statement.||",
        f"N5|{'x' * 5001}||",
    )
    preview = imports.preview_statements(session, study=b.study, filename="s.csv", content=content)
    assert not preview.ok
    assert [(e.row, e.column) for e in preview.errors] == [
        (1, "txt"),
        (1, "text_fr"),
        (3, "text"),
        (4, "key"),
        (5, "key"),
        (6, "text"),
        (7, "text"),
    ]
    messages = [e.message for e in preview.errors]
    assert "Unknown column 'txt'" in messages[0]
    assert "'fr'" in messages[1] and "en, zh-Hans" in messages[1]
    assert "text is empty" in messages[2]
    assert "'N1' is also on row 2" in messages[3]
    assert "different text" in messages[4] and "Statement 1" in messages[4]
    assert "same text is on row 2" in messages[5]
    assert "5,001 characters" in messages[6]

    with pytest.raises(Invalid) as refused:
        imports.import_statements(
            session, actor=b.user, study=b.study, filename="s.csv", content=content
        )
    assert refused.value.message == "6 rows have errors; nothing was imported."
    assert refused.value.errors[0] == {
        "row": 1,
        "column": "txt",
        "message": preview.errors[0].message,
    }
    assert len(refused.value.errors) == 7
    session.commit()
    assert dbstate.dump(engine) == before


def test_a_panel_file_with_one_bad_row_among_good_ones_imports_nothing(session, engine):
    b = bilingual(session)
    session.commit()
    before = dbstate.dump(engine)
    content = xlsx_bytes(
        ["name", "email", "group", "language", "timezone", "phone"],
        ["Ann", "ann@example.org", "physiatrists", "en", "Europe/Paris", None],
        ["Bob", "ANN@example.org", "physiatrists", None, None, None],
        ["Cy", "cy@example.org", "nurse", None, None, None],
        ["Di", "di(at)example.org", None, None, None, None],
        [None, "eve@example.org", None, None, None, None],
        ["Fay", None, None, "fr", "Mars/Olympus", None],
    )
    preview = imports.preview_panelists(session, study=b.study, filename="p.xlsx", content=content)
    assert [(e.row, e.column) for e in preview.errors] == [
        (1, "phone"),
        (3, "email"),
        (4, "group"),
        (5, "email"),
        (6, "name"),
        (7, "language"),
        (7, "timezone"),
    ]
    by_place = {(e.row, e.column): e.message for e in preview.errors}
    assert "ann@example.org is also on row 2" in by_place[(3, "email")]
    assert by_place[(4, "group")] == (
        "Unknown group 'nurse'; the study's groups are physiotherapists, physiatrists."
    )
    assert "not an e-mail address" in by_place[(5, "email")]
    assert "name is empty" in by_place[(6, "name")]
    assert "'fr' is not one of the study's languages (en, zh-Hans)" in by_place[(7, "language")]
    assert "not a time zone" in by_place[(7, "timezone")]
    assert [p.name for p in preview.new] == ["Ann"]  # what would be imported once fixed

    with pytest.raises(Invalid, match=r"^6 rows have errors; nothing was imported\.$"):
        imports.import_panelists(
            session, actor=b.user, study=b.study, filename="p.xlsx", content=content
        )
    session.commit()
    assert dbstate.dump(engine) == before


def test_any_group_is_accepted_when_the_study_declares_none(session):
    b = build_study(session, statements=1, panelists=1)
    content = csv_bytes("name|group", "Ann|nurse")
    preview = imports.preview_panelists(session, study=b.study, filename="p.csv", content=content)
    assert preview.ok and preview.new[0].group == "nurse"


def test_reimporting_the_same_statements_adds_nothing_and_counts_every_row_unchanged(
    session, engine
):
    b = bilingual(session)
    imports.import_statements(
        session, actor=b.user, study=b.study, filename="s.csv", content=STATEMENTS_CSV
    )
    session.commit()
    again = imports.preview_statements(
        session, study=b.study, filename="s.csv", content=STATEMENTS_CSV
    )
    assert again.ok and again.new == [] and again.unchanged == 3
    assert (
        imports.import_statements(
            session, actor=b.user, study=b.study, filename="s.csv", content=STATEMENTS_CSV
        )
        == []
    )
    session.commit()
    assert sorted(statements_of(session, b)) == ["R1", "R2", "R3", "S01"]
    details = [
        e.detail
        for e in session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "import.statements")
            .order_by(AuditEntry.id)
        )
    ]
    assert details[-1] == {"filename": "s.csv", "imported": 0, "unchanged": 3}


def test_a_statement_file_with_one_more_row_adds_just_that_row(session):
    b = bilingual(session)
    imports.import_statements(
        session, actor=b.user, study=b.study, filename="s.csv", content=STATEMENTS_CSV
    )
    longer = (
        STATEMENTS_CSV + "\r\nR4;Follow-up;Review progress at six weeks.;六周时复查进展。".encode()
    )
    preview = imports.preview_statements(session, study=b.study, filename="s.csv", content=longer)
    assert preview.unchanged == 3 and [s.key for s in preview.new] == ["R4"]
    created = imports.import_statements(
        session, actor=b.user, study=b.study, filename="s.csv", content=longer
    )
    assert [s.key for s in created] == ["R4"]
    assert sorted(statements_of(session, b)) == ["R1", "R2", "R3", "R4", "S01"]


def test_statements_without_keys_match_on_their_text_and_get_keys_that_do_not_collide(session):
    b = bilingual(session)
    content = csv_bytes(
        "text|key",
        "Statement 1|",  # the builder's S01, word for word
        "A keyless statement.|",
        "A keyed statement.|S02",
    )
    preview = imports.preview_statements(session, study=b.study, filename="s.csv", content=content)
    assert preview.unchanged == 1
    assert [(s.key, s.text) for s in preview.new] == [
        ("S03", "A keyless statement."),
        ("S02", "A keyed statement."),
    ]
    imports.import_statements(
        session, actor=b.user, study=b.study, filename="s.csv", content=content
    )
    again = imports.preview_statements(session, study=b.study, filename="s.csv", content=content)
    assert again.new == [] and again.unchanged == 3


def test_reimporting_the_same_panel_adds_nothing_and_one_more_row_adds_just_that_panelist(
    session,
):
    b = bilingual(session)
    rows = [
        ["name", "email", "group"],
        ["Ann", "ann@example.org", "physiatrists"],
        ["Bo", None, "physiotherapists"],
        ["Bo", None, "physiotherapists"],  # two people of the same name, neither with an e-mail
    ]
    first = imports.import_panelists(
        session, actor=b.user, study=b.study, filename="p.xlsx", content=xlsx_bytes(*rows)
    )
    assert len(first) == 3
    again = imports.preview_panelists(
        session, study=b.study, filename="p.xlsx", content=xlsx_bytes(*rows)
    )
    assert again.ok and again.new == [] and again.unchanged == 3
    assert (
        imports.import_panelists(
            session, actor=b.user, study=b.study, filename="p.xlsx", content=xlsx_bytes(*rows)
        )
        == []
    )
    more = xlsx_bytes(*rows, ["Cy", "cy@example.org", "physiatrists"])
    added = imports.import_panelists(
        session, actor=b.user, study=b.study, filename="p.xlsx", content=more
    )
    assert [i.panelist.name for i in added] == ["Cy"]
    assert [p.name for p in panel_of(session, b)] == ["P0", "Ann", "Bo", "Bo", "Cy"]


def test_a_file_with_only_a_header_imports_nothing_without_error(session):
    b = bilingual(session)
    assert (
        imports.import_statements(
            session, actor=b.user, study=b.study, filename="s.csv", content=csv_bytes("text|key")
        )
        == []
    )


def test_a_missing_required_column_is_reported_on_the_header_row(session):
    b = bilingual(session)
    preview = imports.preview_panelists(
        session, study=b.study, filename="p.csv", content=csv_bytes("email", "a@example.org")
    )
    assert [(e.row, e.column) for e in preview.errors] == [(1, None)]
    assert "no 'name' column" in preview.errors[0].message


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
    session, engine, filename, content, says
):
    b = bilingual(session)
    session.commit()
    before = dbstate.dump(engine)
    with pytest.raises(Invalid) as refused:
        imports.read_table(filename=filename, content=content)
    assert says in refused.value.message
    for run in (imports.import_statements, imports.import_panelists):
        with pytest.raises(Invalid):
            run(session, actor=b.user, study=b.study, filename=filename, content=content)
    session.commit()
    assert dbstate.dump(engine) == before


def test_trailing_empty_columns_and_blank_lines_are_ignored():
    content = b"\xef\xbb\xbf\r\ntext;key;;\r\n One ; A1 ;;\r\n;;;\r\nTwo;A2;;\r\n\r\n"
    assert imports.read_table(filename="s.csv", content=content) == (
        ["text", "key"],
        [{"text": "One", "key": "A1"}, {"text": "Two", "key": "A2"}],
    )


def test_row_numbers_are_those_a_spreadsheet_shows_even_after_blank_rows(session):
    b = bilingual(session)
    content = csv_bytes("text|key", "One|A1", "|", '"Two', 'lines"|A2', "|A3")
    preview = imports.preview_statements(session, study=b.study, filename="s.csv", content=content)
    # Row 3 is blank; rows 4 and 5 of the text are one quoted cell, so "|A3" is spreadsheet row 5.
    assert [(e.row, e.column) for e in preview.errors] == [(5, "text")]
