"""Coordinator endpoints for rounds: create, open, close, results."""

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, status
from sqlalchemy.orm import Session

from app.api.responses import ERRORS
from app.contract import present, schemas
from app.http.deps import CurrentCoordinator, SessionDep
from app.http.paths import PathId
from app.models import Round, Study, User
from app.scheduler import freeze_statistics
from app.services import outbox, results, rounds, studies

router = APIRouter(prefix="/api/v1", tags=["coordinator: rounds"], responses=ERRORS)


def _round_and_study(
    session: Session, *, user: User, round_id: int, write: bool = False
) -> tuple[Round, Study]:
    round_ = rounds.get_round(session, round_id=round_id)
    study = studies.owner_of(
        session, user=user, record=round_, label=f"Round {round_id}", write=write
    )
    return round_, study


@router.get("/studies/{study_id}/rounds", response_model=list[schemas.Round])
def list_rounds(study_id: PathId, session: SessionDep, user: CurrentCoordinator) -> list[Any]:
    study = studies.study_for(session, user=user, study_id=study_id)
    return [
        present.round_(rounds.get_round(session, round_id=r.id))
        for r in rounds.rounds_of(session, study=study)
    ]


@router.post(
    "/studies/{study_id}/rounds", status_code=status.HTTP_201_CREATED, response_model=schemas.Round
)
def create_round(
    study_id: PathId,
    session: SessionDep,
    user: CurrentCoordinator,
    body: schemas.RoundCreate | None = None,
) -> schemas.Round:
    study = studies.study_for(session, user=user, study_id=study_id, write=True)
    created = rounds.create_round(
        session,
        actor=user,
        study=study,
        statement_ids=body.statement_ids if body else None,
        asks_strength=body.asks_strength if body else None,
    )
    return present.round_(rounds.get_round(session, round_id=created.id))


@router.patch("/rounds/{round_id}", response_model=schemas.Round)
def patch_round(
    round_id: PathId, body: schemas.RoundPatch, session: SessionDep, user: CurrentCoordinator
) -> schemas.Round:
    round_, study = _round_and_study(session, user=user, round_id=round_id, write=True)
    rounds.ask_strength(
        session, actor=user, study=study, round_=round_, asks_strength=body.asks_strength
    )
    return present.round_(rounds.get_round(session, round_id=round_id))


@router.get("/rounds/{round_id}", response_model=schemas.Round)
def get_round(round_id: PathId, session: SessionDep, user: CurrentCoordinator) -> schemas.Round:
    round_, _ = _round_and_study(session, user=user, round_id=round_id)
    return present.round_(round_)


@router.post("/rounds/{round_id}/open", response_model=schemas.Round)
def open_round(
    round_id: PathId,
    session: SessionDep,
    user: CurrentCoordinator,
    body: schemas.RoundOpen | None = None,
) -> schemas.Round:
    round_, study = _round_and_study(session, user=user, round_id=round_id, write=True)
    rounds.open_round(
        session, actor=user, study=study, round_=round_, closes_at=body.closes_at if body else None
    )
    outbox.enqueue_round_opened(session, round_=round_)  # committed with the opening
    return present.round_(rounds.get_round(session, round_id=round_id))


@router.delete("/rounds/{round_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_round(round_id: PathId, session: SessionDep, user: CurrentCoordinator) -> None:
    """Delete a draft round (opened rounds are part of the study's record)."""
    round_, study = _round_and_study(session, user=user, round_id=round_id, write=True)
    rounds.delete_draft(session, actor=user, study=study, round_=round_)


@router.post("/rounds/{round_id}/close", response_model=schemas.Round)
def close_round(
    round_id: PathId, session: SessionDep, user: CurrentCoordinator, after: BackgroundTasks
) -> schemas.Round:
    _round_and_study(session, user=user, round_id=round_id, write=True)
    rounds.close_round(session, round_id=round_id, actor=user)
    after.add_task(freeze_statistics, [round_id])  # runs once the close has committed
    return present.round_(rounds.get_round(session, round_id=round_id))


@router.get("/rounds/{round_id}/results", response_model=schemas.RoundResults)
def round_results(
    round_id: PathId,
    session: SessionDep,
    user: CurrentCoordinator,
    tie_correction: Annotated[
        bool, Query(description="Kendall's W with the correction for tied ranks (default).")
    ] = True,
) -> schemas.RoundResults:
    round_, study = _round_and_study(session, user=user, round_id=round_id)
    res = results.round_results(session, study=study, round_=round_, tie_correction=tie_correction)
    return schemas.RoundResults.model_validate(res, from_attributes=True)
