"""The consensus report of a study, as an HTML page or a PDF (coordinators and observers).

The report is made once per state of the study and language, then served from that copy until
the study changes (app.reports.cache); making it takes one of a few heavy slots (app.heavy), and
when they stay taken the answer is 429 with Retry-After. Every report taken is audited once,
whether it was made for this request or found ready.
"""

from typing import Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from app import heavy
from app.api.deps import CurrentCoordinator, SessionDep
from app.api.responses import ERRORS, ErrorBody
from app.api.schemas import PathId
from app.db import write_now
from app.models import User
from app.reports import cache, report
from app.services import studies

router = APIRouter(prefix="/api/v1", tags=["coordinator: reports"], responses=ERRORS)

Language = Query("en", alias="lang", description="en (English) or zh_Hans (Simplified Chinese)")

BUSY: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorBody,
        "description": "Every slot for reports and workbooks stayed taken; try again after the "
        "seconds in the Retry-After header. Nothing was recorded.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    }
}


def report_response(
    request: Request, session: Session, *, user: User, study_id: int, lang: str, kind: str
) -> Response:
    """Check access (404 for others' studies), find or make the copy, audit it, answer with it."""
    language = report.language_of(lang)
    study = studies.study_for(session, user=user, study_id=study_id)
    session.commit()  # nothing to commit: its connection goes back to the pool meanwhile
    try:
        copy = cache.copy_of(
            study_id=study.id,
            kind=f"report.{kind}",
            language=language,
            deadline=heavy.deadline_of(request.state),
        )
    except heavy.Busy as busy:
        return heavy.busy_response(request.url.path, busy.retry_after)
    try:
        write_now(
            session,
            lambda s: report.record(s, actor=user, study=study, language=language, kind=kind),
        )
    except BaseException:
        copy.file.close()
        raise
    if kind == "html":
        csp = report.RenderedReport(html="", style_hash=copy.meta["style_hash"]).csp
        return Response(
            copy.read(),
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": csp},
        )
    name = f"delphi-report-study-{study.id}-{language}.pdf"
    return Response(
        copy.read(),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


@router.get(
    "/studies/{study_id}/report.html",
    response_class=Response,
    responses={
        200: {"content": {"text/html": {}}, "description": "The consensus report"},
        **BUSY,
    },
)
def report_html(
    request: Request,
    study_id: PathId,
    session: SessionDep,
    user: CurrentCoordinator,
    lang: str = Language,
) -> Response:
    return report_response(request, session, user=user, study_id=study_id, lang=lang, kind="html")


@router.get(
    "/studies/{study_id}/report.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The consensus report"},
        **BUSY,
    },
)
def report_pdf(
    request: Request,
    study_id: PathId,
    session: SessionDep,
    user: CurrentCoordinator,
    lang: str = Language,
) -> Response:
    return report_response(request, session, user=user, study_id=study_id, lang=lang, kind="pdf")
