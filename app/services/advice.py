"""Stopping advice after each round: the round's results and what would be carried forward,
judged by app.consensus.advice."""

from sqlalchemy.orm import Session

from app.consensus.advice import Advice, advise
from app.models import Round, Study
from app.services import results, rounds


def after_round(session: Session, *, study: Study, round_: Round) -> Advice:
    """What the coordinator should consider now that `round_` has closed."""
    res = results.round_results(session, study=study, round_=round_)
    carried = rounds.carried_forward(session, study=study, after=round_)
    return advise(res, max_rounds=study.max_rounds, carried_forward=len(carried))
