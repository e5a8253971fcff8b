"""The finished demo behind `make sample-report` and the PDF benchmark builds end to end."""

from sqlalchemy.orm import Session

from app.services import rounds
from app.tools.report_demo import finish_demo


def test_finished_demo_runs_three_rounds_and_is_finalized(session: Session) -> None:
    study = finish_demo(session)
    every_round = rounds.rounds_of(session, study=study)
    assert study.finalized_at is not None
    assert len(every_round) == 3
    assert all(r.closed_at is not None for r in every_round)
    assert finish_demo(session).id == study.id  # asking again returns the same finished study
