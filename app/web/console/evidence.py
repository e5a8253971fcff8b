"""Console pages for the evidence library, levels and overrides, grades, and finalization."""

from typing import Any, get_args

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from app import models
from app.consensus import grading
from app.consensus.levels import SCHEME_CODES
from app.consensus.sources import DESIGNS, Amstar2
from app.http.deps import SessionDep
from app.http.paths import PathId
from app.services import evidence, finalization, statements, studies
from app.services.errors import DomainError
from app.web.console.common import CheckedForm, ConsoleUser, Coordinator, done, page, refused
from app.web.console.evidence_form import FinalizeForm, LevelForm, SourceForm, SummaryForm
from app.web.console.forms import parse_form
from app.web.forms import ticked_ids

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
        "amstar2_ratings": get_args(Amstar2),
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


@router.post("/console/studies/{study_id}/evidence/sources")
def add_source(
    study_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    """A source checked by the API's own document, so the same input is refused on both."""
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        body = parse_form(SourceForm, values).document(ticked_ids(values, "for-"))
        evidence.add_source(
            session,
            actor=me.user,
            study=study,
            statement_ids=body.statement_ids,
            **body.model_dump(exclude={"statement_ids"}),
        )
    except DomainError as exc:
        return _again(request, session, me, study, exc, "source", values)
    return done(request, f"/console/studies/{study.id}/evidence", "Source added.")


@router.post("/console/statements/{statement_id}/level")
def override(
    statement_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    statement, study = statements.statement_for(
        session, user=me.user, statement_id=statement_id, write=True
    )
    try:
        form = parse_form(LevelForm, values)
        evidence.set_override(
            session,
            actor=me.user,
            study=study,
            statement_id=statement.id,
            code=form.code,
            justification=form.justification,
        )
    except DomainError as exc:
        return _again(request, session, me, study, exc, f"level-{statement.id}", values)
    return done(
        request,
        f"/console/studies/{study.id}/evidence",
        f"{statement.key}: level set by hand; the justification is reported.",
    )


@router.post("/console/statements/{statement_id}/evidence-summary")
def evidence_summary(
    statement_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    """The summary panelists read beside the statement's sources on the ballot."""
    statement, study = statements.statement_for(
        session, user=me.user, statement_id=statement_id, write=True
    )
    try:
        form = parse_form(SummaryForm, values)
        evidence.set_summary(
            session,
            actor=me.user,
            study=study,
            statement=statement,
            summary=form.summary(study.languages),
        )
    except DomainError as exc:
        return _again(request, session, me, study, exc, f"summary-{statement.id}", values)
    return done(
        request,
        f"/console/studies/{study.id}/evidence#level-{statement.id}",
        f"{statement.key}: evidence summary saved; panelists see it on the ballot.",
    )


@router.post("/console/studies/{study_id}/finalize")
def finalize(
    study_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        parse_form(FinalizeForm, values).confirmed()
        digest = finalization.finalize(session, actor=me.user, study=study)
    except DomainError as exc:
        return _again(request, session, me, study, exc, "finalize", values)
    return done(
        request,
        f"/console/studies/{study.id}/evidence",
        f"The study is finalized and read-only. Content hash (SHA-256): {digest}",
    )
