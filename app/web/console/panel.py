"""Console pages for a study's panel and team: add panelists, new links, withdrawals, members."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from app import models
from app.http.deps import SessionDep
from app.http.paths import PathId
from app.services import accounts, panel, studies
from app.services.errors import DomainError
from app.web.console.common import CheckedForm, ConsoleUser, Coordinator, done, page
from app.web.console.forms import MemberForm, PanelistForm, parse_form
from app.web.console.studies import study_refused

router = APIRouter(include_in_schema=False)


@router.post("/console/studies/{study_id}/panelists")
def add_panelist(
    study_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        form = parse_form(PanelistForm, values)
        new = panel.NewPanelist(
            name=form.name,
            email=form.email or None,
            group=form.group or None,
            language=form.language or None,
            timezone=form.timezone or None,
        )
        (invitation,) = panel.add_panelists(session, actor=me.user, study=study, items=[new])
    except DomainError as exc:
        return study_refused(request, session, me, study, exc, form="panelist", typed=values)
    return _links_page(request, me, study, invitation, heading=f"{invitation.panelist.code} added")


@router.post("/console/studies/{study_id}/members")
def add_member(
    study_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        form = parse_form(MemberForm, values)
        member = accounts.add_member(session, actor=me.user, study=study, email=form.email)
    except DomainError as exc:
        return study_refused(request, session, me, study, exc)
    return done(request, f"/console/studies/{study.id}", f"{member.email} can now see this study.")


@router.post("/console/panelists/{panelist_id}/link")
def new_link(
    panelist_id: PathId,
    request: Request,
    _form: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    member, study = panel.panelist_for(session, user=me.user, panelist_id=panelist_id, write=True)
    try:
        invitation = panel.reissue_link(session, actor=me.user, study=study, panelist=member)
    except DomainError as exc:
        return study_refused(request, session, me, study, exc)
    return _links_page(
        request,
        me,
        study,
        invitation,
        heading=f"New personal link for {member.code}",
        note="The old links stop working.",
    )


def _links_page(
    request: Request,
    me: Coordinator,
    study: models.Study,
    invitation: panel.Invitation,
    *,
    heading: str,
    note: str = "",
) -> Response:
    """A personal link is shown on the answer itself, never carried in the (signed) flash cookie."""
    return page(
        request,
        "console/import_links.html",
        {"study": study, "invitations": [invitation], "heading": heading, "note": note},
        coordinator=me,
        status_code=201,
    )


@router.post("/console/panelists/{panelist_id}/withdraw")
def withdraw(
    panelist_id: PathId,
    request: Request,
    _form: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    member, study = panel.panelist_for(session, user=me.user, panelist_id=panelist_id, write=True)
    try:
        panel.withdraw(session, actor=me.user, study=study, panelist=member)
    except DomainError as exc:
        return study_refused(request, session, me, study, exc)
    return done(
        request,
        f"/console/studies/{study.id}#panel",
        f"{member.code} has withdrawn; their earlier answers are kept.",
    )
