"""The one table reader every import uses: a CSV or XLSX upload as a header and its rows.

CSV must be UTF-8 (a BOM is fine) separated by semicolons, tabs or commas, whichever the header
line uses; XLSX is read from its first sheet. Cells come back as stripped text, blank rows are
skipped, and each row keeps the number a spreadsheet shows. What a file may cost to read (its
size, rows, columns, a workbook's parts) is bounded by app.services.import_limits before and
while it is read; a file that cannot be read as a table is refused with a sentence that says why.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any, NoReturn

from app.services import import_limits
from app.services.errors import Invalid

MAX_ROWS = import_limits.MAX_ROWS
DELIMITERS = (";", "\t", ",")  # on a tie in the header line, the first wins


@dataclass(slots=True)
class Row:
    """One non-empty row of the file."""

    number: int  # as a spreadsheet shows it
    values: dict[str, str]  # header as in the file -> stripped cell


@dataclass(slots=True)
class Table:
    """The file as read: named columns in their order, the header's row number, and the rows."""

    columns: list[str]
    header_row: int
    rows: list[Row]


def read_table(*, filename: str, content: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """The header names (as in the file) and one dict per non-empty row, cells stripped."""
    table = read(filename=filename, content=content)
    return table.columns, [row.values for row in table.rows]


def read_rows(*, filename: str, content: bytes) -> list[tuple[int, dict[str, str]]]:
    """Each non-empty row with the row number a spreadsheet shows (header is row 1)."""
    return [(row.number, row.values) for row in read(filename=filename, content=content).rows]


def read(*, filename: str, content: bytes) -> Table:
    """The file as a table: its header (names as written), where it is, and its non-empty rows."""
    name = PurePath(filename or "").name or "the file"
    suffix = PurePath(name).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        hint = " (an old Excel .xls file: save it as .xlsx)" if suffix == ".xls" else ""
        raise Invalid(
            f"{name} is not a CSV or XLSX file{hint}; upload a .csv (UTF-8) or .xlsx spreadsheet."
        )
    if not content:
        raise Invalid(f"{name} is empty; it needs a header row and one row per entry.")
    if len(content) > (most := import_limits.max_file_bytes()):
        import_limits.refuse(import_limits.FILE_SIZE, name, most // 1000)
    records = _csv_records(name, content) if suffix == ".csv" else _xlsx_records(name, content)
    return _tabulate(name, records)


def _csv_records(name: str, content: bytes) -> list[tuple[int, list[str]]]:
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise Invalid(
            f"{name} is UTF-16 text (Excel's “Unicode text”); save it as “CSV UTF-8” and upload "
            "it again."
        )
    if content.startswith(b"PK\x03\x04"):
        raise Invalid(
            f"{name} is an Excel workbook with a .csv name; rename it to .xlsx or save it as "
            "“CSV UTF-8”."
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise Invalid(
            f"{name} is not UTF-8 text: the byte 0x{content[exc.start]:02X} on line {line} is not "
            "UTF-8 (the file was probably saved as Latin-1 or Windows-1252). Save it as "
            "“CSV UTF-8” (Excel) or with the character set “Unicode (UTF-8)” (LibreOffice) and "
            "upload it again."
        ) from None
    header_line = next((line for line in text.splitlines() if line.strip()), "")
    counts = _count_outside_quotes(header_line)
    delimiter = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    filled = number = 0
    try:
        for number, record in enumerate(reader, start=1):
            if number > import_limits.MAX_SHEET_ROWS:  # blank lines cost too: stop here
                import_limits.refuse(import_limits.ROWS, name, import_limits.MAX_SHEET_ROWS)
            if len(record) > import_limits.MAX_COLUMNS:
                import_limits.refuse(import_limits.COLUMNS, name, import_limits.MAX_COLUMNS)
            records.append((number, record))
            filled += any(cell.strip() for cell in record)
            if filled > MAX_ROWS + 1:  # the header and more data rows than allowed
                _too_many(name)
    except csv.Error as exc:
        raise Invalid(
            f"{name} cannot be read as CSV near row {number + 1} ({exc}); check the quotes "
            "around that row."
        ) from None
    return records


def _count_outside_quotes(line: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            counts[char] += 1
    return counts


def _xlsx_records(name: str, content: bytes) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    import_limits.check_workbook(name, content)  # sizes, rows and cells measured before opening
    try:
        workbook = load_workbook(
            io.BytesIO(content), read_only=True, data_only=True, keep_links=False
        )
    except Exception:  # zipfile, XML and openpyxl errors alike: the file is not a workbook
        import_limits.refuse(import_limits.DAMAGED, name)
    records: list[tuple[int, list[str]]] = []
    filled = 0
    try:
        if not workbook.worksheets:
            raise Invalid(f"{name} has no worksheet; put the table on its first sheet.")
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # trust the rows, not a possibly stale <dimension>
        for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
            if number > import_limits.MAX_SHEET_ROWS:  # the scan counted them; never read past
                import_limits.refuse(import_limits.ROWS, name, import_limits.MAX_SHEET_ROWS)
            cells = [_cell_text(value) for value in values]
            records.append((number, cells))
            filled += any(cell.strip() for cell in cells)
            if filled > MAX_ROWS + 1:  # the header and more data rows than allowed
                _too_many(name)
    except Invalid:
        raise
    except Exception:
        raise Invalid(
            f"{name} cannot be read as an Excel workbook (.xlsx): its first sheet is damaged. "
            "Open it in Excel or LibreOffice and save it as .xlsx again."
        ) from None
    finally:
        workbook.close()
    return records


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _too_many(name: str) -> NoReturn:
    import_limits.refuse(import_limits.DATA_ROWS, name, MAX_ROWS)


def _tabulate(name: str, records: list[tuple[int, list[str]]]) -> Table:
    filled = [(n, [c.strip() for c in cells]) for n, cells in records]
    filled = [(n, cells) for n, cells in filled if any(cells)]
    if not filled:
        raise Invalid(
            f"{name} has no header row; its first row must name the columns (for example "
            "text, key, topic or name, email, group)."
        )
    (header_row, header), body = filled[0], filled[1:]
    if len(body) > MAX_ROWS:
        _too_many(name)
    seen: dict[str, int] = {}
    for position, title in enumerate(header, start=1):
        if not title:
            continue
        folded = title.casefold()
        if folded in seen:
            raise Invalid(
                f"{name} has the column '{title}' twice in its header (columns "
                f"{seen[folded]} and {position}); keep one of them."
            )
        seen[folded] = position
    for position, title in enumerate(header):
        if not title and any(position < len(cells) and cells[position] for _, cells in body):
            raise Invalid(
                f"{name}: column {position + 1} has values but no header; name the column or "
                "delete it."
            )
    overflowing = [n for n, cells in body if any(cells[len(header) :])]
    if overflowing:
        shown = ", ".join(str(n) for n in overflowing[:10]) + (
            " …" if len(overflowing) > 10 else ""
        )
        raise Invalid(
            f"{name}: row{'s' if len(overflowing) > 1 else ''} {shown} "
            f"{'have' if len(overflowing) > 1 else 'has'} more cells than the header has "
            "columns. A separator inside a cell must be quoted, or the extra column needs a "
            "header."
        )
    columns = [title for title in header if title]
    rows = [
        Row(
            number=n,
            values={
                title: (cells[i] if i < len(cells) else "")
                for i, title in enumerate(header)
                if title
            },
        )
        for n, cells in body
    ]
    return Table(columns=columns, header_row=header_row, rows=rows)
