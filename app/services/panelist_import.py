"""Importing panelists from a CSV or XLSX file: name, email, group, language and timezone columns.

A row whose e-mail is already on the panel is unchanged; a row without one matches a panelist
of the same name and group who has none, each at most once (app.services.imports says how a
preview and an import go together).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Panelist, Study, User
from app.services import locks, panel, tables
from app.services.imports import Preview, RowError, apply, excerpt, sorted_errors
from app.services.panel import Invitation, NewPanelist
from app.services.studies import ensure_writable

# Column widths in app.models: longer values would fail at the database, so they are row errors.
MAX_NAME = 200
MAX_EMAIL = 320
MAX_GROUP = 100

EMAIL = panel.EMAIL  # one definition of a usable address
KNOWN = ("name", "email", "group", "language", "timezone")


@cache
def _time_zones() -> dict[str, str]:
    return {zone.casefold(): zone for zone in available_timezones()}


@dataclass(slots=True)
class _Cells:
    """One row's cells by field name, and the row errors its checks add."""

    row: tables.Row
    columns: dict[str, str]  # known name -> header as in the file
    errors: list[RowError]

    def __getitem__(self, name: str) -> str:
        return self.row.values[self.columns[name]] if name in self.columns else ""

    def fail(self, name: str, message: str) -> None:
        self.errors.append(RowError(self.row.number, self.columns[name], message))


def preview_panelists(
    session: Session, *, study: Study, filename: str, content: bytes
) -> Preview[NewPanelist]:
    """Each row checked against the file and the panel: who would be added, and what is wrong."""
    table = tables.read(filename=filename, content=content)
    preview: Preview[NewPanelist] = Preview(columns=table.columns)
    errors = preview.errors
    languages = {str(lang).casefold(): str(lang) for lang in (study.languages or ["en"])}
    groups = {str(g).casefold(): str(g) for g in (study.groups or [])}
    columns = _columns(table, errors)
    if "name" not in columns:
        errors.append(
            RowError(
                table.header_row,
                None,
                "The file has no 'name' column; add one with each panelist's name.",
            )
        )
        return sorted_errors(preview, table)

    existing = session.execute(
        select(Panelist.email, Panelist.name, Panelist.group).where(Panelist.study_id == study.id)
    ).all()
    emails_on_panel = {email.lower() for email, _, _ in existing if email}
    # Panelists without an e-mail are matched on name and group, each at most once.
    nameless_matches = Counter((name, group) for email, name, group in existing if not email)
    emails_seen: dict[str, int] = {}
    for row in table.rows:
        failed = len(errors)
        person = _person(_Cells(row, columns, errors), languages, groups, emails_seen)
        if len(errors) > failed:
            continue
        if person.email:
            if person.email in emails_on_panel:
                preview.unchanged += 1
                continue
        elif nameless_matches[(person.name, person.group)] > 0:
            nameless_matches[(person.name, person.group)] -= 1
            preview.unchanged += 1
            continue
        preview.new.append(person)
    return sorted_errors(preview, table)


def _columns(table: tables.Table, errors: list[RowError]) -> dict[str, str]:
    """The known columns by name, in any case; an unknown one is a header error."""
    columns: dict[str, str] = {}
    for column in table.columns:
        folded = column.casefold()
        if folded in KNOWN:
            columns[folded] = column
        else:
            errors.append(
                RowError(
                    table.header_row,
                    column,
                    f"Unknown column '{column}'; the columns are {', '.join(KNOWN)}. Rename or "
                    "delete it.",
                )
            )
    return columns


def _person(
    cells: _Cells, languages: dict[str, str], groups: dict[str, str], emails_seen: dict[str, int]
) -> NewPanelist:
    """The row as a panelist: group, language and time zone spelled as the study spells them."""
    name = cells["name"]
    email = cells["email"].lower()
    if not name:
        cells.fail("name", "The name is empty; write the panelist's name.")
    elif len(name) > MAX_NAME:
        cells.fail("name", f"The name has {len(name)} characters; the limit is {MAX_NAME}.")
    if email:
        if len(email) > MAX_EMAIL or not EMAIL.fullmatch(email):
            cells.fail(
                "email",
                f"'{excerpt(email, 60)}' is not an e-mail address; correct it or leave the cell "
                "empty.",
            )
        elif email in emails_seen:
            cells.fail(
                "email",
                f"The e-mail {email} is also on row {emails_seen[email]}; each panelist needs "
                "their own address.",
            )
        else:
            emails_seen[email] = cells.row.number
    group = _group(cells, groups)
    language = _language(cells, languages)
    zone = _zone(cells)
    return NewPanelist(
        name=name,
        email=email or None,
        group=group or None,
        language=language or None,
        timezone=zone or None,
    )


def _group(cells: _Cells, groups: dict[str, str]) -> str:
    """One of the study's groups, if it declares any; else any name within the column's width."""
    group = cells["group"]
    if not group:
        return group
    if groups:
        if group.casefold() in groups:
            return groups[group.casefold()]
        cells.fail(
            "group",
            f"Unknown group '{group}'; the study's groups are {', '.join(groups.values())}.",
        )
    elif len(group) > MAX_GROUP:
        cells.fail(
            "group", f"The group name has {len(group)} characters; the limit is {MAX_GROUP}."
        )
    return group


def _language(cells: _Cells, languages: dict[str, str]) -> str:
    """One of the study's languages, in any case."""
    language = cells["language"]
    if not language:
        return language
    if language.casefold() in languages:
        return languages[language.casefold()]
    cells.fail(
        "language",
        f"Language '{language}' is not one of the study's languages "
        f"({', '.join(languages.values())}).",
    )
    return language


def _zone(cells: _Cells) -> str:
    """A time zone name of the IANA database, in any case."""
    zone = cells["timezone"]
    if not zone:
        return zone
    if zone.casefold() in _time_zones():
        return _time_zones()[zone.casefold()]
    cells.fail(
        "timezone",
        f"'{excerpt(zone, 60)}' is not a time zone name; use one like Europe/London or "
        "Asia/Shanghai.",
    )
    return zone


def import_panelists(
    session: Session, *, actor: User, study: Study, filename: str, content: bytes
) -> list[Invitation]:
    """Add the file's new panelists, or none if any row is wrong; an audit entry records it."""
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
