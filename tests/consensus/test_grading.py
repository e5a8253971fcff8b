"""Evidence levels and grades follow DESIGN.md §2.5 and the rules stated in grading.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from app.consensus.grading import (
    SCHEME_CODES,
    GradingRow,
    GradingTable,
    Level,
    Scheme,
    Source,
    check_pedro_items,
    describe_table,
    evidence_level,
    grade,
    grade_for,
    grade_table,
    override,
    oxford_2009,
    oxford_2009_table,
    pedro_scire,
)
from app.consensus.rules import Classification


def rct(id_: int, citation: str, pedro: int | None) -> Source:
    return Source(id_, citation, "rct", pedro=pedro)


def review(id_: int, citation: str, pooled: tuple[str, ...], **appraisal: object) -> Source:
    return Source(id_, citation, "systematic_review", pooled_levels=pooled, **appraisal)  # type: ignore[arg-type]


SMITH = rct(1, "Smith 2019", 7)
LI = rct(2, "Li 2020", 8)
WANG = rct(3, "Wang 2018", 4)
KO = Source(4, "Ko 2017", "cohort")
CHEN = Source(5, "Chen 2016", "case_control")
PARK = Source(6, "Park 2015", "case_series")
PANEL = Source(7, "Task force 2014", "expert_opinion")

# PEDro items: item 1 (eligibility) yes, then items 2-11 with seven yes -> total 7.
ITEMS_7 = (True, True, True, True, True, True, True, True, False, False, False)

# ----------------------------------------------------------------------------- source checks


def test_pedro_total_must_equal_items_two_to_eleven() -> None:
    check_pedro_items(7, ITEMS_7)
    with pytest.raises(ValueError, match=r"item 1 \(eligibility criteria\) does not count"):
        check_pedro_items(8, ITEMS_7)  # 8 would be the total with item 1 counted


def test_source_refuses_a_pedro_total_that_counts_item_one() -> None:
    with pytest.raises(ValueError, match=r"Smith 2019.*items 2.11 add up to 7"):
        Source(1, "Smith 2019", "rct", pedro=8, pedro_items=ITEMS_7)


def test_pedro_items_alone_give_the_total_from_items_two_to_eleven() -> None:
    assert Source(1, "Smith 2019", "rct", pedro_items=ITEMS_7).pedro_total == 7


def test_pedro_items_must_be_eleven() -> None:
    with pytest.raises(ValueError, match="11 items and 10 were given"):
        Source(1, "Smith 2019", "rct", pedro_items=ITEMS_7[1:])


def test_pedro_on_a_non_rct_is_refused() -> None:
    with pytest.raises(ValueError, match=r"cohort study.*randomised controlled trials only"):
        Source(1, "Ko 2017", "cohort", pedro=6)


@pytest.mark.parametrize("pedro", [-1, 11])
def test_pedro_outside_zero_to_ten_is_refused(pedro: int) -> None:
    with pytest.raises(ValueError, match="runs from 0 to 10"):
        rct(1, "Smith 2019", pedro)


def test_amstar_on_a_non_review_is_refused() -> None:
    with pytest.raises(ValueError, match="AMSTAR appraises systematic reviews only"):
        Source(1, "Smith 2019", "rct", amstar2="high")
    with pytest.raises(ValueError, match="remove the AMSTAR score"):
        Source(1, "Smith 2019", "rct", amstar_score=9)


def test_amstar_score_outside_zero_to_eleven_is_refused() -> None:
    with pytest.raises(ValueError, match="0 to 11"):
        review(1, "Jones 2021", ("1a",), amstar_score=12)


def test_pooled_levels_on_a_primary_study_are_refused() -> None:
    with pytest.raises(ValueError, match="pools no studies"):
        Source(1, "Smith 2019", "rct", pedro=7, pooled_levels=("1b",))


def test_pooled_levels_must_be_codes_of_the_scheme_applied() -> None:
    with pytest.raises(ValueError, match="pools levels 2b, which are not pedro_scire levels"):
        pedro_scire([review(1, "Jones 2021", ("2b",), amstar2="high")])


def test_a_source_linked_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="linked twice"):
        pedro_scire([SMITH, SMITH])


# ------------------------------------------------------------------------------- pedro_scire


def test_scire_two_good_rcts_make_1a_with_a_reason_naming_them() -> None:
    level = pedro_scire([SMITH, LI])
    assert (level.code, level.scheme) == ("1a", "pedro_scire")
    assert level.reasons == ["1a: two RCTs with PEDro ≥ 6: Smith 2019 (7), Li 2020 (8)."]


def test_scire_one_good_rct_is_1b_and_a_poor_one_is_2() -> None:
    assert pedro_scire([SMITH]).code == "1b"
    assert pedro_scire([WANG]).code == "2"
    assert pedro_scire([rct(9, "Unscored 2020", None)]).code == "2"


def test_scire_pedro_six_is_the_high_quality_boundary() -> None:
    assert pedro_scire([rct(1, "A", 6)]).code == "1b"
    assert pedro_scire([rct(1, "A", 5)]).code == "2"


@pytest.mark.parametrize(
    ("source", "code"),
    [(KO, "2"), (CHEN, "3"), (PARK, "4"), (Source(8, "P", "pre_post"), "4"), (PANEL, "5")],
)
def test_scire_other_designs_take_their_level(source: Source, code: str) -> None:
    assert pedro_scire([source]).code == code


def test_scire_without_sources_is_level_5() -> None:
    level = pedro_scire([])
    assert level.code == "5"
    assert "no evidence sources" in level.reasons[0]


def test_scire_tie_best_supported_level_wins_and_the_others_are_listed() -> None:
    level = pedro_scire([PARK, WANG, SMITH])
    assert level.code == "1b"
    assert [reason[:2] for reason in level.reasons[:3]] == ["1b", "2:", "4:"]
    assert "different levels (1b, 2, 4)" in level.reasons[-1]
    assert "best supported level, 1b, counts" in level.reasons[-1]


def test_scire_good_and_poor_rcts_count_apart() -> None:
    # one good + one poor RCT is 1b, not 1a: only RCTs with PEDro >= 6 count toward 1a
    assert pedro_scire([SMITH, WANG]).code == "1b"


def test_scire_review_of_good_trials_with_high_appraisal_keeps_their_level() -> None:
    level = pedro_scire([review(1, "Jones 2021", ("1a", "2"), amstar2="high")])
    assert level.code == "1a"
    assert level.reasons == [
        "1a: Jones 2021, a systematic review with AMSTAR-2 high, pools evidence up to level 1a."
    ]


def test_scire_review_pooling_low_quality_trials_takes_their_level() -> None:
    assert pedro_scire([review(1, "Jones 2021", ("2",), amstar2="moderate")]).code == "2"


def test_scire_review_pooling_low_quality_trials_with_low_appraisal_drops_a_step() -> None:
    level = pedro_scire([review(1, "Jones 2021", ("2",), amstar2="low")])
    assert level.code == "3"
    assert "downgraded one step to 3" in level.reasons[0]


@pytest.mark.parametrize(
    ("appraisal", "code"),
    [
        ({"amstar2": "critically_low"}, "1b"),
        ({"amstar_score": 3}, "1b"),
        ({"amstar_score": 4}, "1a"),
        ({}, "1b"),  # no appraisal at all counts as low
        ({"amstar2": "high", "amstar_score": 2}, "1b"),  # either low appraisal downgrades
    ],
)
def test_scire_review_appraisal_decides_the_downgrade(
    appraisal: dict[str, object], code: str
) -> None:
    assert pedro_scire([review(1, "Jones 2021", ("1a",), **appraisal)]).code == code


def test_scire_review_without_pooled_levels_counts_as_5() -> None:
    level = pedro_scire([Source(1, "Jones 2021", "meta_analysis", amstar2="high")])
    assert level.code == "5"
    assert "record its pooled levels" in level.reasons[0]


# ------------------------------------------------------------------------------- oxford_2009


@pytest.mark.parametrize(
    ("sources", "code"),
    [
        ([SMITH], "1b"),
        ([SMITH, LI], "1b"),  # several RCTs are not a systematic review
        ([WANG], "2b"),
        ([KO], "2b"),
        ([Source(8, "N", "non_randomised_controlled")], "2b"),
        ([CHEN], "3b"),
        ([PARK], "4"),
        ([PANEL], "5"),
        ([], "5"),
    ],
)
def test_oxford_primary_studies_map_to_their_levels(sources: list[Source], code: str) -> None:
    assert oxford_2009(sources).code == code


@pytest.mark.parametrize(
    ("pooled", "appraisal", "code"),
    [
        (("1b",), "high", "1a"),  # SR of good RCTs
        (("1b",), "low", "1b"),  # one step down: 1a -> 1b
        (("2b",), "moderate", "2a"),  # SR of low-quality RCTs / cohorts
        (("2b",), "critically_low", "2b"),
        (("3b",), "high", "3a"),
        (("4",), "high", "4"),
        (("4",), "low", "5"),
        (("2b", "3b"), "high", "2a"),  # best pooled level
    ],
)
def test_oxford_reviews_take_the_review_level_of_what_they_pool(
    pooled: tuple[str, ...], appraisal: str, code: str
) -> None:
    assert oxford_2009([review(1, "Jones 2021", pooled, amstar2=appraisal)]).code == code


def test_oxford_tie_best_supported_level_wins() -> None:
    level = oxford_2009([WANG, review(1, "Jones 2021", ("1b",), amstar2="high"), CHEN])
    assert level.code == "1a"
    assert level.label == "Level 1a: systematic review of RCTs"
    assert "different levels (1a, 2b, 3b)" in level.reasons[-1]


# ------------------------------------------------------------------------------------- grade


def test_grade_good_rcts_are_high_certainty() -> None:
    level = grade([SMITH, LI])
    assert level.code == "high"
    assert level.reasons == ["high: two RCTs, most with PEDro ≥ 6: Smith 2019 (7), Li 2020 (8)."]


def test_grade_mostly_poor_rcts_drop_to_moderate() -> None:
    level = grade([SMITH, WANG, rct(9, "Unscored 2020", None)])
    assert level.code == "moderate"
    assert "downgraded one step because most have PEDro < 6" in level.reasons[0]


def test_grade_half_poor_rcts_are_not_most_and_stay_high() -> None:
    assert grade([SMITH, WANG]).code == "high"


def test_grade_observational_evidence_is_low_and_expert_opinion_very_low() -> None:
    assert grade([KO, PARK]).code == "low"
    assert grade([PANEL]).code == "very_low"
    assert grade([]).code == "very_low"


def test_grade_review_with_low_appraisal_loses_one_step() -> None:
    assert grade([review(1, "Jones 2021", ("high",), amstar2="high")]).code == "high"
    assert grade([review(1, "Jones 2021", ("high",), amstar2="low")]).code == "moderate"


def test_grade_tie_best_supported_certainty_wins() -> None:
    level = grade([KO, WANG])
    assert level.code == "moderate"
    assert "best supported level, moderate, counts" in level.reasons[-1]


source_strategy = st.one_of(
    st.builds(
        Source,
        id=st.integers(0, 1000),
        citation=st.text(min_size=1, max_size=8),
        design=st.just("rct"),
        pedro=st.none() | st.integers(0, 10),
    ),
    st.builds(
        Source,
        id=st.integers(0, 1000),
        citation=st.text(min_size=1, max_size=8),
        design=st.sampled_from(
            [
                "non_randomised_controlled",
                "cohort",
                "case_control",
                "pre_post",
                "case_series",
                "expert_opinion",
            ]
        ),
    ),
)


@given(
    st.lists(source_strategy, max_size=6, unique_by=lambda s: s.id),
    st.sampled_from(["pedro_scire", "oxford_2009", "grade"]),
)
def test_the_level_is_the_best_level_any_source_alone_supports_or_better(
    sources: list[Source], scheme: Scheme
) -> None:
    level = evidence_level(scheme, sources)
    codes = SCHEME_CODES[scheme]
    assert level.code in codes
    singles = [evidence_level(scheme, [source]).code for source in sources]
    if singles and scheme != "grade":  # GRADE judges the RCTs as one body ("most" poor)
        best_single = min(codes.index(code) for code in singles)
        # pooling can only help (two good RCTs make 1a), never hurt
        assert codes.index(level.code) <= best_single
        assert level.code != "1a" or scheme != "oxford_2009"  # 1a needs a review
    # adding a source never lowers the level
    extra = Source("extra", "Extra", "expert_opinion")  # generated ids are integers
    more = evidence_level(scheme, [*sources, extra])
    assert codes.index(more.code) <= codes.index(level.code)


# ---------------------------------------------------------------------------------- override


def test_override_records_the_justification() -> None:
    level = override(pedro_scire([WANG]), "1b", "  The trial's low PEDro reflects blinding only. ")
    assert (level.code, level.overridden_from) == ("1b", "2")
    assert level.label == "Level 1b: one RCT with PEDro ≥ 6"
    assert (
        level.reasons[-1]
        == "Overridden from 2 to 1b: The trial's low PEDro reflects blinding only."
    )
    assert level.reasons[0].startswith("2: one RCT with PEDro < 6")


def test_override_twice_remembers_the_computed_level() -> None:
    level = override(override(pedro_scire([WANG]), "1b", "first"), "3", "second")
    assert (level.code, level.overridden_from) == ("3", "2")


@pytest.mark.parametrize("justification", ["", "   "])
def test_override_without_justification_is_refused(justification: str) -> None:
    with pytest.raises(ValueError, match="needs a justification"):
        override(pedro_scire([WANG]), "1b", justification)


def test_override_to_a_code_outside_the_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="'2b' is not a pedro_scire level"):
        override(pedro_scire([WANG]), "2b", "reason")


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


def test_level_is_a_frozen_result() -> None:
    level = Level("grade", "high", "High certainty", [])
    with pytest.raises(AttributeError):
        level.code = "low"  # type: ignore[misc]
