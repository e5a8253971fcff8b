"""The consensus report of a study, as an HTML page or a PDF (coordinators and observers)."""

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.api.deps import CurrentCoordinator, SessionDep
from app.api.responses import ERRORS
from app.api.schemas import PathId
from app.db import write_now
from app.models import Study, User
from app.reports import report
from app.services import studies

router = APIRouter(prefix="/api/v1", tags=["coordinator: reports"], responses=ERRORS)

Language = Query("en", alias="lang", description="en (English) or zh_Hans (Simplified Chinese)")


def html_response(rendered: report.RenderedReport) -> Response:
    """The page with its own CSP: no script at all, its one stylesheet allowed by hash."""
    return Response(
        rendered.html,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": rendered.csp},
    )


def pdf_response(study: Study, language: str, rendered: report.RenderedReport) -> Response:
    name = f"delphi-report-study-{study.id}-{language}.pdf"
    return Response(
        report.render_pdf(rendered),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


def rendered_for(
    session: Session, *, user: User, study_id: int, lang: str, kind: str
) -> tuple[Study, str, report.RenderedReport]:
    """Check the caller's access (404 for others' studies), render, and record it in the log."""
    language = report.language_of(lang)
    study = studies.study_for(session, user=user, study_id=study_id)
    write_now(
        session,
        lambda s: report.record(s, actor=user, study=study, language=language, kind=kind),
    )
    rendered = report.render_html(session, study=study, language=language)
    return study, language, rendered


@router.get(
    "/studies/{study_id}/report.html",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "The consensus report"}},
)
def report_html(
    study_id: PathId, session: SessionDep, user: CurrentCoordinator, lang: str = Language
) -> Response:
    _, _, rendered = rendered_for(session, user=user, study_id=study_id, lang=lang, kind="html")
    return html_response(rendered)


@router.get(
    "/studies/{study_id}/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The consensus report"}},
)
def report_pdf(
    study_id: PathId, session: SessionDep, user: CurrentCoordinator, lang: str = Language
) -> Response:
    study, language, rendered = rendered_for(
        session, user=user, study_id=study_id, lang=lang, kind="pdf"
    )
    return pdf_response(study, language, rendered)
