"""Spreadsheets for the import tests: CSV and XLSX bytes, and a study in two languages."""

from io import BytesIO
from typing import Any

from openpyxl import Workbook
from sqlalchemy.orm import Session

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
