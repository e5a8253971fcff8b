"""What every import shares: a preview of the file's rows first, then all or nothing.

A preview reads the file (app.services.tables), checks every row and says, per row and column,
what is wrong; an import writes only when no row is in error. Rows already in the study are
counted as unchanged and skipped, so importing the same file twice adds nothing. The importers
are statement_import, panelist_import and evidence_import (with evidence_ris for RIS files).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from app.models import Study, User
from app.services import audit, import_limits, tables
from app.services.errors import Invalid

T = TypeVar("T")
R = TypeVar("R")

MAX_ROWS = import_limits.MAX_ROWS


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


def sorted_errors(preview: Preview[T], table: tables.Table) -> Preview[T]:
    """Errors in the order a person reads the file: by row, then by column as in the header."""
    order = {title: i for i, title in enumerate(table.columns)}
    preview.errors.sort(
        key=lambda e: (e.row, -1 if e.column is None else order.get(e.column, len(order)))
    )
    return preview


def excerpt(text: str, limit: int = 80) -> str:
    """The start of a long value, to quote it in a row error."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
