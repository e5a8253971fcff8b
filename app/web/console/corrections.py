"""Console pages that correct set-up mistakes: a source edited or deleted, a statement deleted
before round 1, a panelist's details corrected. Every delete asks first, on a page of its own."""

from typing import Any, get_args

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from app import models
from app.consensus.sources import DESIGNS, Amstar2
from app.http.deps import SessionDep
from app.http.paths import PathId
from app.services import evidence, panel, rounds, sources, statements, studies
from app.services.errors import DomainError
from app.templating import LANGUAGES
from app.web.console.common import CheckedForm, ConsoleUser, Coordinator, done, page, show_again
from app.web.console.correction_forms import (
    PanelistEditForm,
    source_document,
    source_typed,
)
from app.web.console.evidence_form import SourceForm
from app.web.console.forms import parse_form
from app.web.forms import ticked_ids

router = APIRouter(include_in_schema=False)
SOURCE_PAGE, PANELIST_PAGE, CONFIRM = (
    "console/source_edit.html",
    "console/panelist_edit.html",
    "console/confirm_delete.html",
)


def _source_context(
    session: Session, study: models.Study, source: models.EvidenceSource
) -> dict[str, Any]:
    linked = sources.linked(session, source=source)
    return {
        "study": study,
        "source": source,
        "statements": statements.statements_of(session, study=study),
        "designs": DESIGNS,
        "amstar2_ratings": get_args(Amstar2),
        "typed": source_typed(source, linked),
        "field_errors": {},
    }


