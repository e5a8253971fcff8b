"""An import is bounded by what its file costs to read, not by how small the file looks.

Each file here is built by hand, as an attacker would: a workbook's parts are zip members holding
sheet XML, so a couple of kilobytes can describe a million rows or a cell in column XFD on every
row, and 600 kB can unpack to 600 MB of whitespace. Each is refused within a second and 100 MB.
"""

import io
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.support import Translations
from openpyxl import Workbook
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.services import (
    evidence_import,
    import_limits,
    panelist_import,
    statement_import,
    tables,
)
from app.services.errors import Invalid
from tests import dbstate
from tests.services.builders import build_study

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
PACKAGE = "http://schemas.openxmlformats.org/package/2006"
OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
STRINGS = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
STYLES = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"
HEADER = '<row r="1"><c r="A1" t="inlineStr"><is><t>text</t></is></c></row>'
ONE_ROW = '<row r="2"><c r="A2" t="inlineStr"><is><t>Walking helps.</t></is></c></row>'


def workbook(
    rows: str = ONE_ROW,
    *,
    dimension: str = "",
    sheets: int = 1,
    strings: str | None = None,
    styles: str | None = None,
    sheet_xml: bytes | None = None,
) -> bytes:
    """A workbook written part by part, its first sheet holding a header row and then `rows`."""
    overrides = [("/xl/workbook.xml", "sheet.main"), ("/xl/worksheets/sheet1.xml", "worksheet")]
    content_types = "".join(
        f'<Override PartName="{part}" '
        f'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.{kind}+xml"/>'
        for part, kind in overrides
    )
    if strings is not None:
        content_types += f'<Override PartName="/xl/sharedStrings.xml" ContentType="{STRINGS}"/>'
    if styles is not None:
        content_types += f'<Override PartName="/xl/styles.xml" ContentType="{STYLES}"/>'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            f'<Types xmlns="{PACKAGE}/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            f'<Default Extension="xml" ContentType="application/xml"/>{content_types}</Types>',
        )
        z.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{PACKAGE}/relationships"><Relationship Id="rId1" '
            f'Type="{OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        listed = "".join(
            f'<sheet name="Sheet{n}" sheetId="{n}" r:id="rId1"/>' for n in range(1, sheets + 1)
        )
        z.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{MAIN}" xmlns:r="{OFFICE}"><sheets>{listed}</sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{PACKAGE}/relationships"><Relationship Id="rId1" '
            f'Type="{OFFICE}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        z.writestr(
            "xl/worksheets/sheet1.xml",
            sheet_xml
            or f'<worksheet xmlns="{MAIN}">{dimension}<sheetData>{HEADER}{rows}</sheetData>'
            "</worksheet>",
        )
        if strings is not None:
            z.writestr("xl/sharedStrings.xml", f'<sst xmlns="{MAIN}">{strings}</sst>')
        if styles is not None:
            z.writestr("xl/styles.xml", f'<styleSheet xmlns="{MAIN}">{styles}</styleSheet>')
    return out.getvalue()


def claiming_three_gigabytes() -> bytes:
    """A small workbook whose zip directory says its sheet unpacks to 3 GB."""
    data = bytearray(workbook())
    at = data.find(b"PK\x01\x02")
    while at != -1:  # each central directory entry: name length at 28, unpacked size at 24
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length] == b"xl/worksheets/sheet1.xml":
            struct.pack_into("<I", data, at + 24, 3_000_000_000)
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


