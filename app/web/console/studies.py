"""Console pages for a study: create it, change its settings, see it, and its statements."""

from functools import partial
from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import Response

from app import models
from app.contract import schemas
from app.contract.fields import new_study_fields
from app.http.deps import SessionDep
from app.http.paths import PathId
from app.services import (
    advice,
    dashboard,
    panel,
    results,
    rounds,
    rules,
    stability,
    statements,
    studies,
)
from app.services.errors import DomainError
from app.web.console.common import (
    CheckedForm,
    ConsoleUser,
    Coordinator,
    done,
    page,
    refused,
    show_again,
)
from app.web.console.forms import RevisionForm, StatementForm, parse_form
from app.web.console.frozen_settings import method_shown_as_text, with_study_method
from app.web.console.study_form import NEW_STUDY, StudyForm, messages, typed_from

router = APIRouter(include_in_schema=False)

ZONES = sorted(available_timezones())
SETTINGS = "console/study_new.html"  # the set-up form, also for changing a study's settings


@router.get("/console")
def studies_page(request: Request, session: SessionDep, me: ConsoleUser) -> Response:
    return page(
        request,
        "console/studies.html",
        {"studies": studies.visible_studies(session, user=me.user)},
        coordinator=me,
    )


@router.get("/console/studies/new")
def new_study_page(request: Request, me: ConsoleUser) -> Response:
    return page(request, SETTINGS, {"typed": NEW_STUDY, "errors": []}, coordinator=me)


@router.post("/console/studies/new")
def create_study(
    request: Request, values: CheckedForm, session: SessionDep, me: ConsoleUser
) -> Response:
    context: dict[str, Any] = {"typed": values}
    try:
        body = schemas.StudyCreate.model_validate(parse_form(StudyForm, values).body())
        study = studies.create_study(session, actor=me.user, **new_study_fields(body))
    except ValidationError as exc:
        return _settings_refused(request, me, context, exc)
    except DomainError as exc:
        return show_again(
            request, session, me, exc, template=SETTINGS, build=partial(_with_error, context, exc)
        )
    return done(
        request,
        f"/console/studies/{study.id}",
        "Study created. Add statements and panelists, then create round 1.",
    )


def _settings_refused(
    request: Request, me: Coordinator, context: dict[str, Any], exc: ValidationError
) -> Response:
    """The settings form again when the schema refused it: nothing was written, nothing undone."""
    errors = {"errors": messages(exc)}
    return page(request, SETTINGS, {**context, **errors}, coordinator=me, status_code=422)


def _with_error(context: dict[str, Any], exc: DomainError) -> dict[str, Any]:
    return {**context, "errors": [exc.message]}


