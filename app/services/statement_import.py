"""Importing statements from a CSV or XLSX file: text, key, topic and text_<language> columns.

A row whose key (or, without a key, whose text) is already in the study is unchanged; rows
without a key are given the next free S01, S02 … (app.services.imports says how a preview and
an import go together).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import Statement, Study, User
from app.services import locks, statements, tables
from app.services.imports import Preview, RowError, apply, excerpt, sorted_errors
from app.services.statements import NewStatement
from app.services.studies import ensure_writable

MAX_TEXT = statements.MAX_TEXT
# Column widths in app.models: longer values would fail at the database, so they are row errors.
MAX_KEY = 40
MAX_TOPIC = 200


@dataclass(slots=True)
class _Columns:
    """Where each field is in the file: its header as written, or None when the file has none."""

    text: str | None = None
    key: str | None = None
    topic: str | None = None
    translations: dict[str, str] = field(default_factory=dict)  # header -> the language code


@dataclass(slots=True)
class _Seen:
    """What the rows are checked against: the study's statements and the file's earlier rows."""

    by_key: dict[str, Statement]
    keys: dict[str, int] = field(default_factory=dict)  # key -> the row it was first on
    texts: dict[str, int] = field(default_factory=dict)  # text -> the row it was first on


def preview_statements(
    session: Session, *, study: Study, filename: str, content: bytes
) -> Preview[NewStatement]:
    """Each row checked against the file and the study: what would be added, and what is wrong."""
    table = tables.read(filename=filename, content=content)
    preview: Preview[NewStatement] = Preview(columns=table.columns)
    errors = preview.errors
    languages = {str(lang).casefold(): str(lang) for lang in (study.languages or ["en"])}
    columns = _columns(table, languages, errors)
    text_col = columns.text
    if text_col is None:
        errors.append(
            RowError(
                table.header_row,
                None,
                "The file has no 'text' column; add one with each statement's wording.",
            )
        )
        return sorted_errors(preview, table)

    existing = _statements_of(session, study)
    seen = _Seen(by_key={s.key: s for s in existing})
    existing_texts = {s.current.text for s in existing if s.versions}
    key_col = columns.key
    file_keys = {row.values[key_col] for row in table.rows if key_col and row.values[key_col]}
    taken = set(seen.by_key) | file_keys
    pending: list[NewStatement] = []
    for row in table.rows:
        values = row.values
        text = values[text_col]
        key = values[key_col] if key_col else ""
        topic = values[columns.topic] if columns.topic else ""
        failed = len(errors)
        _check_text(errors, row, text_col, text, seen)
        if key:
            _check_key(errors, row, key_col, key, text, seen)
        if len(topic) > MAX_TOPIC:
            errors.append(
                RowError(
                    row.number,
                    columns.topic,
                    f"The topic has {len(topic)} characters; the limit is {MAX_TOPIC}.",
                )
            )
        translations = _translations(errors, row, columns.translations)
        if len(errors) > failed:
            continue
        if (key and key in seen.by_key) or (not key and text in existing_texts):
            preview.unchanged += 1
            continue
        pending.append(
            NewStatement(text=text, topic=topic or None, key=key or None, translations=translations)
        )
    preview.new.extend(_with_keys(pending, taken, number=len(seen.by_key)))
    return sorted_errors(preview, table)


def _statements_of(session: Session, study: Study) -> list[Statement]:
    """The study's statements with their wordings, to match the file's rows against."""
    return list(
        session.scalars(
            select(Statement)
            .where(Statement.study_id == study.id)
            .options(selectinload(Statement.versions))
        )
    )


def _columns(table: tables.Table, languages: dict[str, str], errors: list[RowError]) -> _Columns:
    """The known columns, in any case; an unknown one, or another language's, is a header error."""
    found = _Columns()
    for column in table.columns:
        folded = column.casefold()
        if folded == "text":
            found.text = column
        elif folded == "key":
            found.key = column
        elif folded == "topic":
            found.topic = column
        elif folded.startswith("text_"):
            language = column[len("text_") :]
            if language.casefold() in languages:
                found.translations[column] = languages[language.casefold()]
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
    return found


def _check_text(
    errors: list[RowError], row: tables.Row, column: str, text: str, seen: _Seen
) -> None:
    """The wording is there, within the limit, and not on an earlier row of the file."""
    if not text:
        errors.append(
            RowError(
                row.number, column, "The text is empty; write the statement or delete the row."
            )
        )
    elif len(text) > MAX_TEXT:
        errors.append(
            RowError(
                row.number,
                column,
                f"The text has {len(text):,} characters; the limit is {MAX_TEXT:,}.",
            )
        )
    elif text in seen.texts:
        errors.append(
            RowError(
                row.number,
                column,
                f"The same text is on row {seen.texts[text]}; a statement should appear once.",
            )
        )
    else:
        seen.texts[text] = row.number


def _check_key(
    errors: list[RowError], row: tables.Row, column: str | None, key: str, text: str, seen: _Seen
) -> None:
    """A key within the limit, once in the file, and naming no study statement of other text."""
    if len(key) > MAX_KEY:
        errors.append(
            RowError(
                row.number,
                column,
                f"The key '{key[:20]}…' has {len(key)} characters; the limit is {MAX_KEY}.",
            )
        )
    elif key in seen.keys:
        errors.append(
            RowError(
                row.number,
                column,
                f"The key '{key}' is also on row {seen.keys[key]}; each key must be unique.",
            )
        )
    else:
        seen.keys[key] = row.number
    known = seen.by_key.get(key)
    if known is not None and text and known.versions and known.current.text != text:
        errors.append(
            RowError(
                row.number,
                column,
                f"The study already has statement '{key}' with different text: "
                f"“{excerpt(known.current.text)}”. Use another key for a new statement, "
                "or revise the statement in the study instead.",
            )
        )


def _translations(
    errors: list[RowError], row: tables.Row, columns: dict[str, str]
) -> dict[str, str]:
    """The row's translations by language; an empty cell adds none, a long one is an error."""
    translations: dict[str, str] = {}
    for column, language in columns.items():
        translated = row.values[column]
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
    return translations


def _with_keys(pending: list[NewStatement], taken: set[str], *, number: int) -> list[NewStatement]:
    """Keys for rows without one, chosen so they cannot collide with a key later in the file."""
    keyed = []
    for item in pending:
        given = item.key
        if given is None:
            number += 1
            while f"S{number:02d}" in taken:
                number += 1
            given = f"S{number:02d}"
            taken.add(given)
        keyed.append(
            NewStatement(
                text=item.text, topic=item.topic, key=given, translations=item.translations
            )
        )
    return keyed


def import_statements(
    session: Session, *, actor: User, study: Study, filename: str, content: bytes
) -> list[Statement]:
    """Add the file's new statements, or none if any row is wrong; an audit entry records it."""
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
