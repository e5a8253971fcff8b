"""The strength vote: the panel's modal choice, ties left unbroken, and grading rows that use it."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.consensus import grading, strength


def test_modal_is_the_single_most_frequent_choice():
    assert strength.modal({"strong_for": 9, "conditional_for": 6, "strong_against": 1}) == (
        "strong_for"
    )


def test_a_tie_at_the_top_has_no_modal_choice_and_says_so():
    votes = {"strong_for": 7, "conditional_for": 7, "conditional_against": 2}
    assert strength.modal(votes) is None
    assert strength.describe_modal(votes) == (
        "tied between strong for and conditional for (7 of 16 votes each)"
    )


def test_no_votes_means_no_modal_choice():
    assert strength.modal({}) is None
    assert strength.describe_modal({}) == "no strength votes"


def test_an_unknown_choice_is_refused_by_name():
    with pytest.raises(ValueError, match="Unknown strength weak_for"):
        strength.votes({"weak_for": 3})


@given(st.dictionaries(st.sampled_from(strength.STRENGTHS), st.integers(0, 50)))
def test_modal_agrees_with_counting_by_hand(counts):
    top = max(counts.values(), default=0)
    winners = [c for c, n in counts.items() if n == top]
    expected = winners[0] if top > 0 and len(winners) == 1 else None
    assert strength.modal(counts) == expected


def _grade(table, classification, agree, disagree, n, panel):
    return grading.grade_for(
        table,
        level_code="high",
        classification=classification,
        agree_count=agree,
        disagree_count=disagree,
        n=n,
        panel_strength=panel,
    )


def test_with_the_panel_vote_strong_needs_the_panel_to_choose_strong():
    table = grading.grade_table(panel_strength=True)
    # 20 of 21 agree, so the percentage alone would make it strong; the panel chose conditional.
    assert _grade(table, "consensus_for", 20, 0, 21, "conditional_for").code == "conditional_for"
    strong = _grade(table, "consensus_for", 15, 0, 21, "strong_for")
    assert strong.code == "strong_for"
    assert "the panel chose strong for" in strong.reason


def test_a_tied_vote_never_matches_a_row_that_asks_for_the_panels_choice():
    table = grading.grade_table(panel_strength=True)
    tied = _grade(table, "consensus_for", 20, 0, 21, None)
    assert tied.code == "conditional_for"
    assert "no single strength was the panel's most frequent choice" in tied.reason


def test_strong_against_mirrors_strong_for_with_the_panel_vote():
    table = grading.grade_table(panel_strength=True)
    assert _grade(table, "consensus_against", 0, 18, 21, "strong_against").code == "strong_against"
    assert _grade(table, "consensus_against", 0, 18, 21, "strong_for").code == (
        "conditional_against"
    )


def test_the_table_in_words_names_the_panels_choice():
    words = grading.describe_table(grading.grade_table(panel_strength=True))
    assert words[0] == (
        "Strong recommendation for when the certainty of evidence is high or moderate, the panel "
        "reached consensus for and the panel's most frequent choice of strength is strong for"
    )


def test_a_row_with_an_empty_strength_list_is_refused():
    with pytest.raises(ValueError, match="panel_strength_in is empty"):
        grading.GradingRow(panel_strength_in=[], grade="X")
