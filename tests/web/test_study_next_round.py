"""The study page's sentence about a further round says what is true in every state: a round
open, every statement decided, the maximum of rounds reached, some statements undecided."""

import pytest
from sqlalchemy.orm import Session

from app.services import rounds
from app.web.console.studies import overview
from tests.services.builders import Built, build_study, vote

AGREE, SPLIT = [8, 8, 9, 9], [1, 9, 1, 9]


def _sentence(b: Built) -> str | None:
    sentence = overview(b.session, b.study)["next_round"]
    assert sentence is None or isinstance(sentence, str)
    return sentence


def _round(b: Built, first: list[int], second: list[int]) -> None:
    round_ = b.open_round()
    vote(b.session, b, {b.statements[0].id: first, b.statements[1].id: second})
    rounds.close_round(b.session, round_id=round_.id, actor=b.user)


@pytest.fixture
def built(session: Session) -> Built:
    return build_study(session, statements=2, panelists=4, max_rounds=2)


def test_while_a_round_is_open_the_page_does_not_claim_every_statement_was_decided(
    built: Built,
) -> None:
    assert _sentence(built) is None  # before round 1 the page offers to create it
    built.open_round()
    sentence = _sentence(built)
    assert sentence == "Round 1 is open. Whether a round 2 is needed is known once it closes."


def test_some_statements_undecided_name_the_next_round(built: Built) -> None:
    _round(built, AGREE, SPLIT)
    assert _sentence(built) == "Round 2 would ask about 1 statement(s) still without consensus."


def test_every_statement_decided(built: Built) -> None:
    _round(built, AGREE, AGREE)
    assert _sentence(built) == (
        "No further round is needed: every statement reached consensus or was dropped."
    )


def test_the_last_round_open_and_then_the_maximum_reached(built: Built) -> None:
    _round(built, AGREE, SPLIT)
    built.open_round()
    assert _sentence(built) == (
        "Round 2 is open, the last of the study's 2 rounds: no further round after it."
    )
    (round_2,) = [r for r in rounds.rounds_of(built.session, study=built.study) if r.number == 2]
    vote(built.session, built, {built.statements[1].id: SPLIT})
    rounds.close_round(built.session, round_id=round_2.id, actor=built.user)
    assert _sentence(built) == (
        "No further round: the study has reached its maximum of 2 rounds; 1 statement(s) "
        "remain without consensus."
    )
