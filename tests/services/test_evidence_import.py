"""Evidence sources from a CSV or XLSX file: appraisal scores as people (and paste) type them."""

import io

from openpyxl import Workbook
from sqlalchemy.orm import Session

from app.services import evidence_import
from tests.services.builders import build_study


def _csv(body: str) -> bytes:
    return ("citation;design;pedro;amstar_score\n" + body).encode("utf-8-sig")


def test_scores_in_other_digits_or_too_long_are_row_errors_not_a_crash(session: Session) -> None:
    """isdigit() took "²" and "٣": int() crashed on the first (a 500) and read the second as 3."""
    built = build_study(session, statements=1, panelists=1)
    content = _csv(
        "Smith 2019;rct;²;\n"
        "Li 2020;rct;٣;\n"
        "Wu 2021;rct;--5;\n"
        f"Ota 2022;rct;{'9' * 5_000};\n"
        "Jones 2020;systematic_review;;５\n"
        "Pal 2018;rct;7;\n"
    )
    preview = evidence_import.preview_sources(
        session, study=built.study, filename="evidence.csv", content=content
    )
    assert [(e.row, e.column, e.message) for e in preview.errors] == [
        (2, "pedro", "PEDro must be a whole number from 0 to 10, written with the digits 0 to 9; "
         "“²” is not."),
        (3, "pedro", "PEDro must be a whole number from 0 to 10, written with the digits 0 to 9; "
         "“٣” is not."),
        (4, "pedro", "PEDro must be a whole number from 0 to 10, written with the digits 0 to 9; "
         "“--5” is not."),
        (5, "pedro", "PEDro must be a whole number from 0 to 10; 9999999999999999999… is outside "
         "that range."),
        (6, "amstar_score", "AMSTAR score must be a whole number from 0 to 11, written with the "
         "digits 0 to 9; “５” is not."),
    ]  # fmt: skip
    assert not preview.ok


def test_a_score_typed_as_text_in_a_workbook_cell_is_read_like_a_csv_cell(session: Session) -> None:
    built = build_study(session, statements=1, panelists=1)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["citation", "design", "pedro"])
    sheet.append(["Smith 2019", "rct", "²"])
    sheet.append(["Li 2020", "rct", 7])
    buffer = io.BytesIO()
    book.save(buffer)
    preview = evidence_import.preview_sources(
        session, study=built.study, filename="evidence.xlsx", content=buffer.getvalue()
    )
    assert [(e.row, e.column) for e in preview.errors] == [(2, "pedro")]
    assert [source.pedro for source in preview.new if source.citation == "Li 2020"] == [7]
