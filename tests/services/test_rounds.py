"""The round lifecycle as coordinators meet it: carry-forward, revisions, deadlines, limits."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEntry, ResultSnapshot, RoundStatus, utcnow
from app.services import rounds, statements
from app.services.errors import Conflict
from tests.services.builders import build_study, vote


def test_next_round_holds_no_consensus_and_new_statements_with_their_latest_wording(
    session: Session,
) -> None:
    b = build_study(session, statements=3, panelists=4)
    s_for, s_split, s_against = b.statements
    r1 = b.open_round()
    vote(session, b, {s_for.id: [8, 8, 9, 9], s_split.id: [1, 9, 2, 8], s_against.id: [1, 1, 2, 2]})
    rounds.close_round(session, round_id=r1.id, actor=b.user)
    (added,) = statements.add_statements(
        session, actor=b.user, study=b.study, items=[statements.NewStatement(text="A new one")]
    )
    old_version = s_split.current.id
    new_version = statements.revise_statement(
        session,
        actor=b.user,
        study=b.study,
        statement=s_split,
        text="Clearer wording",
        rationale="Panelists found the dose ambiguous",
    )
    r2 = rounds.create_round(session, actor=b.user, study=b.study)
    assert [i.statement_id for i in r2.items] == [s_split.id, added.id]
    rounds.open_round(session, actor=b.user, study=b.study, round_=r2)
    frozen = {i.statement_id: i.version_id for i in rounds.get_round(session, round_id=r2.id).items}
    assert frozen[s_split.id] == new_version.id
    assert new_version.parent_id == old_version
    assert new_version.version == 2
    snapshot = session.scalars(
        select(ResultSnapshot).where(
            ResultSnapshot.round_id == r1.id, ResultSnapshot.statement_id == s_split.id
        )
    ).one()
    assert snapshot.version_id == old_version  # round 1's result keeps the wording it rated


def test_study_stops_when_nothing_is_left_to_rate(session: Session) -> None:
    b = build_study(session, statements=1, panelists=3)
    r1 = b.open_round()
    vote(session, b, {b.statements[0].id: [9, 9, 9]})
    rounds.close_round(session, round_id=r1.id, actor=b.user)
    with pytest.raises(Conflict, match="Nothing is left to rate"):
        rounds.create_round(session, actor=b.user, study=b.study)


def test_max_rounds_is_a_stopping_rule(session: Session) -> None:
    b = build_study(session, statements=1, panelists=3, max_rounds=1)
    r1 = b.open_round()
    vote(session, b, {b.statements[0].id: [1, 5, 9]})
    rounds.close_round(session, round_id=r1.id, actor=b.user)
    with pytest.raises(Conflict, match="at most 1 rounds"):
        rounds.create_round(session, actor=b.user, study=b.study)


def test_only_one_round_open_at_a_time(session: Session) -> None:
    b = build_study(session, statements=1, panelists=2)
    b.open_round()
    with pytest.raises(Conflict, match="Round 1 is still open"):
        rounds.create_round(session, actor=b.user, study=b.study)


def test_tick_closes_only_rounds_whose_deadline_passed(session: Session) -> None:
    due = build_study(session, statements=1, panelists=2, title="due")
    later = build_study(session, statements=1, panelists=2, title="later", email="b@example.org")
    r_due = due.open_round(closes_at=utcnow() + timedelta(hours=1))
    r_later = later.open_round(closes_at=utcnow() + timedelta(days=3))
    vote(session, due, {due.statements[0].id: [8, 9]})
    closed = rounds.close_due_rounds(session, now=utcnow() + timedelta(hours=2))
    assert closed == [r_due.id]
    session.refresh(r_due)
    session.refresh(r_later)
    assert (r_due.status, r_later.status) == (RoundStatus.closed, RoundStatus.open)
    assert r_due.responded == 2
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "round.close")).one()
    assert entry.detail["reason"] == "deadline"
    assert entry.actor_label == "system"