@router.get("/console/studies/{study_id}/edit")
def edit_study_page(
    study_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    context = {"typed": typed_from(study), "errors": [], **_frozen_method(study)}
    return page(request, SETTINGS, context, coordinator=me)


def _frozen_method(study: models.Study) -> dict[str, Any]:
    """What the settings page shows of a frozen method: it in words and its fingerprint."""
    return {
        "study": study,
        "rule_words": rules.rule_words(study),
        "stability_words": stability.rule_in_words(study),
        "fingerprint": studies.rules_fingerprint(study),
    }


@router.post("/console/studies/{study_id}/edit")
def edit_study(
    study_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    context = {"typed": values, **_frozen_method(study)}
    as_text = method_shown_as_text(study, values)
    try:
        form = parse_form(StudyForm, with_study_method(study, values) if as_text else values)
        fields = new_study_fields(schemas.StudyCreate.model_validate(form.body()))
        fields.pop("translations", None)  # not on this form: keep the study's own
        if not form.rule:
            fields.pop("rule")  # "the usual rule" leaves the current one as it is
        if as_text:  # the page showed the method as text: it stays the study's own
            fields = {k: v for k, v in fields.items() if k not in studies.PREREGISTERED}
        change = studies.change_settings(session, actor=me.user, study=study, fields=fields)
    except ValidationError as exc:
        return _settings_refused(request, me, context, exc)
    except DomainError as exc:
        return show_again(
            request, session, me, exc, template=SETTINGS, build=partial(_with_error, context, exc)
        )
    saved = "Settings saved." if change.changed else "Nothing changed."
    if change.table_reset:
        saved += " The grading table went back to the preset for the new evidence scheme."
    return done(request, f"/console/studies/{study.id}", saved)


def overview(session: Session, study: models.Study) -> dict[str, Any]:
    """The study page's context: its rules, statements, panel, rounds and what to do next."""
    statement_rows = statements.statements_of(session, study=study)
    panelists = panel.panelists_of(session, study=study)
    all_rounds = rounds.rounds_of(session, study=study)
    current = all_rounds[-1] if all_rounds else None
    last_closed = next((r for r in reversed(all_rounds) if r.status.value == "closed"), None)
    context: dict[str, Any] = {
        "study": study,
        "rule_words": rules.rule_words(study),
        "fingerprint": studies.rules_fingerprint(study),
        "statements": statement_rows,
        "panelists": panelists,
        "rounds": all_rounds,
        "current": current,
        "draft_items": set(),
        "next_items": [],
        "progress": None,
        "failed": "",
        "typed": {},
        "zones": ZONES,
    }
    if current is not None and current.status.value == "draft":  # the round being prepared
        context["draft_items"] = rounds.item_statement_ids(session, round_=current)
    undecided = []
    if current is None or current.status.value == "closed":
        undecided = rounds.carry_forward_reasons(session, study=study, after=last_closed)
    if len(all_rounds) < study.max_rounds:
        context["next_items"] = undecided
    context["next_round"] = dashboard.next_round_words(
        study=study, rounds=all_rounds, undecided=len(undecided)
    )
    if current is not None and current.status.value == "open":
        context["progress"] = dashboard.progress(session, study=study, round_=current)
    context["advice"] = None
    context["held_back"] = []
    if last_closed is not None and current is last_closed and study.finalized_at is None:
        context["advice"] = advice.after_round(session, study=study, round_=last_closed)
        context["held_back"] = rounds.held_back(session, study=study, after=last_closed)
    context["stability_words"] = stability.rule_in_words(study)
    return context


@router.get("/console/studies/{study_id}")
def study_page(
    study_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id)
    return page(request, "console/study.html", overview(session, study), coordinator=me)


def study_refused(
    request: Request,
    session: Session,
    me: Coordinator,
    study: models.Study,
    exc: DomainError,
    *,
    form: str = "",
    typed: dict[str, str] | None = None,
) -> Response:
    """The study page again, with the reason the action was refused."""
    return refused(
        request,
        session,
        me,
        study.id,
        exc,
        template="console/study.html",
        build=overview,
        form=form,
        typed=typed,
    )


@router.post("/console/studies/{study_id}/statements")
def add_statement(
    study_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        form = parse_form(StatementForm, values)
        new = statements.NewStatement(
            text=form.text,
            topic=form.topic or None,
            key=form.key or None,
            translations=form.translations(),
        )
        statements.add_statements(session, actor=me.user, study=study, items=[new])
    except DomainError as exc:
        return study_refused(request, session, me, study, exc, form="statement", typed=values)
    return done(request, f"/console/studies/{study.id}#statements", "Statement added.")


@router.post("/console/statements/{statement_id}/revise")
def revise_statement(
    statement_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    statement = statements.get_statement(session, statement_id=statement_id)
    study = studies.owner_of(
        session, user=me.user, record=statement, label=f"Statement {statement_id}", write=True
    )
    try:
        form = parse_form(RevisionForm, values)
        version = statements.revise_statement(
            session,
            actor=me.user,
            study=study,
            statement=statement,
            text=form.text,
            rationale=form.rationale,
            translations=form.translations(),
        )
    except DomainError as exc:
        revising = f"revise-{statement.id}"
        return study_refused(request, session, me, study, exc, form=revising, typed=values)
    return done(
        request,
        f"/console/studies/{study.id}#statements",
        f"{statement.key} revised (version {version.version}); the next round uses it.",
    )


@router.get("/console/statements/{statement_id}")
def statement_page(
    statement_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    """One statement's lineage: every wording with its rationale, and its figures per round."""
    statement = statements.get_statement(session, statement_id=statement_id)
    study = studies.owner_of(
        session, user=me.user, record=statement, label=f"Statement {statement_id}"
    )
    versions = {v.id: v for v in statement.versions}
    return page(
        request,
        "console/statement.html",
        {
            "study": study,
            "statement": statement,
            "versions": versions,
            "history": results.statement_history(session, statement_id=statement.id),
        },
        coordinator=me,
    )
