"""Console downloads of the data exports (cookie sign-in): the same files as the API's."""

from typing import Any, Literal

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.http.deps import SessionDep
from app.http.downloads import download
from app.http.paths import PathId
from app.models import utcnow
from app.reports import export_csv, exports
from app.services import link_sheet, studies
from app.services.errors import DomainError
from app.web.console.common import CheckedForm, ConsoleUser
from app.web.console.forms import LinksForm, parse_form
from app.web.console.studies import study_refused

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


@router.post("/console/studies/{study_id}/links.csv")
def links_file(
    request: Request, study_id: PathId, form: CheckedForm, session: SessionDep, me: ConsoleUser
) -> Response:
    """The personal links the page just showed, as a CSV for a mail merge; coordinators only.

    The links come back from that page's form (they are stored only as keyed hashes, so no other
    copy exists) and are checked against the study's live links: see app.services.link_sheet.
    The file is made in memory, never written to disk nor kept by the browser, and the audit log
    names the codes, never a link.
    """
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        links = parse_form(LinksForm, form).urls()
        shown = link_sheet.links_sheet(session, actor=me.user, study=study, links=links)
    except DomainError as exc:
        return study_refused(request, session, me, study, exc)
    name = exports.filename(study, "personal-links", "csv", on=utcnow())
    return Response(
        export_csv.links_csv(shown),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
