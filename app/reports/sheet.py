"""A write-only sheet and its cells: what every sheet of the workbook is written through.

Every text cell is a plain string, never a formula: a leading formula character is quoted
(OWASP), characters XML cannot hold are dropped and cells are cut at Excel's 32,767 characters.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from app.reports.exports import inert

MAX_CHARS = 32_767  # Excel's characters per cell
CUT = " … [cut at Excel's cell limit; the JSON export has the whole text]"
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="E8EEF4")
WRAP = Alignment(wrap_text=True, vertical="top")


def text(value: str) -> str:
    """A string cell Excel shows as typed and never runs."""
    value = inert(value)
    if ILLEGAL_CHARACTERS_RE.search(value):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if len(value) > MAX_CHARS:
        value = value[: MAX_CHARS - len(CUT)] + CUT
    return value


def cell(value: Any) -> Any:
    if isinstance(value, str):
        return text(value)
    if isinstance(value, datetime):  # Excel has no time zones: UTC, said in the header
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, dict | list):
        return text(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return value


@dataclass(frozen=True, slots=True)
class Col:
    header: str
    width: float = 12
    number_format: str | None = None  # applied to every cell of the column
    wrap: bool = False


class Sheet:
    """A write-only sheet with a frozen, bold header row, set widths and column formats."""

    def __init__(self, workbook: Workbook, title: str, columns: Sequence[Col]) -> None:
        self.ws: WriteOnlyWorksheet = workbook.create_sheet(title)
        self.columns = columns
        self.styled = any(c.number_format or c.wrap for c in columns)
        for index, column in enumerate(columns, 1):
            self.ws.column_dimensions[get_column_letter(index)].width = column.width
        self.ws.freeze_panes = "A2"
        header = []
        for column in columns:
            head = WriteOnlyCell(self.ws, value=column.header)
            head.font, head.fill, head.alignment = HEADER_FONT, HEADER_FILL, WRAP
            header.append(head)
        self.ws.append(header)
        self.rows = 1

    def add(self, values: Sequence[Any]) -> None:
        values = [cell(v) for v in values]
        if self.styled:
            values = [self._styled(c, v) for c, v in zip(self.columns, values, strict=True)]
        self.ws.append(values)
        self.rows += 1

    def add_plain(self, values: Sequence[Any]) -> None:
        """A row whose cells are already safe (see `_rating`): the ratings' fast path."""
        self.ws.append(values)
        self.rows += 1

    def _styled(self, column: Col, value: Any) -> Any:
        if value is None or not (column.number_format or column.wrap):
            return value
        styled = WriteOnlyCell(self.ws, value=value)
        if column.number_format:
            styled.number_format = column.number_format
        if column.wrap:
            styled.alignment = WRAP
        return styled

    def finish(self) -> None:
        last = get_column_letter(len(self.columns))
        self.ws.auto_filter.ref = f"A1:{last}{max(self.rows, 2)}"
