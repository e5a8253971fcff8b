"""Evidence levels follow docs/method.md §8 and the rules stated in app/consensus/levels.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.consensus.levels import (
    SCHEME_CODES,
    Level,
    Scheme,
    evidence_level,
    grade,
    override,
    oxford_2009,
    pedro_scire,
)
from app.consensus.sources import Source
from tests.consensus.helpers import CHEN, KO, LI, PANEL, PARK, SMITH, WANG, rct, review

# -------------------------------------------------------------------------------- source sets


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


def test_level_is_a_frozen_result() -> None:
    level = Level("grade", "high", "High certainty", [])
    with pytest.raises(AttributeError):
        level.code = "low"  # type: ignore[misc]
