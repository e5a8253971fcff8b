"""Importing the evidence library from CSV, XLSX or RIS: the all-or-nothing preview of panels."""

import re
from collections.abc import Callable
from dataclasses import asdict
from pathlib import PurePath

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.consensus.levels import check_pooled_levels
from app.consensus.sources import DESIGNS, Source
from app.models import EvidenceSource, Statement, Study, User
from app.services import evidence, evidence_ris, imports, locks, numbers, tables
from app.services.errors import Invalid
from app.services.evidence import NewSource
from app.services.imports import Preview, RowError
from app.services.studies import ensure_writable

COLUMNS = (
    "citation",
    "design",
    "doi",
    "pmid",
    "pedro",
    "amstar2",
    "amstar_score",
    "pooled_levels",
    "statements",
    "illustrative",
)


def _score(cells: dict[str, str], column: str) -> int | None:
    """The score in its column if it is one; an empty or refused cell reads as none."""
    return numbers.whole_number(cells.get(column, ""), low=0, high=evidence.SCORES[column][1])


def preview_sources(
    session: Session, *, study: Study, filename: str, content: bytes
) -> Preview[NewSource]:
    if evidence_ris.is_ris(filename=filename, content=content):
        return evidence_ris.preview_sources(
            session, study=study, filename=filename, content=content
        )
    name = PurePath(filename or "").name or "the file"
    if PurePath(name).suffix.lower() not in (".csv", ".xlsx", ".xls"):
        raise Invalid(
            f"{name} is not a CSV, XLSX or RIS file; upload a spreadsheet (.csv, .xlsx) or the "
            "references exported from a reference manager in RIS format (.ris)."
        )
    rows = tables.read_rows(filename=filename, content=content)
    preview: Preview[NewSource] = Preview()
    keys = dict(
        session.execute(
            select(Statement.key, Statement.id).where(Statement.study_id == study.id)
        ).all()
    )
    known = {
        (s.doi or "").lower() or (s.pmid or "") or s.citation.lower()
        for s in session.scalars(select(EvidenceSource).where(EvidenceSource.study_id == study.id))
    }
    for number, raw in rows:
        cells = {k.strip().lower(): v.strip() for k, v in raw.items()}
        unknown = sorted(set(cells) - set(COLUMNS))
        if unknown and number == rows[0][0]:
            preview.errors.append(
                RowError(
                    1,
                    unknown[0],
                    f"Unknown column '{unknown[0]}'; the columns are {', '.join(COLUMNS)}.",
                )
            )

        def fail(column: str | None, message: str, row: int = number) -> None:
            preview.errors.append(RowError(row, column, message))

        fields = _source(cells, number, keys=keys, study=study, fail=fail)
        if fields is None:
            continue
        identity = (fields.doi or "").lower() or (fields.pmid or "") or fields.citation.lower()
        if identity in known:
            preview.unchanged += 1
            continue
        known.add(identity)
        preview.new.append(fields)
    return preview


def _source(
    cells: dict[str, str],
    number: int,
    *,
    keys: dict[str, int],
    study: Study,
    fail: Callable[[str | None, str], None],
) -> NewSource | None:
    """The row as a source, or None when it cannot be one; each problem found goes to `fail`."""
    if not cells.get("citation"):
        fail("citation", "The citation is empty.")
        return None
    design = cells.get("design", "").lower().replace(" ", "_").replace("-", "_")
    if design not in DESIGNS:
        fail(
            "design",
            f"'{cells.get('design', '')}' is not a design; use one of {', '.join(DESIGNS)}.",
        )
        return None
    for column, (what, high) in evidence.SCORES.items():
        if cells.get(column) and _score(cells, column) is None:
            fail(column, numbers.refusal(what, cells[column], low=0, high=high))
    linked = [k for k in re.split(r"[;,\s]+", cells.get("statements", "")) if k]
    missing = [k for k in linked if k not in keys]
    if missing:
        fail("statements", f"Unknown statement key(s) {', '.join(missing)}.")
    fields = NewSource(
        citation=cells["citation"],
        design=design,
        doi=cells.get("doi") or None,
        pmid=cells.get("pmid") or None,
        pedro=_score(cells, "pedro"),
        amstar2=cells.get("amstar2", "").lower().replace(" ", "_") or None,
        amstar_score=_score(cells, "amstar_score"),
        pooled_levels=[c for c in re.split(r"[;,\s]+", cells.get("pooled_levels", "")) if c],
        illustrative=cells.get("illustrative", "").lower() in ("yes", "true", "1"),
        statement_ids=[keys[k] for k in linked if k in keys],
    )
    try:
        source = Source(
            id=number,
            citation=fields.citation,
            design=design,
            pedro=fields.pedro,
            amstar2=fields.amstar2,  # type: ignore[arg-type]
            amstar_score=fields.amstar_score,
            pooled_levels=tuple(fields.pooled_levels),
        )
        check_pooled_levels(source, study.evidence_scheme)  # type: ignore[arg-type]
    except ValueError as exc:
        fail(None, str(exc))
        return None
    return fields


def import_sources(
    session: Session, *, actor: User, study: Study, filename: str, content: bytes
) -> list[EvidenceSource]:
    locks.hold_study(session, study=study)  # no other import may slip in between check and write
    ensure_writable(study)
    preview = preview_sources(session, study=study, filename=filename, content=content)
    return imports.apply(
        session,
        actor=actor,
        study=study,
        filename=filename,
        kind="evidence",
        preview=preview,
        add=lambda rows: [
            evidence.add_source(session, actor=actor, study=study, **asdict(row)) for row in rows
        ],
    )
