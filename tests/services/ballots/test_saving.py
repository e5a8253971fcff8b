"""Saving a ballot: refused once the round's deadline has passed, before any tick closes it."""

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from app.models import utcnow
from app.services import ballots
from app.services.errors import Conflict
from tests.services.builders import build_study


def test_ratings_after_the_deadline_are_refused_before_any_tick(session: Session) -> None:
    b = build_study(session, statements=1, panelists=2)
    b.open_round(closes_at=utcnow() + timedelta(minutes=5))
    entry = ballots.RatingInput(statement_id=b.statements[0].id, value=5)
    with pytest.raises(Conflict, match="deadline of round 1 passed"):
        ballots.save_ballot(
            session, panelist=b.panelists[0], entries=[entry], now=utcnow() + timedelta(minutes=6)
        )