def whitespace(megabytes: int) -> bytes:
    """A sheet padded with `megabytes` of spaces between two rows, deflated as zip does."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(workbook())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z,
    ):
        for info in source.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                z.writestr(info.filename, source.read(info))
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<worksheet xmlns="{MAIN}"><sheetData>{HEADER}'.encode())
            block = b" " * 1_000_000
            for _ in range(megabytes):
                sheet.write(block)
            sheet.write(f"{ONE_ROW}</sheetData></worksheet>".encode())
    return out.getvalue()


# Each: the file's name, a builder (run inside the test, so collection stays quick) and the
# words the refusal must say.
Bomb = tuple[str, Callable[[], bytes], str]
BOMBS: dict[str, Bomb] = {
    "a blank cell in column XFD on each of 4,000 rows": (
        "s.xlsx",
        lambda: workbook('<row><c r="XFD1"/></row>' * 4_000),
        "s.xlsx has more than 50 columns, empty ones included",
    ),
    "a declared extent of the whole sheet, A1:XFD1048576": (
        "s.xlsx",
        lambda: workbook(dimension='<dimension ref="A1:XFD1048576"/>'),
        "has more than 50 columns",
    ),
    "a declared extent of a million rows, A1:C1048576": (
        "s.xlsx",
        lambda: workbook(dimension='<dimension ref="A1:C1048576"/>'),
        "has more than 10,000 rows, empty ones included",
    ),
    "150,000 blank rows": (
        "s.xlsx",
        lambda: workbook("<row/>" * 150_000),
        "s.xlsx has more than 10,000 rows, empty ones included",
    ),
    "a million blank rows in 10 kB": (
        "s.xlsx",
        lambda: workbook("<row/>" * 1_000_000),
        "s.xlsx is packed far more tightly than a spreadsheet can be",
    ),
    "100,000 rows, each numbered": (
        "s.xlsx",
        lambda: workbook("".join(f'<row r="{n}"/>' for n in range(3, 100_000))),
        "has more than 10,000 rows",
    ),
    "one row numbered 1,048,576": (
        "s.xlsx",
        lambda: workbook('<row r="1048576"><c r="A1048576"/></row>'),
        "has more than 10,000 rows",
    ),
    "one row numbered 1e9, which openpyxl reads as a number": (
        "s.xlsx",
        lambda: workbook('<row r="1e9"/>'),
        "has more than 10,000 rows",
    ),
    "a row of 200,000 cells without coordinates": (
        "s.xlsx",
        lambda: workbook('<row r="2">' + "<c/>" * 200_000 + "</row>"),
        "has more than 50 columns",
    ),
    "a sheet whose zip directory declares 3 GB": (
        "s.xlsx",
        claiming_three_gigabytes,
        "s.xlsx unpacks to more than 20 MB",
    ),
    "585 kB of deflated whitespace, 580 MB unpacked": (
        "s.xlsx",
        lambda: whitespace(580),
        "unpacks to more than 20 MB",
    ),
    "15 MB of whitespace, within the unpacked size": (
        "s.xlsx",
        lambda: whitespace(15),
        "s.xlsx is packed far more tightly than a spreadsheet can be",
    ),
    "70,000 shared strings": (
        "s.xlsx",
        lambda: workbook(strings="".join(f"<si><t>{n}</t></si>" for n in range(70_000))),
        "s.xlsx holds more than 60,000 cells, texts and formats",
    ),
    "130,000 numbers, 50 to a row": (
        "s.xlsx",
        lambda: workbook(
            "".join(
                "<row>" + "".join(f"<c><v>{r * 50 + c}</v></c>" for c in range(50)) + "</row>"
                for r in range(2_600)
            )
        ),
        "s.xlsx holds more than 250,000 cells, texts and formats",
    ),
    "40,000 cell formats": (
        "s.xlsx",
        lambda: workbook(
            styles="<cellXfs>"
            + "".join(f'<xf numFmtId="{n % 200}" fontId="{n}"/>' for n in range(40_000))
            + "</cellXfs>"
        ),
        "holds more than 30,000 cells, texts and formats",
    ),
    "1,000 sheets, each the same part": (
        "s.xlsx",
        lambda: workbook(sheets=1_000),
        "s.xlsx has more than 10 sheets",
    ),
    "an element with 150,000 attributes": (
        "s.xlsx",
        lambda: workbook(
            '<row r="2"><c ' + " ".join(f'a{n}=""' for n in range(150_000)) + "/></row>"
        ),
        "s.xlsx cannot be read as an Excel workbook",
    ),
    "a CSV of 590,000 blank lines": (
        "s.csv",
        lambda: b"text\n" + b"\n" * 590_000,
        "s.csv has more than 10,000 rows, empty ones included",
    ),
    "a CSV header of 290,000 separators": (
        "s.csv",
        lambda: b"text" + b";" * 290_000 + b"\nWalking helps.\n",
        "s.csv has more than 50 columns, empty ones included",
    ),
    "a CSV of 16 MB": (
        "s.csv",
        lambda: b"text\n" + b"Walking helps.\n" * 1_100_000,
        "s.csv is larger than 14,900 kB",
    ),
}


@pytest.mark.parametrize(("filename", "build", "says"), BOMBS.values(), ids=list(BOMBS))
def test_costly_files_are_refused_within_a_second_and_100_mb(
    filename: str, build: Callable[[], bytes], says: str
) -> None:
    content = build()
    # The work this thread does, not the wall clock: on a machine busy with other runs a wall-clock
    # second measures the neighbours (3.4 s once, under two suites on two cores).
    started = time.thread_time()
    with pytest.raises(Invalid) as refused:
        tables.read_table(filename=filename, content=content)
    took = time.thread_time() - started
    assert says in refused.value.message
    assert took < 1.0, f"refused after {took:.2f} s of work"
    tracemalloc.start()
    try:
        with pytest.raises(Invalid):
            tables.read_table(filename=filename, content=content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000_000, f"{peak / 1e6:.0f} MB at the peak"


def test_a_costly_workbook_is_refused_by_every_import_and_changes_nothing(
    session: Session, engine: Engine
) -> None:
    b = build_study(session, statements=1, panelists=1)
    session.commit()
    before = dbstate.dump(engine)
    content = workbook('<row><c r="XFD1"/></row>' * 4_000)
    previews = (statement_import.preview_statements, panelist_import.preview_panelists)
    runs = (
        statement_import.import_statements,
        panelist_import.import_panelists,
        evidence_import.import_sources,
    )
    for preview in (*previews, evidence_import.preview_sources):
        with pytest.raises(import_limits.Refused, match="more than 50 columns"):
            preview(session, study=b.study, filename="s.xlsx", content=content)
    for run in runs:
        with pytest.raises(import_limits.Refused, match="more than 50 columns"):
            run(session, actor=b.user, study=b.study, filename="s.xlsx", content=content)
    session.rollback()
    assert dbstate.dump(engine) == before


def test_a_full_workbook_within_the_limits_is_still_read() -> None:
    """5,000 rows of ten filled columns (openpyxl's own writing), and blank rows up to 10,000."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([f"column {c}" for c in range(10)])
    for r in range(5_000):
        sheet.append([f"Statement {r}, part {c}: walking helps." for c in range(10)])
    sheet.cell(row=10_000, column=50, value=None).number_format = "0.0"  # formatted, empty
    out = io.BytesIO()
    book.save(out)
    columns, rows = tables.read_table(filename="s.xlsx", content=out.getvalue())
    assert len(columns) == 10
    assert len(rows) == 5_000
    assert rows[-1]["column 9"] == "Statement 4999, part 9: walking helps."


def test_every_refusal_has_its_chinese_sentence() -> None:
    chinese = Translations.load(
        str(Path(import_limits.__file__).parent.parent / "translations"), ["zh_Hans"]
    )
    sentences = [
        value
        for key, value in vars(import_limits).items()
        if key.isupper() and isinstance(value, str) and "%(name)s" in value
    ]
    assert len(sentences) == 9
    for sentence in sentences:
        translated = chinese.gettext(sentence)
        assert translated != sentence, sentence
        shown = translated % {"name": "s.xlsx", "limit": "50"}
        assert "s.xlsx" in shown
        assert "50" in shown or "%(limit)s" not in sentence
