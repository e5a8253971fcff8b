"""The consensus report from the console: the same HTML page and PDF as the API, cookie-signed."""

from fastapi import APIRouter, Query
from starlette.responses import Response

from app.api.deps import SessionDep
from app.api.reports import html_response, pdf_response, rendered_for
from app.api.schemas import PathId
from app.web.console.common import ConsoleUser

router = APIRouter(include_in_schema=False)


@router.get("/console/studies/{study_id}/report.html")
def report_html(
    study_id: PathId, session: SessionDep, me: ConsoleUser, lang: str = Query("en")
) -> Response:
    _, _, rendered = rendered_for(session, user=me.user, study_id=study_id, lang=lang, kind="html")
    return html_response(rendered)


@router.get("/console/studies/{study_id}/report.pdf")
def report_pdf(
    study_id: PathId, session: SessionDep, me: ConsoleUser, lang: str = Query("en")
) -> Response:
    study, language, rendered = rendered_for(
        session, user=me.user, study_id=study_id, lang=lang, kind="pdf"
    )
    return pdf_response(study, language, rendered)
