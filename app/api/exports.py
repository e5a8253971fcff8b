"""Data export endpoints: pseudonymised CSV, XLSX and JSON; the panel's identities apart.

Each export is recorded in the audit log in the request's transaction, which commits before the
body starts; the body then streams from a read transaction of its own (app.reports.exports).
The workbook is heavy work: made once per state of the study in one of a few slots, then served
from that copy until the study changes (app.reports.cache), or 429 with Retry-After when the
slots stay taken (app.heavy); it is audited once it is ready, also when it was found ready.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from app import heavy
from app.api.deps import CurrentCoordinator, SessionDep
from app.api.reports import BUSY
from app.api.responses import ERRORS
from app.api.schemas import PathId
from app.db import write_now
from app.models import Study, User, utcnow
from app.reports import cache, export_csv, export_json, export_xlsx, exports
from app.services import studies

router = APIRouter(prefix="/api/v1", tags=["coordinator: exports"], responses=ERRORS)


@dataclass(frozen=True, slots=True)
class Export:
    what: str  # in the file name
    extension: str
    media_type: str
    body: Callable[..., Iterator[bytes]]


EXPORTS = {
    "csv": Export("ratings", "csv", "text/csv; charset=utf-8", export_csv.ratings_csv),
    "xlsx": Export(
        "data",
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        export_xlsx.xlsx,
    ),
    "json": Export("data", "json", "application/json", export_json.json_document),
    "panel": Export("panel-identities", "csv", "text/csv; charset=utf-8", export_csv.panel_csv),
}


def download(
    session: Session, *, actor: User, study: Study, kind: str, via: str, request: Request
) -> Response:
    """Audit the export, then stream it as an attachment (shared with the console)."""
    export = EXPORTS[kind]
    name = exports.filename(study, export.what, export.extension, on=utcnow())
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
    }
    if kind != "xlsx":
        write_now(
            session,
            lambda s: exports.record_export(s, actor=actor, study=study, kind=kind, via=via),
        )
        return StreamingResponse(
            export.body(study_id=study.id), media_type=export.media_type, headers=headers
        )
    session.commit()  # nothing to commit: its connection goes back to the pool meanwhile
    try:
        copy = cache.copy_of(
            study_id=study.id,
            kind="export.xlsx",
            language="any",
            deadline=heavy.deadline_of(request.state),
        )
    except heavy.Busy as busy:
        return heavy.busy_response(request.url.path, busy.retry_after)
    try:
        write_now(
            session,
            lambda s: exports.record_export(s, actor=actor, study=study, kind=kind, via=via),
        )
    except BaseException:
        copy.file.close()
        raise
    headers["Content-Length"] = str(copy.size)
    return StreamingResponse(copy.chunks(), media_type=export.media_type, headers=headers)


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
