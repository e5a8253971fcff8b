"""Studies: the rules freeze when round one opens."""

import pytest
from sqlalchemy.orm import Session

from app.services import studies
from app.services.errors import Conflict
from tests.services.builders import build_study


def test_rules_can_change_until_round_one_opens(session: Session) -> None:
    b = build_study(session, statements=1, panelists=2)
    studies.update_study(
        session,
        actor=b.user,
        study=b.study,
        changes={"rule": {"rule": "percent_agreement", "threshold": 80}},
    )
    assert b.study.rule["threshold"] == 80
    b.open_round()
    assert b.study.rules_frozen_at is not None
    with pytest.raises(Conflict, match="frozen"):
        studies.update_study(session, actor=b.user, study=b.study, changes={"max_rounds": 5})