@router.get("/console/sources/{source_id}/edit")
def source_page(
    source_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    source, study = evidence.source_for(session, user=me.user, source_id=source_id, write=True)
    return page(request, SOURCE_PAGE, _source_context(session, study, source), coordinator=me)


@router.post("/console/sources/{source_id}/edit")
def edit_source(
    source_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    """Checked by the API's own SourceCreate, so the same input is refused on both."""
    source, study = evidence.source_for(session, user=me.user, source_id=source_id, write=True)
    try:
        body = source_document(parse_form(SourceForm, values), source, ticked_ids(values, "for-"))
        sources.edit_source(
            session,
            actor=me.user,
            study=study,
            source=source,
            statement_ids=body.statement_ids,
            **body.model_dump(exclude={"statement_ids"}),
        )
    except DomainError as exc:
        return _source_again(request, session, me, exc, source_id, values)
    return done(
        request,
        f"/console/studies/{study.id}/evidence#sources",
        f"Source saved: {source.citation}. The evidence levels are computed again.",
    )


def _source_again(
    request: Request,
    session: Session,
    me: Coordinator,
    exc: DomainError,
    source_id: int,
    values: dict[str, str],
) -> Response:
    """The edit page again: the reason, each refused field's message beside it, as typed."""

    def again() -> dict[str, Any]:
        beside = {e["field"]: e["message"] for e in exc.errors if e.get("field")}
        source, study = evidence.source_for(session, user=me.user, source_id=source_id)
        context = _source_context(session, study, source)
        return {**context, "typed": values, "field_errors": beside, "error": exc.message}

    return show_again(request, session, me, exc, template=SOURCE_PAGE, build=again)


def _confirm(
    request: Request, me: Coordinator, context: dict[str, Any], status_code: int = 200
) -> Response:
    return page(request, CONFIRM, context, coordinator=me, status_code=status_code)


@router.get("/console/sources/{source_id}/delete")
def confirm_source_delete(
    source_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    source, study = evidence.source_for(session, user=me.user, source_id=source_id, write=True)
    keys = {s.id: s.key for s in statements.statements_of(session, study=study)}
    linked = [keys[i] for i in sources.linked(session, source=source)]
    consequences = [
        "The source leaves the evidence library; the audit log keeps its citation.",
        f"It no longer supports {', '.join(linked)}; their evidence levels are computed again "
        "without it."
        if linked
        else "It supports no statement, so no evidence level changes.",
    ]
    context = {
        "study": study,
        "heading": f"Delete the source “{source.citation}”?",
        "consequences": consequences,
        "action": f"/console/sources/{source.id}/delete",
        "button": "Delete the source",
        "cancel": f"/console/studies/{study.id}/evidence#sources",
        "refusal": "The study is finalized; nothing in it can change."
        if study.finalized_at
        else "",
    }
    return _confirm(request, me, context)


@router.post("/console/sources/{source_id}/delete")
def delete_source(
    source_id: PathId,
    request: Request,
    _form: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    source, study = evidence.source_for(session, user=me.user, source_id=source_id, write=True)
    citation = source.citation
    try:
        sources.delete_source(session, actor=me.user, study=study, source=source)
    except DomainError as exc:
        return _refused(request, session, me, exc, study)
    return done(
        request,
        f"/console/studies/{study.id}/evidence#sources",
        f"Source deleted: {citation}. The evidence levels are computed again.",
    )


def _refused(
    request: Request,
    session: Session,
    me: Coordinator,
    exc: DomainError,
    study: models.Study,
    back: str = "evidence#sources",
) -> Response:
    """A refused delete: the reason, on the confirmation page, without its button."""
    context = {
        "study": study,
        "heading": "Nothing was deleted",
        "consequences": [],
        "refusal": exc.message,
        "cancel": f"/console/studies/{study.id}/{back}",
    }
    return show_again(request, session, me, exc, template=CONFIRM, build=lambda: context)


@router.get("/console/statements/{statement_id}/delete")
def confirm_statement_delete(
    statement_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    statement = statements.get_statement(session, statement_id=statement_id)
    study = studies.owner_of(
        session, user=me.user, record=statement, label=f"Statement {statement_id}", write=True
    )
    drafts = [
        r.number
        for r in rounds.rounds_of(session, study=study)
        if r.status.value == "draft"
        and statement.id in rounds.item_statement_ids(session, round_=r)
    ]
    consequences = [
        f"{statement.key} and every wording it has had are removed; the audit log keeps its text.",
        "Its links to evidence sources and any level set by hand are removed; the sources stay "
        "in the library.",
    ]
    if drafts:
        consequences.append(
            f"It is taken off the draft of round {drafts[0]}; a draft left without statements "
            "is deleted too."
        )
    refusal = ""
    if study.rules_frozen_at is not None:
        refusal = (
            f"Round 1 has been opened, so {statement.key} is part of the study's record and "
            "cannot be deleted; leave it out of the next round instead."
        )
    context = {
        "study": study,
        "heading": f"Delete {statement.key}?",
        "quote": statement.current.text,
        "consequences": consequences,
        "action": f"/console/statements/{statement.id}/delete",
        "button": f"Delete {statement.key}",
        "cancel": f"/console/studies/{study.id}#statements",
        "refusal": refusal,
    }
    return _confirm(request, me, context, status_code=409 if refusal else 200)


@router.post("/console/statements/{statement_id}/delete")
def delete_statement(
    statement_id: PathId,
    request: Request,
    _form: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    statement = statements.get_statement(session, statement_id=statement_id)
    study = studies.owner_of(
        session, user=me.user, record=statement, label=f"Statement {statement_id}", write=True
    )
    try:
        deleted = statements.delete_statement(
            session, actor=me.user, study=study, statement=statement
        )
    except DomainError as exc:
        return _refused(request, session, me, exc, study, back="#statements")
    said = f"{deleted.key} deleted."
    for number in deleted.draft_rounds:
        emptied = number in deleted.emptied_drafts
        said += f" It was taken off the draft of round {number}" + (
            ", which held nothing else and was deleted too." if emptied else "."
        )
    return done(request, f"/console/studies/{study.id}#statements", said)


def _panelist_context(study: models.Study, member: models.Panelist) -> dict[str, Any]:
    typed = {
        "name": member.name,
        "email": member.email or "",
        "group": member.group or "",
        "language": member.language,
        "timezone": member.timezone or "",
    }
    return {
        "study": study,
        "panelist": member,
        "typed": typed,
        "languages": {code: LANGUAGES.get(code, code) for code in study.languages or ["en"]},
    }


def _panelist_again(
    request: Request,
    session: Session,
    me: Coordinator,
    exc: DomainError,
    panelist_id: int,
    values: dict[str, str],
) -> Response:
    """The panelist's page again with the reason and what was typed."""

    def again() -> dict[str, Any]:
        member, study = panel.panelist_for(session, user=me.user, panelist_id=panelist_id)
        return {**_panelist_context(study, member), "typed": values, "error": exc.message}

    return show_again(request, session, me, exc, template=PANELIST_PAGE, build=again)


@router.get("/console/panelists/{panelist_id}/edit")
def panelist_page(
    panelist_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    member, study = panel.panelist_for(session, user=me.user, panelist_id=panelist_id, write=True)
    return page(request, PANELIST_PAGE, _panelist_context(study, member), coordinator=me)


@router.post("/console/panelists/{panelist_id}/edit")
def edit_panelist(
    panelist_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    member, study = panel.panelist_for(session, user=me.user, panelist_id=panelist_id, write=True)
    try:
        form = parse_form(PanelistEditForm, values)
        changed = panel.edit_panelist(
            session, actor=me.user, study=study, panelist=member, changes=form.changes()
        )
    except DomainError as exc:
        return _panelist_again(request, session, me, exc, panelist_id, values)
    words = {"name": "name", "email": "e-mail address", "group": "group"}
    words |= {"language": "language", "timezone": "time zone"}
    said = (
        f"{member.code}: {', '.join(words[f] for f in changed)} saved."
        if changed
        else f"{member.code}: nothing changed."
    )
    return done(request, f"/console/studies/{study.id}#panel", said)
