"""What an uploaded table may cost to read, and the checks that refuse a file before it is parsed.

A few kilobytes of XLSX can describe a million rows, a formatted empty cell in column XFD on every
row or a gigabyte of whitespace, and openpyxl believes all of it: a workbook is measured first —
its zip directory, then every part with a streaming XML scan that stops at the first bound it
crosses — and opened only when it fits. Every limit is far above what a study's statements, panel
or evidence library need, and each refusal is a catalogued sentence, so a page can translate it.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from io import BytesIO
from typing import IO, Any, NoReturn
from xml.parsers import expat

from app.services.errors import Invalid
from app.settings import get_settings

FORM_ROOM = 100_000  # the confirm form's other fields (token, file name, action), generously
MAX_ROWS = 5_000  # rows of data below the header
MAX_SHEET_ROWS = 10_000  # rows up to the last one, empty ones included (in a workbook: any sheet)
MAX_COLUMNS = 50  # columns up to the last cell of a row, empty ones included
MAX_UNPACKED_BYTES = 20_000_000  # a workbook's parts together, as its zip directory declares them
MAX_PACKING = 100  # unpacked size over packed size of one part larger than BIG_PART bytes
BIG_PART = 1_000_000
MAX_CELLS = 250_000  # rows, cells and texts: XML elements in sheet data and the string table
MAX_TEXTS = 60_000  # entries in the string table, which openpyxl reads whole, ~25 µs each
MAX_SETTINGS = 30_000  # every other XML element (formats, relationships, properties), all parts
MAX_SHEETS = 10  # openpyxl measures every sheet when it opens a workbook
MAX_ATTRIBUTES = 100  # on one XML element; Excel writes a few dozen at most

CHUNK = 1 << 16  # bytes unzipped and scanned at a time


def max_file_bytes() -> int:
    """The largest file an import reads (14.9 MB by default), in whole 100 kB.

    The preview carries the file back base64-encoded (4/3 larger) in a form that must still fit
    in the upload body limit (settings.max_upload_bytes), so the limits never disagree.
    """
    carried = (get_settings().max_upload_bytes - FORM_ROOM) * 3 // 4
    return max(carried // 100_000 * 100_000, 100_000)


def N_(sentence: str) -> str:
    """Marks a sentence for the message catalogue; the page that shows it translates it."""
    return sentence


FILE_SIZE = N_("%(name)s is larger than %(limit)s kB; split it into smaller files.")
DATA_ROWS = N_("%(name)s has more than %(limit)s rows; split it into smaller files.")
ROWS = N_(
    "%(name)s has more than %(limit)s rows, empty ones included; delete the empty rows below "
    "the table, or split it into smaller files."
)
COLUMNS = N_(
    "%(name)s has more than %(limit)s columns, empty ones included; delete the columns to the "
    "right of the table."
)
UNPACKED = N_(
    "%(name)s unpacks to more than %(limit)s MB, far more than a table of this kind needs; copy "
    "the table alone into a new, empty workbook and upload that."
)
PACKED = N_(
    "%(name)s is packed far more tightly than a spreadsheet can be, as damaged or harmful files "
    "are; copy the table alone into a new, empty workbook and upload that."
)
CONTENT = N_(
    "%(name)s holds more than %(limit)s cells, texts and formats, far more than a table of this "
    "kind needs; copy the table alone into a new, empty workbook and upload that."
)
SHEETS = N_(
    "%(name)s has more than %(limit)s sheets; put the table on the first sheet of a workbook of "
    "its own."
)
DAMAGED = N_(
    "%(name)s cannot be read as an Excel workbook (.xlsx): it is damaged or another kind of "
    "file. Open it in Excel or LibreOffice and save it as .xlsx again."
)


class Refused(Invalid):
    """A file refused before it is read whole; the sentence stays apart so a page translates it."""

    def __init__(self, sentence: str, **values: str) -> None:
        super().__init__(sentence % values)
        self.sentence = sentence
        self.values = values


def refuse(sentence: str, name: str, limit: int | None = None) -> NoReturn:
    """Raise the refusal `sentence` for the file `name`, with the bound it crossed."""
    raise Refused(sentence, name=name, limit=f"{limit:,}" if limit is not None else "")


def check_workbook(name: str, content: bytes) -> None:
    """Refuse a workbook whose declared sizes or parts cost more to read than any table needs."""
    try:
        archive = zipfile.ZipFile(BytesIO(content))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        refuse(DAMAGED, name)
    with archive:
        parts = [info for info in archive.infolist() if not info.is_dir()]
        # zipfile yields no more than a part's declared size, so the directory bounds every read.
        if sum(info.file_size for info in parts) > MAX_UNPACKED_BYTES:
            refuse(UNPACKED, name, MAX_UNPACKED_BYTES // 1_000_000)
        for info in parts:
            if info.file_size > BIG_PART and info.file_size > MAX_PACKING * info.compress_size:
                refuse(PACKED, name)
        scan = _Scan(name)
        for info in parts:
            try:
                with archive.open(info) as stream:
                    scan.part(stream)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
                refuse(DAMAGED, name)  # a bad checksum, an unknown compression, a password


class _Scan:
    """Counts what a workbook's parts hold, as openpyxl will read them, up to the first bound."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cells = self.texts = self.settings = self.sheets = 0
        self.depth = self.data_depth = self.rows = self.row = self.row_cells = self.column = 0
        self.in_sheet = False

    def part(self, stream: IO[bytes]) -> None:
        """Scan one part; in one that is not XML (an image) it stops where openpyxl's would."""
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.StartDoctypeDeclHandler = self.doctype
        self.depth = self.data_depth = self.rows = self.row = 0
        try:
            while chunk := stream.read(CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except expat.ExpatError:
            return  # openpyxl's parser, expat too, stops at the same byte

    def doctype(self, *_: Any) -> NoReturn:
        """A workbook's parts never declare a DTD (OPC forbids it); XML bombs are made of one."""
        refuse(DAMAGED, self.name)

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if len(attrs) > MAX_ATTRIBUTES:
            refuse(DAMAGED, self.name)
        local = tag.rpartition(" ")[2]
        if self.data_depth:
            self.start_in_data(local, attrs)
        else:
            self.start_outside_data(local, attrs)

    def start_in_data(self, local: str, attrs: dict[str, str]) -> None:
        """An element of the cells or the shared strings: each counts against the cell limit."""
        self.cells += 1
        if self.cells > MAX_CELLS:
            refuse(CONTENT, self.name, MAX_CELLS)
        if not self.in_sheet:
            if local == "si" and self.depth == self.data_depth + 1:
                self.texts += 1
                if self.texts > MAX_TEXTS:
                    refuse(CONTENT, self.name, MAX_TEXTS)
            return
        if local == "row" and self.depth == self.data_depth + 1:
            self.start_row(attrs.get("r"))
        elif local == "c" and self.depth == self.data_depth + 2:
            self.start_cell(attrs.get("r"))

    def start_outside_data(self, local: str, attrs: dict[str, str]) -> None:
        """An element around the data (settings, sheet list, dimension), under its own limit."""
        self.settings += 1
        if self.settings > MAX_SETTINGS:
            refuse(CONTENT, self.name, MAX_SETTINGS)
        if local in ("sheetData", "sst"):
            self.data_depth, self.in_sheet = self.depth, local == "sheetData"
        elif local == "dimension":
            self.dimension(attrs.get("ref", ""))
        elif local == "sheet":
            self.sheets += 1
            if self.sheets > MAX_SHEETS:
                refuse(SHEETS, self.name, MAX_SHEETS)

    def end(self, tag: str) -> None:  # noqa: ARG002 (expat's end-element handler signature)
        if self.depth == self.data_depth:
            self.data_depth = 0
        self.depth -= 1

    def start_row(self, number: str | None) -> None:
        """A row, numbered as openpyxl numbers it: its r, else one after the row before."""
        self.rows += 1
        self.row = self.row + 1 if number is None else self.row_number(number)
        self.row_cells = self.column = 0
        if self.rows > MAX_SHEET_ROWS or self.row > MAX_SHEET_ROWS:
            refuse(ROWS, self.name, MAX_SHEET_ROWS)

    def start_cell(self, reference: str | None) -> None:
        """A cell, empty or not, at its r's column, else one after the cell before."""
        self.row_cells += 1
        self.column = self.column_number(reference) if reference else self.column + 1
        if self.row_cells > MAX_COLUMNS or self.column > MAX_COLUMNS:
            refuse(COLUMNS, self.name, MAX_COLUMNS)

    def dimension(self, ref: str) -> None:
        """The sheet's declared extent: beyond the limits, its rows or columns are too."""
        corner = COORDINATE.fullmatch(ref.rpartition(":")[2])
        if corner is None:
            return  # no extent we can read: the rows and cells themselves are counted
        if _column_index(corner.group(1)) > MAX_COLUMNS:
            refuse(COLUMNS, self.name, MAX_COLUMNS)
        if len(corner.group(2)) > 9 or int(corner.group(2)) > MAX_SHEET_ROWS:
            refuse(ROWS, self.name, MAX_SHEET_ROWS)

    def row_number(self, text: str) -> int:
        """openpyxl's reading of a row's r: int(), else a float that is whole ("1e6" too)."""
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            refuse(DAMAGED, self.name)
        if not number.is_integer():
            refuse(DAMAGED, self.name)  # openpyxl refuses it too, as do inf and nan
        return int(number)

    def column_number(self, reference: str) -> int:
        """openpyxl's reading of a cell's r: the letters before the first digit name the column."""
        letters = DIGIT.split(reference, maxsplit=1)[0]
        if not LETTERS.fullmatch(letters):
            refuse(DAMAGED, self.name)
        return _column_index(letters)


COORDINATE = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]+)")
LETTERS = re.compile(r"[A-Za-z]{1,3}")
DIGIT = re.compile(r"[0-9]")


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index
