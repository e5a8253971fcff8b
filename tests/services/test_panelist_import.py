"""Importing panelists from CSV or XLSX: previewed, all or nothing, idempotent."""

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.models import AuditEntry, Panelist
from app.services import panelist_import
from app.services.errors import Invalid
from tests import dbstate
from tests.services.builders import Built, build_study
from tests.services.spreadsheets import bilingual, csv_bytes, xlsx_bytes


def panel_of(session: Session, built: Built) -> list[Panelist]:
    return list(
        session.scalars(
            select(Panelist).where(Panelist.study_id == built.study.id).order_by(Panelist.id)
        )
    )


def test_xlsx_imports_panelists_with_their_groups(session: Session) -> None:
    b = bilingual(session)
    content = xlsx_bytes(
        [" Name ", "EMAIL", "Group", "Language", "TimeZone"],
        ["王芳", "Wang.Fang@Example.org", "physiatrists", "zh-hans", "Asia/Shanghai"],
        ["Ann Smith", "ann@example.org", "Physiotherapists", "en", "europe/london"],
        [None, None, None, None, None],  # a blank row in the middle is skipped
        ["Bo Jensen", None, "physiotherapists", None, None],
    )
    preview = panelist_import.preview_panelists(
        session, study=b.study, filename="panel.xlsx", content=content
    )
    assert preview.ok
    assert preview.columns == ["Name", "EMAIL", "Group", "Language", "TimeZone"]
    invitations = panelist_import.import_panelists(
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


def test_a_panel_file_with_one_bad_row_among_good_ones_imports_nothing(
    session: Session, engine: Engine
) -> None:
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
    preview = panelist_import.preview_panelists(
        session, study=b.study, filename="p.xlsx", content=content
    )
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
        panelist_import.import_panelists(
            session, actor=b.user, study=b.study, filename="p.xlsx", content=content
        )
    session.commit()
    assert dbstate.dump(engine) == before


def test_any_group_is_accepted_when_the_study_declares_none(session: Session) -> None:
    b = build_study(session, statements=1, panelists=1)
    content = csv_bytes("name|group", "Ann|nurse")
    preview = panelist_import.preview_panelists(
        session, study=b.study, filename="p.csv", content=content
    )
    assert preview.ok
    assert preview.new[0].group == "nurse"


def test_reimporting_the_same_panel_adds_nothing_and_one_more_row_adds_just_that_panelist(
    session: Session,
) -> None:
    b = bilingual(session)
    rows: list[list[str | None]] = [
        ["name", "email", "group"],
        ["Ann", "ann@example.org", "physiatrists"],
        ["Bo", None, "physiotherapists"],
        ["Bo", None, "physiotherapists"],  # two people of the same name, neither with an e-mail
    ]
    first = panelist_import.import_panelists(
        session, actor=b.user, study=b.study, filename="p.xlsx", content=xlsx_bytes(*rows)
    )
    assert len(first) == 3
    again = panelist_import.preview_panelists(
        session, study=b.study, filename="p.xlsx", content=xlsx_bytes(*rows)
    )
    assert again.ok
    assert again.new == []
    assert again.unchanged == 3
    assert (
        panelist_import.import_panelists(
            session, actor=b.user, study=b.study, filename="p.xlsx", content=xlsx_bytes(*rows)
        )
        == []
    )
    more = xlsx_bytes(*rows, ["Cy", "cy@example.org", "physiatrists"])
    added = panelist_import.import_panelists(
        session, actor=b.user, study=b.study, filename="p.xlsx", content=more
    )
    assert [i.panelist.name for i in added] == ["Cy"]
    assert [p.name for p in panel_of(session, b)] == ["P0", "Ann", "Bo", "Bo", "Cy"]


def test_a_missing_required_column_is_reported_on_the_header_row(session: Session) -> None:
    b = bilingual(session)
    preview = panelist_import.preview_panelists(
        session, study=b.study, filename="p.csv", content=csv_bytes("email", "a@example.org")
    )
    assert [(e.row, e.column) for e in preview.errors] == [(1, None)]
    assert "no 'name' column" in preview.errors[0].message
