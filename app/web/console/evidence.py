"""Console pages for the evidence library, levels and overrides, grades, and finalization."""

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from app import models
from app.consensus import grading
from app.consensus.levels import SCHEME_CODES
from app.consensus.sources import DESIGNS
from app.http.deps import SessionDep
from app.http.paths import PathId
from app.services import evidence, finalization, numbers, statements, studies
from app.services.errors import DomainError, Invalid
from app.web.console.common import (
    ConsoleUser,
    Coordinator,
    check_csrf,
    done,
    page,
    refused,
)
from app.web.forms import FormValues, ticked_ids

router = APIRouter(include_in_schema=False)


def _context(session: Session, study: models.Study) -> dict[str, Any]:
    listed = statements.statements_of(session, study=study)
    table = evidence.table_of(study)
    return {
        "study": study,
        "statements": listed,
        "keys": {s.id: s.key for s in listed},
        "sources": evidence.sources_of(session, study=study),
        "levels": evidence.levels(session, study=study),
        "codes": SCHEME_CODES[study.evidence_scheme],  # type: ignore[index]
        "designs": DESIGNS,
        "table_words": grading.describe_table(table),
        "recommendations": evidence.recommendations(session, study=study),
        "finals": finalization.finals(session, study=study) if study.finalized_at else [],
        "typed": {},
        "failed": "",
        "field_errors": {},
    }


def _again(
    request: Request,
    session: Session,
    me: Coordinator,
    study: models.Study,
    exc: DomainError,
    form: str,
    values: dict[str, str],
) -> Response:
    beside = {e["field"]: e["message"] for e in exc.errors if e.get("field")}  # by the input
    return refused(
        request,
        session,
        me,
        study.id,
        exc,
        template="console/evidence.html",
        build=lambda s, st: {**_context(s, st), "field_errors": beside},
        form=form,
        typed=values,
    )


@router.get("/console/studies/{study_id}/evidence")
def evidence_page(
    study_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id)
    return page(request, "console/evidence.html", _context(session, study), coordinator=me)


def _score(values: dict[str, str], name: str) -> int | None:
    """An appraisal score as typed, None when left empty; Invalid names the field otherwise."""
    raw = values.get(name, "").strip()
    if not raw:
        return None
    what, high = evidence.SCORES[name]
    return numbers.read_whole_number(raw, what=what, low=0, high=high, field=name)


@router.post("/console/studies/{study_id}/evidence/sources")
def add_source(
    study_id: PathId,
    request: Request,
    values: FormValues,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    check_csrf(me, values)
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        design = values.get("design", "")
        if design not in DESIGNS:
            raise Invalid("Choose the source's design.")
        linked = ticked_ids(values, "for-")
        evidence.add_source(
            session,
            actor=me.user,
            study=study,
            citation=values.get("citation", ""),
            design=design,
            statement_ids=linked,
            doi=values.get("doi") or None,
            pmid=values.get("pmid") or None,
            pedro=_score(values, "pedro"),
            amstar2=values.get("amstar2") or None,
            amstar_score=_score(values, "amstar_score"),
            pooled_levels=[
                c.strip() for c in values.get("pooled_levels", "").split(",") if c.strip()
            ],
        )
    except DomainError as exc:
        return _again(request, session, me, study, exc, "source", values)
    return done(request, f"/console/studies/{study.id}/evidence", "Source added.")


@router.post("/console/statements/{statement_id}/level")
def override(
    statement_id: PathId,
    request: Request,
    values: FormValues,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    check_csrf(me, values)
    statement, study = statements.statement_for(
        session, user=me.user, statement_id=statement_id, write=True
    )
    try:
        evidence.set_override(
            session,
            actor=me.user,
            study=study,
            statement_id=statement.id,
            code=values.get("code", ""),
            justification=values.get("justification", ""),
        )
    except DomainError as exc:
        return _again(request, session, me, study, exc, f"level-{statement.id}", values)
    return done(
        request,
        f"/console/studies/{study.id}/evidence",
        f"{statement.key}: level set by hand; the justification is reported.",
    )


@router.post("/console/studies/{study_id}/finalize")
def finalize(
    study_id: PathId,
    request: Request,
    values: FormValues,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    check_csrf(me, values)
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        if values.get("confirm") != "yes":
            raise Invalid("Tick the box to confirm: finalizing cannot be undone.")
        digest = finalization.finalize(session, actor=me.user, study=study)
    except DomainError as exc:
        return _again(request, session, me, study, exc, "finalize", values)
    return done(
        request,
        f"/console/studies/{study.id}/evidence",
        f"The study is finalized and read-only. Content hash (SHA-256): {digest}",
    )
