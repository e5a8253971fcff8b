"""Console pages for round control, results and the audit log."""

from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from app import models
from app.consensus import strength
from app.consensus.results import StatementResult
from app.http.deps import SessionDep
from app.http.paths import PathId
from app.scheduler import freeze_statistics
from app.services import audit, outbox, results, rounds, rules, studies
from app.services.errors import DomainError
from app.web.console.common import CheckedForm, ConsoleUser, Coordinator, done, page
from app.web.console.forms import parse_form
from app.web.console.round_form import DeadlineForm, StrengthForm
from app.web.console.studies import study_refused
from app.web.forms import ticked_ids

router = APIRouter(include_in_schema=False)
CLASSES = ("consensus_for", "consensus_against", "no_consensus")
# Results come in the study's order; "key" (the statement) keeps it, the others sort from it.
SORTS: dict[str, Callable[[StatementResult], Any]] = {
    "key": lambda _s: 0,
    "median": lambda s: -(s.median or 0),
    "agree": lambda s: -(s.pct_agree or 0),
    "iqr": lambda s: s.iqr if s.iqr is not None else 1e9,
}


def _round(
    session: Session, me: Coordinator, round_id: int, write: bool = False
) -> tuple[models.Round, models.Study]:
    round_ = rounds.get_round(session, round_id=round_id)
    study = studies.owner_of(
        session, user=me.user, record=round_, label=f"Round {round_id}", write=write
    )
    return round_, study


@router.post("/console/studies/{study_id}/rounds")
def create_round(
    study_id: PathId,
    request: Request,
    _form: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        created = rounds.create_round(session, actor=me.user, study=study)
    except DomainError as exc:
        return study_refused(request, session, me, study, exc)
    return done(
        request,
        f"/console/studies/{study.id}#rounds",
        f"Round {created.number} drafted. Check its statements, then open it.",
    )


@router.post("/console/rounds/{round_id}/items")
def set_items(
    round_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    round_, study = _round(session, me, round_id, write=True)
    try:
        chosen = ticked_ids(values, "item-")
        rounds.set_items(session, actor=me.user, study=study, round_=round_, statement_ids=chosen)
    except DomainError as exc:
        return study_refused(request, session, me, study, exc)
    return done(
        request,
        f"/console/studies/{study.id}#rounds",
        f"Round {round_.number} now holds {len(chosen)} statement(s).",
    )


@router.post("/console/rounds/{round_id}/strength")
def ask_strength(
    round_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    round_, study = _round(session, me, round_id, write=True)
    try:
        asks = parse_form(StrengthForm, values).asks_strength
        rounds.ask_strength(session, actor=me.user, study=study, round_=round_, asks_strength=asks)
    except DomainError as exc:
        return study_refused(request, session, me, study, exc)
    return done(
        request,
        f"/console/studies/{study.id}#rounds",
        f"Round {round_.number} "
        + ("will ask each recommendation's strength." if asks else "will not ask for strength."),
    )


@router.post("/console/rounds/{round_id}/delete")
def delete_round(
    round_id: PathId,
    request: Request,
    _form: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    round_, study = _round(session, me, round_id, write=True)
    try:
        rounds.delete_draft(session, actor=me.user, study=study, round_=round_)
    except DomainError as exc:
        return study_refused(request, session, me, study, exc)
    return done(request, f"/console/studies/{study.id}#rounds", "Draft round deleted.")


@router.post("/console/rounds/{round_id}/open")
def open_round(
    round_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    round_, study = _round(session, me, round_id, write=True)
    try:
        closes_at = parse_form(DeadlineForm, values).deadline()
        rounds.open_round(session, actor=me.user, study=study, round_=round_, closes_at=closes_at)
        outbox.enqueue_round_opened(session, round_=round_)  # committed with the opening
    except DomainError as exc:
        return study_refused(request, session, me, study, exc, form="open", typed=values)
    return done(
        request,
        f"/console/studies/{study.id}#rounds",
        f"Round {round_.number} is open; the study's rules are now frozen.",
    )


@router.post("/console/rounds/{round_id}/extend")
def extend(
    round_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    round_, study = _round(session, me, round_id, write=True)
    try:
        closes_at = parse_form(DeadlineForm, values).new_deadline()
        rounds.extend_deadline(
            session, actor=me.user, study=study, round_=round_, closes_at=closes_at
        )
    except DomainError as exc:
        return study_refused(request, session, me, study, exc, form="extend", typed=values)
    return done(request, f"/console/studies/{study.id}#rounds", "Deadline changed.")


@router.get("/console/rounds/{round_id}/close")
def confirm_close(
    round_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    round_, study = _round(session, me, round_id)
    live = (
        results.round_results(session, study=study, round_=round_)
        if round_.status.value == "open"
        else None
    )
    would_be = Counter(s.classification for s in live.statements) if live else Counter()
    return page(
        request,
        "console/close.html",
        {"round": round_, "study": study, "live": live, "would_be": would_be},
        coordinator=me,
    )


@router.post("/console/rounds/{round_id}/close")
def close(
    round_id: PathId,
    request: Request,
    _form: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
    after: BackgroundTasks,
) -> Response:
    round_, study = _round(session, me, round_id, write=True)
    try:
        rounds.close_round(session, round_id=round_.id, actor=me.user)
    except DomainError as exc:
        return study_refused(request, session, me, study, exc)
    after.add_task(freeze_statistics, [round_.id])  # runs once the close has committed
    return done(
        request,
        f"/console/rounds/{round_.id}/results",
        f"Round {round_.number} is closed and its results are frozen.",
    )


@router.get("/console/rounds/{round_id}/results")
def results_page(
    round_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    round_, study = _round(session, me, round_id)
    try:
        res = results.round_results(session, study=study, round_=round_)
    except DomainError as exc:
        return study_refused(request, session, me, study, exc)
    shown = list(res.statements)
    wanted = request.query_params.get("classification", "")
    if wanted in CLASSES:
        shown = [s for s in shown if s.classification == wanted]
    sort = request.query_params.get("sort", "key")
    shown = sorted(shown, key=SORTS.get(sort, SORTS["key"]))
    return page(
        request,
        "console/results.html",
        {
            "round": round_,
            "study": study,
            "res": res,
            "shown": shown,
            "sort": sort,
            "wanted": wanted,
            "classes": CLASSES,
            "texts": results.statement_texts(session, results=res),
            "comments": results.comments(session, round_id=round_.id),
            "strength_words": strength.describe_vote,
            "rule_words": rules.rule_words(study),
        },
        coordinator=me,
    )


@router.get("/console/studies/{study_id}/audit")
def audit_page(
    study_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id)
    return page(
        request,
        "console/audit.html",
        {"study": study, "entries": audit.entries(session, study_id=study.id)},
        coordinator=me,
    )
