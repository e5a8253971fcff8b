"""Panelist endpoints: read and save the ballot of the open round."""

from fastapi import APIRouter

from app.api.responses import ERRORS
from app.contract import present, schemas
from app.http.deps import CurrentPanelist, SessionDep
from app.services import ballots

router = APIRouter(prefix="/api/v1", tags=["panelist"], responses=ERRORS)


@router.get("/ballot", response_model=schemas.Ballot)
def get_ballot(session: SessionDep, panelist: CurrentPanelist) -> schemas.Ballot:
    return present.ballot(ballots.get_ballot(session, panelist=panelist))


@router.put("/ballot", response_model=schemas.Ballot)
def put_ballot(
    body: schemas.BallotPut, session: SessionDep, panelist: CurrentPanelist
) -> schemas.Ballot:
    entries = [
        ballots.RatingInput(
            statement_id=r.statement_id,
            **{
                name: getattr(r, name)
                for name in ("value", "abstain", "comment", "strength")
                if name in r.model_fields_set
            },
        )
        for r in body.ratings
    ]
    view = ballots.save_ballot(
        session, panelist=panelist, entries=entries, submit=body.submit, round_id=body.round_id
    )
    return present.ballot(view)
