"""The consensus report of a study, as an HTML page or a PDF (coordinators and observers).

The copy is found or made, audited and answered by app.http.downloads, which the console shares;
when the heavy slots stay taken the answer is 429 with Retry-After.
"""

from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.api.responses import ERRORS, ErrorBody
from app.http.deps import CurrentCoordinator, SessionDep
from app.http.downloads import report_response
from app.http.paths import PathId

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
