"""Builders for service tests: a study with statements and a panel, through the services."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.models import Panelist, Round, Statement, Study, User
from app.services import accounts, ballots, panel, rounds, statements, studies


@dataclass
class Built:
    session: Session
    user: User
    study: Study
    statements: list[Statement]
    panelists: list[Panelist]

    def open_round(self, closes_at: datetime | None = None) -> Round:
        round_ = rounds.create_round(self.session, actor=self.user, study=self.study)
        return rounds.open_round(
            self.session, actor=self.user, study=self.study, round_=round_, closes_at=closes_at
        )


def build_study(
    session: Session,
    *,
    statements: int,
    panelists: int,
    groups: list[str] | None = None,
    email: str = "a@example.org",
    **fields: Any,
) -> Built:
    user = accounts.create_user(session, email=email, password="long enough")
    study = studies.create_study(
        session,
        actor=user,
        **{
            "title": "Study",
            "scale_min": 1,
            "scale_max": 9,
            "scale_labels": {},
            "rule": {"rule": "comet_70_15"},
            **fields,
        },
    )
    made = statements_service_add(session, user, study, statements)
    invitations = panel.add_panelists(
        session,
        actor=user,
        study=study,
        items=[
            panel.NewPanelist(name=f"P{i}", group=groups[i % len(groups)] if groups else None)
            for i in range(panelists)
        ],
    )
    return Built(session, user, study, made, [i.panelist for i in invitations])


def statements_service_add(
    session: Session, user: User, study: Study, count: int
) -> list[Statement]:
    made = statements.add_statements(
        session,
        actor=user,
        study=study,
        items=[statements.NewStatement(text=f"Statement {i}") for i in range(1, count + 1)],
    )
    for statement in made:
        session.refresh(statement, ["versions"])
    return made


def vote(session: Session, built: Built, values: dict[int, list[int]]) -> None:
    """values: statement id -> one value per panelist, in panel order."""
    for index, panelist in enumerate(built.panelists):
        entries = [
            ballots.RatingInput(statement_id=sid, value=column[index])
            for sid, column in values.items()
            if index < len(column)
        ]
        if entries:
            ballots.save_ballot(session, panelist=panelist, entries=entries)
