"""Console downloads of the data exports (cookie sign-in): the same files as the API's."""

from typing import Any, Literal

from fastapi import APIRouter, Request

from app.http.deps import SessionDep
from app.http.downloads import download
from app.http.paths import PathId
from app.services import studies
from app.web.console.common import ConsoleUser

router = APIRouter(include_in_schema=False)


@router.get("/console/studies/{study_id}/export.{kind}")
def export_file(
    request: Request,
    kind: Literal["csv", "xlsx", "json"],
    study_id: PathId,
    session: SessionDep,
    me: ConsoleUser,
) -> Any:
    """The pseudonymised ratings (csv), workbook (xlsx) or whole study (json), audited."""
    study = studies.study_for(session, user=me.user, study_id=study_id)
    return download(session, actor=me.user, study=study, kind=kind, via="console", request=request)


@router.get("/console/studies/{study_id}/panel.csv")
def panel_file(request: Request, study_id: PathId, session: SessionDep, me: ConsoleUser) -> Any:
    """Names and e-mail addresses behind the codes: coordinators only, audited."""
    study = studies.study_for(session, user=me.user, study_id=study_id)
    return download(
        session, actor=me.user, study=study, kind="panel", via="console", request=request
    )


@router.get("/console/studies/{study_id}/audit.csv")
def audit_file(request: Request, study_id: PathId, session: SessionDep, me: ConsoleUser) -> Any:
    """The study's audit log as a CSV, audited like every export."""
    study = studies.study_for(session, user=me.user, study_id=study_id)
    return download(
        session, actor=me.user, study=study, kind="audit", via="console", request=request
    )
