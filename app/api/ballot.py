"""Panelist endpoints: read and save the ballot of the open round."""

from fastapi import APIRouter

from app.api.responses import ERRORS
from app.contract import present, schemas
from app.http.deps import CurrentPanelist, SessionDep
from app.models import Panelist
from app.reports.report_methods import rule_sentence
from app.reports.words import Words
from app.services import ballots, rules
from app.templating import supported

router = APIRouter(prefix="/api/v1", tags=["panelist"], responses=ERRORS)


def _present(view: ballots.BallotView, panelist: Panelist) -> schemas.Ballot:
    """The ballot with its words (designs, the consensus rule) in the panelist's language."""
    words = Words(supported(panelist.language))
    study = view.study
    rule = rule_sentence(rules.consensus_rule(study), study.scale_min, study.scale_max, words)
    return present.ballot(view, language=panelist.language, gettext=words, consensus_in_words=rule)


@router.get("/ballot", response_model=schemas.Ballot)
def get_ballot(session: SessionDep, panelist: CurrentPanelist) -> schemas.Ballot:
    return _present(ballots.get_ballot(session, panelist=panelist), panelist)


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
    return _present(view, panelist)
