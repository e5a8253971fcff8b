"""Grades follow docs/method.md §8 and the rules stated in app/consensus/grading.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from app.consensus.grading import (
    GradingRow,
    GradingTable,
    describe_table,
    grade_for,
    grade_table,
    oxford_2009_table,
)
from app.consensus.levels import SCHEME_CODES, oxford_2009
from app.consensus.rules import Classification
from tests.consensus.helpers import WANG, review

# ---------------------------------------------------------------------------- grading tables


def grade_of(
    table: GradingTable,
    level: str,
    classification: Classification,
    agree: int = 0,
    n: int = 20,
    disagree: int = 0,
) -> str:
    return grade_for(
        table,
        level_code=level,
        classification=classification,
        agree_count=agree,
        disagree_count=disagree,
        n=n,
    ).code


@pytest.mark.parametrize(
    ("level", "classification", "code"),
    [
        ("1a", "consensus_for", "A"),
        ("1b", "consensus_for", "A"),
        ("2a", "consensus_for", "B"),
        ("3b", "consensus_for", "B"),
        ("4", "consensus_for", "C"),
        ("5", "consensus_for", "D"),
        ("1b", "consensus_against", "A_against"),
        ("3a", "consensus_against", "B_against"),
        ("5", "consensus_against", "D_against"),
    ],
)
def test_oxford_preset_grades_by_level_and_direction(
    level: str, classification: Classification, code: str
) -> None:
    assert grade_of(oxford_2009_table(), level, classification, agree=15) == code


def test_oxford_preset_on_scire_levels_uses_the_same_letters() -> None:
    table = oxford_2009_table("pedro_scire")
    assert [grade_of(table, code, "consensus_for") for code in SCHEME_CODES["pedro_scire"]] == [
        "A",
        "A",
        "B",
        "B",
        "C",
        "D",
    ]


def test_oxford_preset_grades_the_level_of_a_worked_statement() -> None:
    level = oxford_2009([WANG, review(1, "Jones 2021", ("1b",), amstar2="high")])
    result = grade_for(
        oxford_2009_table(),
        level_code=level.code,
        classification="consensus_for",
        agree_count=17,
        disagree_count=1,
        n=21,
    )
    assert (result.code, result.label, result.row_index) == ("A", "Grade A", 0)
    assert "17 of 21 ratings agree (80.9 %)" in result.reason


def test_grade_preset_exactly_80_percent_on_integers_is_strong() -> None:
    # 16 / 20 = 80 % exactly; 0.8 * 100 is 80.00000000000001 in floats, integers avoid that
    assert grade_of(grade_table(), "moderate", "consensus_for", agree=16, n=20) == "strong_for"


def test_grade_preset_one_rating_fewer_than_80_percent_is_conditional() -> None:
    assert grade_of(grade_table(), "moderate", "consensus_for", agree=15, n=20) == "conditional_for"


def test_grade_preset_low_certainty_is_conditional_even_with_full_agreement() -> None:
    assert grade_of(grade_table(), "low", "consensus_for", agree=20, n=20) == "conditional_for"


def test_grade_preset_against_is_symmetric_on_the_disagree_count() -> None:
    table = grade_table()
    assert grade_of(table, "high", "consensus_against", disagree=16) == "strong_against"
    assert grade_of(table, "high", "consensus_against", disagree=15) == "conditional_against"
    assert grade_of(table, "very_low", "consensus_against", disagree=20) == "conditional_against"


@given(
    st.integers(1, 100).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
    st.integers(1, 100),
)
def test_percent_rows_decide_exactly_on_integers(pair: tuple[int, int], min_pct: int) -> None:
    n, agree = pair
    table = GradingTable(
        scheme="grade",
        rows=[
            GradingRow(min_pct_agree=min_pct, grade="yes"),
            GradingRow(grade="no"),
        ],
    )
    expected = "yes" if agree * 100 >= min_pct * n else "no"
    assert grade_of(table, "high", "consensus_for", agree=agree, n=n) == expected


@given(
    st.sampled_from(SCHEME_CODES["grade"]),
    st.integers(0, 30),
    st.integers(0, 30),
)
def test_no_consensus_always_means_no_recommendation(level: str, agree: int, disagree: int) -> None:
    table = GradingTable(scheme="grade", rows=[GradingRow(grade="anything")])
    result = grade_for(
        table,
        level_code=level,
        classification="no_consensus",
        agree_count=agree,
        disagree_count=disagree,
        n=agree + disagree + 1,
    )
    assert (result.code, result.label, result.row_index) == (
        "no_recommendation",
        "no recommendation",
        None,
    )


def test_first_matching_row_wins() -> None:
    table = GradingTable(
        scheme="pedro_scire",
        rows=[
            GradingRow(level_in=["4", "5"], grade="late"),
            GradingRow(classification_in=["consensus_for"], grade="first"),
            GradingRow(level_in=["1a"], grade="never_reached_for_consensus_for"),
            GradingRow(grade="fallback"),
        ],
    )
    assert grade_of(table, "1a", "consensus_for") == "first"
    assert grade_of(table, "4", "consensus_for") == "late"
    result = grade_for(
        table,
        level_code="1a",
        classification="consensus_against",
        agree_count=0,
        disagree_count=18,
        n=20,
    )
    assert (result.code, result.row_index) == ("never_reached_for_consensus_for", 2)
    assert result.reason.startswith("Row 3 is the first that matches")


def test_a_statement_no_row_matches_is_left_ungraded() -> None:
    table = GradingTable(scheme="pedro_scire", rows=[GradingRow(level_in=["1a"], grade="A")])
    result = grade_for(
        table, level_code="2", classification="consensus_for", agree_count=9, disagree_count=0, n=10
    )
    assert (result.code, result.row_index) == ("ungraded", None)
    assert "add a row" in result.reason


def test_grade_for_refuses_a_level_outside_the_table_scheme() -> None:
    with pytest.raises(ValueError, match="'2' is not a oxford_2009 level"):
        grade_of(oxford_2009_table(), "2", "consensus_for")


def test_grade_for_refuses_counts_that_exceed_the_ratings() -> None:
    with pytest.raises(ValueError, match="Counts do not fit"):
        grade_of(grade_table(), "high", "consensus_for", agree=15, disagree=6, n=20)


def test_zero_ratings_never_meet_a_percent_condition() -> None:
    assert grade_of(grade_table(), "high", "consensus_for", agree=0, n=0) == "conditional_for"


def test_grading_table_refuses_levels_of_another_scheme() -> None:
    with pytest.raises(ValidationError, match="Row 1 names levels 2b, which are not pedro_scire"):
        GradingTable(scheme="pedro_scire", rows=[GradingRow(level_in=["2b"], grade="B")])


def test_grading_row_cannot_grade_no_consensus() -> None:
    with pytest.raises(ValidationError, match="always gets no recommendation"):
        GradingRow(classification_in=["no_consensus"], grade="X")


def test_grading_row_percent_must_be_a_whole_number() -> None:
    with pytest.raises(ValidationError):
        GradingRow.model_validate({"min_pct_agree": 79.5, "grade": "X"})


def test_grading_table_round_trips_as_json() -> None:
    table = grade_table()
    assert GradingTable.model_validate_json(table.model_dump_json()) == table


# ---------------------------------------------------------------------------- describe_table


def test_describe_table_says_each_row_in_plain_words() -> None:
    lines = describe_table(oxford_2009_table())
    assert len(lines) == 9  # eight rows, then the no-consensus rule
    assert (
        lines[0]
        == "Grade A when the evidence is level 1a or 1b and the panel reached consensus for"
    )
    assert lines[5] == (
        "Grade B (against) when the evidence is level 2a, 2b, 3a or 3b and the panel reached "
        "consensus against"
    )
    assert lines[-1].startswith("No recommendation when the panel reached no consensus")


def test_describe_table_names_certainty_and_percent_conditions() -> None:
    lines = describe_table(grade_table(75))
    assert lines[0] == (
        "Strong recommendation for when the certainty of evidence is high or moderate, the panel "
        "reached consensus for and at least 75 % of ratings agree"
    )
    assert lines[1] == "Conditional recommendation for when the panel reached consensus for"
    assert lines[2].endswith("at least 75 % of ratings disagree")


def test_describe_table_row_without_conditions() -> None:
    table = GradingTable(scheme="grade", rows=[GradingRow(grade="X", label="Grade X")])
    assert describe_table(table)[0] == "Grade X when the panel reached consensus for or against"
