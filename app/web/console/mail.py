"""Console pages for e-mail: the study's outbox with each message's full delivery history."""

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.http.deps import SessionDep
from app.http.paths import PathId
from app.models import Study
from app.services import deliveries, outbox, studies
from app.services.errors import DomainError
from app.settings import get_settings
from app.web.console.common import CheckedForm, ConsoleUser, Coordinator, done, page, refused
from app.web.console.forms import RetryFailedForm, parse_form
from app.web.console.studies import study_refused

router = APIRouter(include_in_schema=False)


@router.get("/console/studies/{study_id}/outbox")
def outbox_page(
    study_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    # Held messages carry personal links: coordinators only, never observers.
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    return page(request, "console/outbox.html", _outbox(session, study), coordinator=me)


def _outbox(session: Session, study: Study) -> dict[str, Any]:
    """The outbox page's context: the messages with their histories, and whether SMTP is set."""
    return {
        "study": study,
        "views": deliveries.messages_for(session, study=study),
        "smtp": bool(get_settings().smtp_host),
        "failed": deliveries.failed_counts(session, study=study),
    }


@router.post("/console/studies/{study_id}/outbox/invite")
def invite(
    study_id: PathId,
    request: Request,
    _form: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    """Invite every panelist who has not had an invitation yet."""
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    queued = outbox.invite_uninvited(session, actor=me.user, study=study)
    return done(
        request,
        f"/console/studies/{study.id}/outbox",
        f"{len(queued)} invitation(s) queued; they are sent within a minute.",
    )


@router.post("/console/studies/{study_id}/outbox/closing-soon")
def closing_soon(
    study_id: PathId,
    request: Request,
    _form: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    queued = outbox.closing_soon_now(session, actor=me.user, study=study)
    if queued is None:
        return done(request, f"/console/studies/{study.id}/outbox", "No round is open.")
    return done(
        request,
        f"/console/studies/{study.id}/outbox",
        f"{len(queued)} 'closing soon' message(s) queued for panelists who have not submitted.",
    )


@router.post("/console/studies/{study_id}/outbox/requeue")
def requeue_held(
    study_id: PathId,
    request: Request,
    _form: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        count = deliveries.requeue_held(session, actor=me.user, study=study)
    except DomainError as exc:
        return study_refused(request, session, me, study, exc)
    return done(request, f"/console/studies/{study.id}/outbox", f"{count} message(s) queued again.")


@router.post("/console/studies/{study_id}/outbox/retry-failed")
def retry_failed(
    study_id: PathId,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    """Send every failed message of one kind again; their histories keep the failed tries."""
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        kind = parse_form(RetryFailedForm, form).kind
        count = deliveries.requeue_failed(session, actor=me.user, study=study, kind=kind)
    except DomainError as exc:
        return _outbox_refused(request, session, me, study, exc)
    return done(
        request,
        f"/console/studies/{study.id}/outbox",
        f"{count} failed message(s) queued again; they are sent within a minute.",
    )


@router.post("/console/studies/{study_id}/outbox/{message_id}/requeue")
def requeue_one(
    study_id: PathId,
    message_id: PathId,
    request: Request,
    _form: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    """Send one held or failed message again; its history keeps every earlier try."""
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        deliveries.requeue(session, actor=me.user, message_id=message_id, study=study)
    except DomainError as exc:
        return _outbox_refused(request, session, me, study, exc)
    return done(
        request,
        f"/console/studies/{study.id}/outbox",
        "The message is queued again; it is sent within a minute.",
    )


def _outbox_refused(
    request: Request, session: Session, me: Coordinator, study: Study, exc: DomainError
) -> Response:
    """The outbox page again, saying why the action was refused."""
    return refused(
        request, session, me, study.id, exc, template="console/outbox.html", build=_outbox
    )
