"""The round lifecycle as coordinators meet it: carry-forward, revisions, deadlines, limits."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.models import AuditEntry, ResultSnapshot, Round, RoundStatus, utcnow
from app.services import ballots, rounds, statements, studies
from app.services.errors import Conflict
from tests.services.builders import build_study, vote


def test_next_round_holds_no_consensus_and_new_statements_with_their_latest_wording(session):
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
    assert new_version.parent_id == old_version and new_version.version == 2
    snapshot = session.scalar(
        select(ResultSnapshot).where(
            ResultSnapshot.round_id == r1.id, ResultSnapshot.statement_id == s_split.id
        )
    )
    assert snapshot.version_id == old_version  # round 1's result keeps the wording it rated


def test_study_stops_when_nothing_is_left_to_rate(session):
    b = build_study(session, statements=1, panelists=3)
    r1 = b.open_round()
    vote(session, b, {b.statements[0].id: [9, 9, 9]})
    rounds.close_round(session, round_id=r1.id, actor=b.user)
    with pytest.raises(Conflict, match="Nothing is left to rate"):
        rounds.create_round(session, actor=b.user, study=b.study)


def test_max_rounds_is_a_stopping_rule(session):
    b = build_study(session, statements=1, panelists=3, max_rounds=1)
    r1 = b.open_round()
    vote(session, b, {b.statements[0].id: [1, 5, 9]})
    rounds.close_round(session, round_id=r1.id, actor=b.user)
    with pytest.raises(Conflict, match="at most 1 rounds"):
        rounds.create_round(session, actor=b.user, study=b.study)


def test_only_one_round_open_at_a_time(session):
    b = build_study(session, statements=1, panelists=2)
    b.open_round()
    with pytest.raises(Conflict, match="Round 1 is still open"):
        rounds.create_round(session, actor=b.user, study=b.study)


def test_rules_can_change_until_round_one_opens(session):
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


def test_tick_closes_only_rounds_whose_deadline_passed(session):
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
    assert entry.detail["reason"] == "deadline" and entry.actor_label == "system"


def test_ratings_after_the_deadline_are_refused_before_any_tick(session):
    b = build_study(session, statements=1, panelists=2)
    b.open_round(closes_at=utcnow() + timedelta(minutes=5))
    entry = ballots.RatingInput(statement_id=b.statements[0].id, value=5)
    with pytest.raises(Conflict, match="deadline of round 1 passed"):
        ballots.save_ballot(
            session, panelist=b.panelists[0], entries=[entry], now=utcnow() + timedelta(minutes=6)
        )


def test_results_count_abstentions_apart_and_report_response_rate(session):
    from app.services.results import round_results

    b = build_study(session, statements=1, panelists=5)
    r1 = b.open_round()
    sid = b.statements[0].id
    for p, value in zip(b.panelists[:3], [7, 8, 9], strict=True):
        ballots.save_ballot(session, panelist=p, entries=[ballots.RatingInput(sid, value=value)])
    ballots.save_ballot(
        session, panelist=b.panelists[3], entries=[ballots.RatingInput(sid, abstain=True)]
    )
    live = round_results(session, study=b.study, round_=r1)
    assert live.provisional is True
    rounds.close_round(session, round_id=r1.id, actor=b.user)
    final = round_results(session, study=b.study, round_=session.get(Round, r1.id))
    (row,) = final.statements
    assert (row.n, row.abstained, row.median) == (3, 1, 8.0)
    assert row.classification == "consensus_for"
    assert (final.invited, final.responded, final.response_rate) == (5, 4, 0.8)
    assert final.provisional is False
    assert final.rule["rule"] == "comet_70_15" and final.rule["quantile_method"] == "type7"


def test_require_all_groups_blocks_consensus_when_one_group_dissents(session):
    from app.services.results import round_results

    b = build_study(
        session,
        statements=1,
        panelists=6,
        groups=["clinicians", "patients"],
        rule={"rule": "percent_agreement", "threshold": 60, "require_all_groups": True},
    )
    r1 = b.open_round()
    # clinicians (panelists 0, 2, 4) agree; patients (1, 3, 5) do not
    vote(session, b, {b.statements[0].id: [9, 2, 9, 5, 9, 8]})
    rounds.close_round(session, round_id=r1.id, actor=b.user)
    (row,) = round_results(session, study=b.study, round_=r1).statements
    assert row.pct_agree == pytest.approx(400 / 6)
    assert row.groups["clinicians"].classification == "consensus_for"
    assert row.groups["patients"].classification == "no_consensus"
    assert row.classification == "no_consensus"


def test_a_revision_identical_to_the_current_wording_is_refused(session):
    from app.services.errors import Invalid

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
