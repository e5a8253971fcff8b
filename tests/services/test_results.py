"""Round results: abstentions counted apart, response rate, and group rules."""

import pytest
from sqlalchemy.orm import Session

from app.models import Round
from app.services import ballots, rounds
from app.services.results import round_results
from tests.services.builders import build_study, vote


def test_results_count_abstentions_apart_and_report_response_rate(session: Session) -> None:
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
    final = round_results(session, study=b.study, round_=session.get_one(Round, r1.id))
    (row,) = final.statements
    assert (row.n, row.abstained, row.median) == (3, 1, 8.0)
    assert row.classification == "consensus_for"
    assert (final.invited, final.responded, final.response_rate) == (5, 4, 0.8)
    assert final.provisional is False
    assert final.rule["rule"] == "comet_70_15"
    assert final.rule["quantile_method"] == "type7"


def test_require_all_groups_blocks_consensus_when_one_group_dissents(session: Session) -> None:
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
