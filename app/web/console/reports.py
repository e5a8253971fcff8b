"""The consensus report from the console: the same HTML page and PDF as the API, cookie-signed."""

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.http.deps import SessionDep
from app.http.downloads import report_response
from app.http.paths import PathId
from app.web.console.common import ConsoleUser

router = APIRouter(include_in_schema=False)


@router.get("/console/studies/{study_id}/report.html")
def report_html(
    request: Request,
    study_id: PathId,
    session: SessionDep,
    me: ConsoleUser,
    lang: str = Query("en"),
) -> Response:
    return report_response(
        request, session, user=me.user, study_id=study_id, lang=lang, kind="html"
    )


@router.get("/console/studies/{study_id}/report.pdf")
def report_pdf(
    request: Request,
    study_id: PathId,
    session: SessionDep,
    me: ConsoleUser,
    lang: str = Query("en"),
) -> Response:
    return report_response(request, session, user=me.user, study_id=study_id, lang=lang, kind="pdf")
