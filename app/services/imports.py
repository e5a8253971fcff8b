"""Importing statements and panelists from a CSV or XLSX file: preview first, then all or nothing.

A preview reads the file, checks every row and says, per row and column, what is wrong; an
import writes only when no row is in error. Rows already in the study are counted as unchanged
and skipped, so importing the same file twice adds nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache
from pathlib import PurePath
from typing import Any, Generic, NoReturn, TypeVar
from zoneinfo import available_timezones

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import Panelist, Statement, Study, User
from app.services import audit, import_limits, locks, panel, statements
from app.services.errors import Invalid
from app.services.panel import Invitation, NewPanelist
from app.services.statements import NewStatement
from app.services.studies import ensure_writable

T = TypeVar("T")
R = TypeVar("R")

MAX_ROWS = import_limits.MAX_ROWS
MAX_TEXT = statements.MAX_TEXT
# Column widths in app.models: longer values would fail at the database, so they are row errors.
MAX_KEY = 40
MAX_TOPIC = 200
MAX_NAME = 200
MAX_EMAIL = 320
MAX_GROUP = 100

EMAIL = panel.EMAIL  # one definition of a usable address
DELIMITERS = (";", "\t", ",")  # on a tie in the header line, the first wins


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # the row number a person sees in the spreadsheet (header is row 1)
    column: str | None  # the header name, as in the file
    message: str  # a sentence a coordinator can act on


@dataclass(slots=True)
class Preview(Generic[T]):
    new: list[T] = field(default_factory=list)  # rows that would be imported
    unchanged: int = 0  # rows already in the study exactly (skipped, not duplicated)
    errors: list[RowError] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # headers found, as in the file

    @property
    def ok(self) -> bool:
        """Nothing in error: the import may go ahead (it may have nothing new to add)."""
        return not self.errors


# --- Reading the file ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    number: int  # as a spreadsheet shows it
    values: dict[str, str]  # header as in the file -> stripped cell


@dataclass(slots=True)
class _Table:
    columns: list[str]
    header_row: int
    rows: list[_Row]


def read_table(*, filename: str, content: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """The header names (as in the file) and one dict per non-empty row, cells stripped."""
    table = _read(filename=filename, content=content)
    return table.columns, [row.values for row in table.rows]


def _read(*, filename: str, content: bytes) -> _Table:
    name = PurePath(filename or "").name or "the file"
    suffix = PurePath(name).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        hint = " (an old Excel .xls file: save it as .xlsx)" if suffix == ".xls" else ""
        raise Invalid(
            f"{name} is not a CSV or XLSX file{hint}; upload a .csv (UTF-8) or .xlsx spreadsheet."
        )
    if not content:
        raise Invalid(f"{name} is empty; it needs a header row and one row per entry.")
    if len(content) > import_limits.MAX_FILE_BYTES:
        import_limits.refuse(import_limits.FILE_SIZE, name, import_limits.MAX_FILE_BYTES // 1000)
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


def _tabulate(name: str, records: list[tuple[int, list[str]]]) -> _Table:
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
        _Row(
            number=n,
            values={
                title: (cells[i] if i < len(cells) else "")
                for i, title in enumerate(header)
                if title
            },
        )
        for n, cells in body
    ]
    return _Table(columns=columns, header_row=header_row, rows=rows)


# --- Statements ---------------------------------------------------------------------------------


def preview_statements(
    session: Session, *, study: Study, filename: str, content: bytes
) -> Preview[NewStatement]:
    table = _read(filename=filename, content=content)
    preview: Preview[NewStatement] = Preview(columns=table.columns)
    errors = preview.errors
    languages = {str(lang).casefold(): str(lang) for lang in (study.languages or ["en"])}

    text_col = key_col = topic_col = None
    translation_cols: dict[str, str] = {}  # header as in the file -> the study's language code
    for column in table.columns:
        folded = column.casefold()
        if folded == "text":
            text_col = column
        elif folded == "key":
            key_col = column
        elif folded == "topic":
            topic_col = column
        elif folded.startswith("text_"):
            language = column[len("text_") :]
            if language.casefold() in languages:
                translation_cols[column] = languages[language.casefold()]
            else:
                errors.append(
                    RowError(
                        table.header_row,
                        column,
                        f"Column '{column}' is for the language '{language}', which is not one "
                        f"of the study's languages ({', '.join(languages.values())}); rename "
                        "the column or add the language to the study.",
                    )
                )
        else:
            errors.append(
                RowError(
                    table.header_row,
                    column,
                    f"Unknown column '{column}'; the columns are text, key, topic and "
                    f"text_<language> for translations (for example "
                    f"text_{next(iter(languages.values()))}). Rename or delete it.",
                )
            )
    if text_col is None:
        errors.append(
            RowError(
                table.header_row,
                None,
                "The file has no 'text' column; add one with each statement's wording.",
            )
        )
        return _sorted(preview, table)

    existing = list(
        session.scalars(
            select(Statement)
            .where(Statement.study_id == study.id)
            .options(selectinload(Statement.versions))
        )
    )
    by_key = {s.key: s for s in existing}
    existing_texts = {s.current.text for s in existing if s.versions}
    file_keys = {row.values[key_col] for row in table.rows if key_col and row.values[key_col]}
    taken = set(by_key) | file_keys
    keys_seen: dict[str, int] = {}
    texts_seen: dict[str, int] = {}
    pending: list[NewStatement] = []
    for row in table.rows:
        values = row.values
        text = values[text_col]
        key = values[key_col] if key_col else ""
        topic = values[topic_col] if topic_col else ""
        failed = len(errors)
        if not text:
            errors.append(
                RowError(
                    row.number,
                    text_col,
                    "The text is empty; write the statement or delete the row.",
                )
            )
        elif len(text) > MAX_TEXT:
            errors.append(
                RowError(
                    row.number,
                    text_col,
                    f"The text has {len(text):,} characters; the limit is {MAX_TEXT:,}.",
                )
            )
        elif text in texts_seen:
            errors.append(
                RowError(
                    row.number,
                    text_col,
                    f"The same text is on row {texts_seen[text]}; a statement should appear once.",
                )
            )
        else:
            texts_seen[text] = row.number
        if key:
            if len(key) > MAX_KEY:
                errors.append(
                    RowError(
                        row.number,
                        key_col,
                        f"The key '{key[:20]}…' has {len(key)} characters; the limit is {MAX_KEY}.",
                    )
                )
            elif key in keys_seen:
                errors.append(
                    RowError(
                        row.number,
                        key_col,
                        f"The key '{key}' is also on row {keys_seen[key]}; each key must be "
                        "unique.",
                    )
                )
            else:
                keys_seen[key] = row.number
            known = by_key.get(key)
            if known is not None and text and known.versions and known.current.text != text:
                errors.append(
                    RowError(
                        row.number,
                        key_col,
                        f"The study already has statement '{key}' with different text: "
                        f"“{_excerpt(known.current.text)}”. Use another key for a new statement, "
                        "or revise the statement in the study instead.",
                    )
                )
        if len(topic) > MAX_TOPIC:
            errors.append(
                RowError(
                    row.number,
                    topic_col,
                    f"The topic has {len(topic)} characters; the limit is {MAX_TOPIC}.",
                )
            )
        translations: dict[str, str] = {}
        for column, language in translation_cols.items():
            translated = values[column]
            if len(translated) > MAX_TEXT:
                errors.append(
                    RowError(
                        row.number,
                        column,
                        f"The {language} text has {len(translated):,} characters; the limit is "
                        f"{MAX_TEXT:,}.",
                    )
                )
            elif translated:
                translations[language] = translated
        if len(errors) > failed:
            continue
        if (key and key in by_key) or (not key and text in existing_texts):
            preview.unchanged += 1
            continue
        pending.append(
            NewStatement(text=text, topic=topic or None, key=key or None, translations=translations)
        )
    # Keys for rows without one, chosen here so they cannot collide with a key later in the file.
    number = len(by_key)
    for item in pending:
        given = item.key
        if given is None:
            number += 1
            while f"S{number:02d}" in taken:
                number += 1
            given = f"S{number:02d}"
            taken.add(given)
        preview.new.append(
            NewStatement(
                text=item.text, topic=item.topic, key=given, translations=item.translations
            )
        )
    return _sorted(preview, table)


def _excerpt(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def import_statements(
    session: Session, *, actor: User, study: Study, filename: str, content: bytes
) -> list[Statement]:
    locks.hold_study(session, study=study)  # no other import may slip in between check and write
    ensure_writable(study)
    preview = preview_statements(session, study=study, filename=filename, content=content)
    return apply(
        session,
        actor=actor,
        study=study,
        filename=filename,
        kind="statements",
        preview=preview,
        add=lambda rows: statements.add_statements(session, actor=actor, study=study, items=rows),
    )


# --- Panelists ----------------------------------------------------------------------------------


@cache
def _time_zones() -> dict[str, str]:
    return {zone.casefold(): zone for zone in available_timezones()}


def preview_panelists(
    session: Session, *, study: Study, filename: str, content: bytes
) -> Preview[NewPanelist]:
    table = _read(filename=filename, content=content)
    preview: Preview[NewPanelist] = Preview(columns=table.columns)
    errors = preview.errors
    languages = {str(lang).casefold(): str(lang) for lang in (study.languages or ["en"])}
    groups = {str(g).casefold(): str(g) for g in (study.groups or [])}
    known = ("name", "email", "group", "language", "timezone")

    columns: dict[str, str] = {}  # known name -> header as in the file
    for column in table.columns:
        folded = column.casefold()
        if folded in known:
            columns[folded] = column
        else:
            errors.append(
                RowError(
                    table.header_row,
                    column,
                    f"Unknown column '{column}'; the columns are {', '.join(known)}. Rename or "
                    "delete it.",
                )
            )
    if "name" not in columns:
        errors.append(
            RowError(
                table.header_row,
                None,
                "The file has no 'name' column; add one with each panelist's name.",
            )
        )
        return _sorted(preview, table)

    existing = session.execute(
        select(Panelist.email, Panelist.name, Panelist.group).where(Panelist.study_id == study.id)
    ).all()
    emails_on_panel = {email.lower() for email, _, _ in existing if email}
    # Panelists without an e-mail are matched on name and group, each at most once.
    nameless_matches = Counter((name, group) for email, name, group in existing if not email)
    emails_seen: dict[str, int] = {}

    def cell(values: dict[str, str], name: str) -> str:
        return values[columns[name]] if name in columns else ""

    for row in table.rows:
        values = row.values
        name = cell(values, "name")
        email = cell(values, "email").lower()
        group = cell(values, "group")
        language = cell(values, "language")
        zone = cell(values, "timezone")
        failed = len(errors)
        if not name:
            errors.append(
                RowError(
                    row.number, columns["name"], "The name is empty; write the panelist's name."
                )
            )
        elif len(name) > MAX_NAME:
            errors.append(
                RowError(
                    row.number,
                    columns["name"],
                    f"The name has {len(name)} characters; the limit is {MAX_NAME}.",
                )
            )
        if email:
            if len(email) > MAX_EMAIL or not EMAIL.fullmatch(email):
                errors.append(
                    RowError(
                        row.number,
                        columns["email"],
                        f"'{_excerpt(email, 60)}' is not an e-mail address; correct it or leave "
                        "the cell empty.",
                    )
                )
            elif email in emails_seen:
                errors.append(
                    RowError(
                        row.number,
                        columns["email"],
                        f"The e-mail {email} is also on row {emails_seen[email]}; each panelist "
                        "needs their own address.",
                    )
                )
            else:
                emails_seen[email] = row.number
        if group:
            if groups:
                if group.casefold() in groups:
                    group = groups[group.casefold()]
                else:
                    errors.append(
                        RowError(
                            row.number,
                            columns["group"],
                            f"Unknown group '{group}'; the study's groups are "
                            f"{', '.join(groups.values())}.",
                        )
                    )
            elif len(group) > MAX_GROUP:
                errors.append(
                    RowError(
                        row.number,
                        columns["group"],
                        f"The group name has {len(group)} characters; the limit is {MAX_GROUP}.",
                    )
                )
        if language:
            if language.casefold() in languages:
                language = languages[language.casefold()]
            else:
                errors.append(
                    RowError(
                        row.number,
                        columns["language"],
                        f"Language '{language}' is not one of the study's languages "
                        f"({', '.join(languages.values())}).",
                    )
                )
        if zone:
            if zone.casefold() in _time_zones():
                zone = _time_zones()[zone.casefold()]
            else:
                errors.append(
                    RowError(
                        row.number,
                        columns["timezone"],
                        f"'{_excerpt(zone, 60)}' is not a time zone name; use one like "
                        "Europe/London or Asia/Shanghai.",
                    )
                )
        if len(errors) > failed:
            continue
        if email:
            if email in emails_on_panel:
                preview.unchanged += 1
                continue
        elif nameless_matches[(name, group or None)] > 0:
            nameless_matches[(name, group or None)] -= 1
            preview.unchanged += 1
            continue
        preview.new.append(
            NewPanelist(
                name=name,
                email=email or None,
                group=group or None,
                language=language or None,
                timezone=zone or None,
            )
        )
    return _sorted(preview, table)


def import_panelists(
    session: Session, *, actor: User, study: Study, filename: str, content: bytes
) -> list[Invitation]:
    locks.hold_study(session, study=study)  # no other import may slip in between check and write
    ensure_writable(study)
    preview = preview_panelists(session, study=study, filename=filename, content=content)
    return apply(
        session,
        actor=actor,
        study=study,
        filename=filename,
        kind="panelists",
        preview=preview,
        add=lambda rows: panel.add_panelists(session, actor=actor, study=study, items=rows),
    )


# --- Shared -------------------------------------------------------------------------------------


def _sorted(preview: Preview[T], table: _Table) -> Preview[T]:
    order = {title: i for i, title in enumerate(table.columns)}
    preview.errors.sort(
        key=lambda e: (e.row, -1 if e.column is None else order.get(e.column, len(order)))
    )
    return preview


def apply(
    session: Session,
    *,
    actor: User,
    study: Study,
    filename: str,
    kind: str,
    preview: Preview[T],
    add: Callable[[list[T]], Sequence[R]],
) -> list[R]:
    """Refuse the whole file if any row is wrong; otherwise add the new rows and record it."""
    _refuse_errors(preview)
    made = list(add(preview.new)) if preview.new else []
    audit.record(
        session,
        actor=actor,
        action=f"import.{kind}",
        study_id=study.id,
        filename=filename,
        imported=len(made),
        unchanged=preview.unchanged,
    )
    session.flush()
    return made


def _refuse_errors(preview: Preview[Any]) -> None:
    if preview.ok:
        return
    rows = len({error.row for error in preview.errors})
    raise Invalid(
        f"{rows} row{'s have' if rows != 1 else ' has'} errors; nothing was imported.",
        errors=[
            {"row": error.row, "column": error.column, "message": error.message}
            for error in preview.errors
        ],
    )


def read_rows(*, filename: str, content: bytes) -> list[tuple[int, dict[str, str]]]:
    """Each non-empty row with the row number a spreadsheet shows (header is row 1)."""
    return [(row.number, row.values) for row in _read(filename=filename, content=content).rows]
