"""A study's consensus rule is parsed in one place, once, and said in words on its scale."""

from sqlalchemy.orm import Session

from app.consensus import PercentAgreement, describe
from app.services.rules import consensus_rule, rule_words
from tests.services.builders import build_study


def test_a_study_rule_is_parsed_once_and_again_only_when_it_changes(session: Session) -> None:
    b = build_study(session, statements=1, panelists=1)
    first = consensus_rule(b.study)
    assert consensus_rule(b.study) is first
    b.study.rule = {"rule": "percent_agreement", "threshold": 80}
    changed = consensus_rule(b.study)
    assert isinstance(changed, PercentAgreement)
    assert changed.threshold == 80


def test_the_rule_in_words_is_the_rule_described_on_the_study_scale(session: Session) -> None:
    b = build_study(
        session,
        statements=1,
        panelists=1,
        scale_max=5,
        rule={"rule": "percent_agreement", "threshold": 80},
    )
    assert rule_words(b.study) == describe(PercentAgreement(threshold=80), 1, 5)
    assert "at least 80 % of the ratings are 4–5" in rule_words(b.study)
