"""Statements: a revision must change the wording."""

import pytest
from sqlalchemy.orm import Session

from app.services import statements
from app.services.errors import Invalid
from tests.services.builders import build_study


def test_a_revision_identical_to_the_current_wording_is_refused(session: Session) -> None:
    b = build_study(session, statements=1, panelists=1)
    statement = b.statements[0]
    with pytest.raises(Invalid, match="same as the current one"):
        statements.revise_statement(
            session,
            actor=b.user,
            study=b.study,
            statement=statement,
            text=statement.current.text,
            rationale="no change",
        )
