"""Importing statements from CSV or XLSX: previewed, all or nothing, idempotent."""

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from app.models import AuditEntry, Statement
from app.services import statement_import
from app.services.errors import Invalid
from tests import dbstate
from tests.services.builders import Built
from tests.services.spreadsheets import bilingual, csv_bytes

STATEMENTS_CSV = csv_bytes(
    "key|topic|text|text_zh-Hans",
    "R1|Exercise|Supervised exercise reduces pain.|有监督的运动可以减轻疼痛。",
    "R2|Exercise|Exercise should be progressed gradually.|运动应循序渐进。",
    "R3|Education|Pain education is offered to every patient.|",
)


def statements_of(session: Session, built: Built) -> dict[str, Statement]:
    found = session.scalars(
        select(Statement)
        .where(Statement.study_id == built.study.id)
        .options(selectinload(Statement.versions))
        .execution_options(populate_existing=True)
    )
    return {s.key: s for s in found}


def test_csv_with_bom_semicolons_and_chinese_text_imports_statements_with_translations(
    session: Session,
) -> None:
    b = bilingual(session)
    created = statement_import.import_statements(
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


def test_a_statement_file_with_bad_rows_imports_nothing_and_names_each_row_and_column(
    session: Session, engine: Engine
) -> None:
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
    preview = statement_import.preview_statements(
        session, study=b.study, filename="s.csv", content=content
    )
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
    assert "'fr'" in messages[1]
    assert "en, zh-Hans" in messages[1]
    assert "text is empty" in messages[2]
    assert "'N1' is also on row 2" in messages[3]
    assert "different text" in messages[4]
    assert "Statement 1" in messages[4]
    assert "same text is on row 2" in messages[5]
    assert "5,001 characters" in messages[6]

    with pytest.raises(Invalid) as refused:
        statement_import.import_statements(
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


def test_reimporting_the_same_statements_adds_nothing_and_counts_every_row_unchanged(
    session: Session,
) -> None:
    b = bilingual(session)
    statement_import.import_statements(
        session, actor=b.user, study=b.study, filename="s.csv", content=STATEMENTS_CSV
    )
    session.commit()
    again = statement_import.preview_statements(
        session, study=b.study, filename="s.csv", content=STATEMENTS_CSV
    )
    assert again.ok
    assert again.new == []
    assert again.unchanged == 3
    assert (
        statement_import.import_statements(
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


def test_a_statement_file_with_one_more_row_adds_just_that_row(session: Session) -> None:
    b = bilingual(session)
    statement_import.import_statements(
        session, actor=b.user, study=b.study, filename="s.csv", content=STATEMENTS_CSV
    )
    longer = (
        STATEMENTS_CSV + "\r\nR4;Follow-up;Review progress at six weeks.;六周时复查进展。".encode()
    )
    preview = statement_import.preview_statements(
        session, study=b.study, filename="s.csv", content=longer
    )
    assert preview.unchanged == 3
    assert [s.key for s in preview.new] == ["R4"]
    created = statement_import.import_statements(
        session, actor=b.user, study=b.study, filename="s.csv", content=longer
    )
    assert [s.key for s in created] == ["R4"]
    assert sorted(statements_of(session, b)) == ["R1", "R2", "R3", "R4", "S01"]


def test_statements_without_keys_match_on_their_text_and_get_keys_that_do_not_collide(
    session: Session,
) -> None:
    b = bilingual(session)
    content = csv_bytes(
        "text|key",
        "Statement 1|",  # the builder's S01, word for word
        "A keyless statement.|",
        "A keyed statement.|S02",
    )
    preview = statement_import.preview_statements(
        session, study=b.study, filename="s.csv", content=content
    )
    assert preview.unchanged == 1
    assert [(s.key, s.text) for s in preview.new] == [
        ("S03", "A keyless statement."),
        ("S02", "A keyed statement."),
    ]
    statement_import.import_statements(
        session, actor=b.user, study=b.study, filename="s.csv", content=content
    )
    again = statement_import.preview_statements(
        session, study=b.study, filename="s.csv", content=content
    )
    assert again.new == []
    assert again.unchanged == 3


def test_a_file_with_only_a_header_imports_nothing_without_error(session: Session) -> None:
    b = bilingual(session)
    assert (
        statement_import.import_statements(
            session, actor=b.user, study=b.study, filename="s.csv", content=csv_bytes("text|key")
        )
        == []
    )
