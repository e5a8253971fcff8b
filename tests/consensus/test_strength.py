"""The strength vote: the panel's choice needs 70 % of the votes, and grading rows that use it."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.consensus import grading, strength
from app.consensus.rules import Classification
from app.consensus.strength import Strength


def test_a_plurality_is_not_the_panels_choice() -> None:
    # 6 of 21 votes (29 %) is the most frequent choice, but it does not speak for the panel.
    votes = {"strong_for": 6, "conditional_for": 5, "conditional_against": 5, "strong_against": 5}
    assert strength.panel_choice(votes) is None
    assert strength.describe_vote(votes) == (
        "no strength chosen by 70 % of the 21 votes (strong for 6, conditional for 5, "
        "conditional against 5, strong against 5)"
    )


def test_exactly_seventy_percent_is_the_panels_choice_and_one_vote_fewer_is_not() -> None:
    assert strength.panel_choice({"strong_for": 7, "conditional_for": 3}) == "strong_for"
    assert strength.describe_vote({"strong_for": 7, "conditional_for": 3}) == (
        "strong for (7 of 10 votes, 70 %)"
    )
    assert strength.panel_choice({"strong_for": 9, "conditional_for": 4}) is None  # 69.2 %


def test_no_votes_means_no_choice() -> None:
    assert strength.panel_choice({}) is None
    assert strength.describe_vote({}) == "no strength votes"


def test_an_unknown_choice_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="Unknown strength weak_for"):
        strength.votes({"weak_for": 3})


@given(st.dictionaries(st.sampled_from(strength.STRENGTHS), st.integers(0, 50)))
def test_the_choice_has_seventy_percent_and_no_other_strength_could(
    counts: dict[Strength, int],
) -> None:
    choice = strength.panel_choice(counts)
    total = sum(counts.values())
    if choice is None:
        assert all(n * 10 < 7 * total for n in counts.values()) or total == 0
    else:
        assert counts[choice] * 10 >= 7 * total > 0
        assert all(n * 10 < 7 * total for c, n in counts.items() if c != choice)


def _grade(
    table: grading.GradingTable,
    classification: Classification,
    agree: int,
    disagree: int,
    n: int,
    panel: Strength | None,
) -> grading.Grade:
    return grading.grade_for(
        table,
        level_code="high",
        classification=classification,
        agree_count=agree,
        disagree_count=disagree,
        n=n,
        panel_strength=panel,
    )


def test_with_the_panel_vote_strong_needs_the_panel_to_choose_strong() -> None:
    table = grading.grade_table(panel_strength=True)
    # 20 of 21 agree, so the percentage alone would make it strong; the panel chose conditional.
    assert _grade(table, "consensus_for", 20, 0, 21, "conditional_for").code == "conditional_for"
    strong = _grade(table, "consensus_for", 15, 0, 21, "strong_for")
    assert strong.code == "strong_for"
    assert "the panel chose strong for" in strong.reason


def test_without_a_panel_choice_a_row_that_asks_for_it_never_matches() -> None:
    table = grading.grade_table(panel_strength=True)
    tied = _grade(table, "consensus_for", 20, 0, 21, None)
    assert tied.code == "conditional_for"
    assert "the panel made no choice of strength" in tied.reason


def test_strong_against_mirrors_strong_for_with_the_panel_vote() -> None:
    table = grading.grade_table(panel_strength=True)
    assert _grade(table, "consensus_against", 0, 18, 21, "strong_against").code == "strong_against"
    assert _grade(table, "consensus_against", 0, 18, 21, "strong_for").code == (
        "conditional_against"
    )


def test_the_table_in_words_names_the_panels_choice() -> None:
    words = grading.describe_table(grading.grade_table(panel_strength=True))
    assert words[0] == (
        "Strong recommendation for when the certainty of evidence is high or moderate, the panel "
        "reached consensus for and the panel's choice of strength (at least 70 % of its votes) "
        "is strong for"
    )


def test_a_row_with_an_empty_strength_list_is_refused() -> None:
    with pytest.raises(ValueError, match="panel_strength_in is empty"):
        grading.GradingRow(panel_strength_in=[], grade="X")
