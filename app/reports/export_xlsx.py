"""The XLSX workbook: a sheet per part of the study, written row by row (openpyxl write-only).

Write-only sheets go to temporary files as rows arrive and strings are stored inline, so memory
stays flat however many ratings there are; the finished workbook is then streamed from a
temporary file. The ratings take a sheet per round, continued on another when one is full.
"""

import tempfile
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from openpyxl import Workbook
from sqlalchemy.orm import Session

from app.models import Study
from app.reports.export_sheets import audit_sheet, summary_sheets
from app.reports.exports import RATING_COLUMNS, StudyExport, gather, rating_rows, reading
from app.reports.sheet import Col, Sheet, text

MAX_ROWS = 1_048_576  # Excel's rows per sheet, header included

RATING_WIDTHS = {"round_status": 12, "statement_key": 13, "group": 18, "comment": 60}
# The same column names as the CSV, so scripts read either; times are UTC (see the Study sheet).
RATING_HEADERS = [
    Col(name, RATING_WIDTHS.get(name, 19 if name.endswith("_at") else 10))
    for name in RATING_COLUMNS
]


def _rating(row: tuple[Any, ...]) -> list[Any]:
    """Times as Excel dates (UTC, without offset: Excel has no time zones)."""
    return [*row[:11], datetime.fromisoformat(row[11][:-6]), datetime.fromisoformat(row[12][:-6])]


def _ratings_sheets(workbook: Workbook, session: Session, export: StudyExport) -> None:
    """Ratings in long format, a sheet per round (continued when a sheet is full); comments too."""
    comments = Sheet(
        workbook,
        "Comments",
        [
            Col("Round", 8),
            Col("Statement", 11),
            Col("Version", 8),
            Col("Panelist", 9),
            Col("Stakeholder group", 20),
            Col("Comment", 100, wrap=True),
        ],
    )
    sheets: dict[int, Sheet] = {}
    for round_ in export.rounds:
        if round_.id in export.results:
            sheets[round_.number] = Sheet(workbook, f"Ratings R{round_.number}", RATING_HEADERS)
    parts: dict[int, int] = defaultdict(lambda: 1)
    for raw in rating_rows(session, study_id=export.study.id, text=text):
        row = _rating(raw)
        number = row[0]
        sheet = sheets[number]
        if sheet.rows == MAX_ROWS:
            sheet.finish()
            parts[number] += 1
            title = f"Ratings R{number} ({parts[number]})"
            sheet = sheets[number] = Sheet(workbook, title, RATING_HEADERS)
        sheet.add_plain(row)
        if row[10]:
            comments.add_plain([number, row[2], row[4], row[5], row[6], row[10]])
    for sheet in sheets.values():
        sheet.finish()
    comments.finish()


def write(session: Session, *, study: Study, out: IO[bytes]) -> None:
    """The whole workbook into `out`; sheets in the order a reader wants them."""
    export = gather(session, study=study)
    workbook = Workbook(write_only=True)
    workbook.properties.title = f"{study.title}: Delphi data export"
    workbook.properties.creator = "Delphi consensus platform"
    try:
        summary_sheets(workbook, export)
        _ratings_sheets(workbook, session, export)
        audit_sheet(workbook, export)
        workbook.save(out)
    except BaseException:
        _discard(workbook)
        raise


def _discard(workbook: Workbook) -> None:
    """Remove the temporary files of a workbook that will never be saved."""
    for ws in workbook.worksheets:
        writer = getattr(ws, "_writer", None)
        if writer is not None:
            try:
                writer.close()
                writer.cleanup()
            except Exception:  # best effort: the file may be gone already
                pass


def xlsx(*, study_id: int) -> Iterator[bytes]:
    """The workbook, built in a temporary file, then sent in 64 KB pieces."""
    with tempfile.TemporaryFile() as out:
        with reading() as session:
            write(session, study=session.get_one(Study, study_id), out=out)
        out.seek(0)
        while piece := out.read(1 << 16):
            yield piece
