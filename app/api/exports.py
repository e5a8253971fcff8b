"""Data export endpoints: pseudonymised CSV, XLSX and JSON; the panel's identities apart.

Each is audited, then streamed or served from the workbook's copy by app.http.downloads, which
the console shares.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from app.api.reports import BUSY
from app.api.responses import ERRORS
from app.http.deps import CurrentCoordinator, SessionDep
from app.http.downloads import EXPORTS, download
from app.http.paths import PathId
from app.services import studies

router = APIRouter(prefix="/api/v1", tags=["coordinator: exports"], responses=ERRORS)


def _docs(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {media_type: {}}, "description": description}}


@router.get(
    "/studies/{study_id}/export.csv",
    response_class=StreamingResponse,
    responses=_docs("text/csv", "Ratings in tidy long format, one row per saved rating."),
)
def export_csv_file(
    request: Request, study_id: PathId, session: SessionDep, user: CurrentCoordinator
) -> Any:
    """Every rating (round, statement, version, panelist code, group, value, comment, times)."""
    study = studies.study_for(session, user=user, study_id=study_id)
    return download(session, actor=user, study=study, kind="csv", via="api", request=request)


@router.get(
    "/studies/{study_id}/export.xlsx",
    response_class=StreamingResponse,
    responses={
        **_docs(EXPORTS["xlsx"].media_type, "The workbook: a sheet per part of the study."),
        **BUSY,
    },
)
def export_xlsx_file(
    request: Request, study_id: PathId, session: SessionDep, user: CurrentCoordinator
) -> Any:
    """Method, panel flow, results, ratings, comments, lineage, evidence, grades, audit log."""
    study = studies.study_for(session, user=user, study_id=study_id)
    return download(session, actor=user, study=study, kind="xlsx", via="api", request=request)


@router.get(
    "/studies/{study_id}/export.json",
    response_class=StreamingResponse,
    responses=_docs("application/json", "The complete study document with its schema_version."),
)
def export_json_file(
    request: Request, study_id: PathId, session: SessionDep, user: CurrentCoordinator
) -> Any:
    """The whole study as one JSON document (pseudonymised), its ratings array last."""
    study = studies.study_for(session, user=user, study_id=study_id)
    return download(session, actor=user, study=study, kind="json", via="api", request=request)


@router.get(
    "/studies/{study_id}/panel.csv",
    response_class=StreamingResponse,
    responses=_docs("text/csv", "Code, name, e-mail, group and language of every panelist."),
)
def export_panel_file(
    request: Request, study_id: PathId, session: SessionDep, user: CurrentCoordinator
) -> Any:
    """Who each code stands for: coordinators only (403 for observers), audited."""
    study = studies.study_for(session, user=user, study_id=study_id)
    return download(session, actor=user, study=study, kind="panel", via="api", request=request)
