"""Consensus rules classify exactly as docs/method.md §3 says, deciding percentages on integers."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from app.consensus import (
    RULE_ADAPTER,
    Comet7015,
    ConsensusRule,
    MedianIqr,
    PercentAgreement,
    QuantileMethod,
    RandUcla,
    agreement_bounds,
    check_rule_for_scale,
    classify,
    default_bounds,
    describe,
    rand_figures,
)

from .helpers import RAND_15, SEED_21, figures_of

# ---------------------------------------------------------------- default and agreement bounds


@pytest.mark.parametrize(
    ("scale", "bounds"),
    [
        ((1, 9), (7, 3)),
        ((0, 10), (7, 3)),
        ((1, 10), (8, 3)),
        ((1, 8), (6, 3)),
        ((1, 7), (5, 3)),
        ((1, 6), (4, 3)),
        ((1, 5), (4, 2)),
        ((1, 4), (3, 2)),
        ((0, 4), (3, 1)),
    ],
)
def test_default_bounds_split_the_scale_into_agree_and_disagree_bands(
    scale: tuple[int, int], bounds: tuple[int, int]
) -> None:
    assert default_bounds(*scale) == bounds


def test_default_bounds_refuse_a_one_point_scale() -> None:
    with pytest.raises(ValueError, match="two points"):
        default_bounds(5, 5)


def test_agreement_bounds_follow_each_rule() -> None:
    assert agreement_bounds(PercentAgreement(), 1, 5) == (4, 2)
    assert agreement_bounds(PercentAgreement(agree_min=5), 1, 5) == (5, 2)
    assert agreement_bounds(PercentAgreement(agree_min=8, disagree_max=2), 1, 9) == (8, 2)
    assert agreement_bounds(Comet7015(high_min=8, low_max=2), 1, 9) == (8, 2)
    median_iqr = MedianIqr(median_min=7, median_max_against=3, iqr_max=1)
    assert agreement_bounds(median_iqr, 1, 9) == (7, 3)
    with_percent = MedianIqr(
        median_min=7, median_max_against=3, iqr_max=1, agree_min=8, threshold=70
    )
    assert agreement_bounds(with_percent, 1, 9) == (8, 3)
    assert agreement_bounds(RandUcla(), 1, 9) == (7, 3)


# ---------------------------------------------------------------- COMET 70/15


def test_exactly_70_percent_reaches_comet_consensus() -> None:
    fig = figures_of({7: 7, 5: 3})  # 7 of 10 rate >= 7, none rate <= 3
    assert classify(Comet7015(), fig) == "consensus_for"


def test_one_short_of_70_percent_is_no_comet_consensus() -> None:
    fig = figures_of({7: 6, 5: 4})
    assert classify(Comet7015(), fig) == "no_consensus"


def test_exactly_15_percent_rating_low_blocks_comet_consensus() -> None:
    fig = figures_of({9: 14, 3: 3, 5: 3})  # 70 % high, exactly 15 % low
    assert classify(Comet7015(), fig) == "no_consensus"


def test_just_under_15_percent_rating_low_allows_comet_consensus() -> None:
    fig = figures_of({9: 14, 3: 2, 5: 4})  # 70 % high, 10 % low
    assert classify(Comet7015(), fig) == "consensus_for"


def test_comet_consensus_against_mirrors_consensus_for() -> None:
    assert classify(Comet7015(), figures_of({1: 14, 5: 4, 8: 2})) == "consensus_against"
    assert classify(Comet7015(), figures_of({1: 14, 5: 3, 8: 3})) == "no_consensus"


def test_comet_uses_its_own_cut_offs_not_those_figures_were_built_with() -> None:
    # Figures built with agree_min 7, but the rule says high_min 8: 7s no longer count.
    fig = figures_of({7: 5, 8: 5})
    assert classify(Comet7015(high_min=8), fig) == "no_consensus"
    assert classify(Comet7015(), fig) == "consensus_for"


# ---------------------------------------------------------------- percent agreement


def test_exactly_75_percent_of_20_reaches_percent_agreement() -> None:
    assert classify(PercentAgreement(), figures_of({5: 15, 3: 5}, scale=(1, 5))) == (
        "consensus_for"
    )


def test_74_percent_of_20_is_no_percent_agreement() -> None:
    assert classify(PercentAgreement(), figures_of({5: 14, 3: 6}, scale=(1, 5))) == ("no_consensus")


def test_3_of_4_reaches_75_percent_agreement_and_2_of_4_does_not() -> None:
    assert classify(PercentAgreement(), figures_of({4: 3, 3: 1}, scale=(1, 5))) == ("consensus_for")
    assert classify(PercentAgreement(), figures_of({4: 2, 3: 2}, scale=(1, 5))) == ("no_consensus")


def test_75_percent_disagreement_is_consensus_against() -> None:
    fig = figures_of({1: 10, 2: 5, 4: 5}, scale=(1, 5))
    assert classify(PercentAgreement(), fig) == "consensus_against"


def test_two_of_three_does_not_reach_67_percent_though_it_rounds_to_67() -> None:
    fig = figures_of({5: 2, 1: 1}, scale=(1, 5))
    assert round(100 * 2 / 3) == 67  # a rounded share would mislead
    assert classify(PercentAgreement(threshold=67), fig) == "no_consensus"
    assert classify(PercentAgreement(threshold=66), fig) == "consensus_for"


def test_57_of_100_reaches_57_percent_though_the_float_share_is_below_57() -> None:
    fig = figures_of({9: 57, 5: 43})
    assert 57 / 100 * 100 < 57  # floating point would say 56.99999999999999 %
    assert classify(PercentAgreement(threshold=57), fig) == "consensus_for"
    assert classify(PercentAgreement(threshold=58), fig) == "no_consensus"


def test_percent_agreement_with_both_for_and_against_holding_is_no_consensus() -> None:
    fig = figures_of({9: 5, 1: 5})
    assert classify(PercentAgreement(threshold=40), fig) == "no_consensus"
    assert classify(PercentAgreement(threshold=40), figures_of({9: 5, 1: 3, 5: 2})) == (
        "consensus_for"
    )


def test_percent_agreement_honours_explicit_bounds() -> None:
    fig = figures_of({7: 8, 9: 2})
    assert classify(PercentAgreement(agree_min=7), fig) == "consensus_for"
    assert classify(PercentAgreement(agree_min=8), fig) == "no_consensus"


@given(
    counts=st.lists(st.integers(0, 30), min_size=5, max_size=5).filter(lambda c: sum(c) > 0),
    threshold=st.integers(51, 100),
)
def test_percent_agreement_matches_exact_fractions(counts: list[int], threshold: int) -> None:
    histogram = dict(zip(range(1, 6), counts, strict=True))
    n = sum(counts)
    agree, disagree = counts[3] + counts[4], counts[0] + counts[1]
    expected = (
        "consensus_for"
        if Fraction(agree, n) >= Fraction(threshold, 100)
        else "consensus_against"
        if Fraction(disagree, n) >= Fraction(threshold, 100)
        else "no_consensus"
    )
    fig = figures_of(histogram, scale=(1, 5), agree_min=4, disagree_max=2)
    assert classify(PercentAgreement(threshold=threshold), fig) == expected


# ---------------------------------------------------------------- common conditions


def test_no_ratings_is_no_consensus_under_every_rule() -> None:
    fig = figures_of({}, abstained=5)
    rules: list[ConsensusRule] = [
        PercentAgreement(),
        Comet7015(),
        MedianIqr(median_min=7, median_max_against=3, iqr_max=2),
        RandUcla(),
    ]
    assert [classify(rule, fig) for rule in rules] == ["no_consensus"] * 4


def test_fewer_ratings_than_min_responses_is_no_consensus() -> None:
    fig = figures_of({9: 4})
    assert classify(Comet7015(min_responses=5), fig) == "no_consensus"
    assert classify(Comet7015(min_responses=4), fig) == "consensus_for"


def test_min_responses_can_be_waived_for_group_classification() -> None:
    fig = figures_of({9: 4})
    rule = Comet7015(min_responses=5)
    assert classify(rule, fig, apply_min_responses=False) == "consensus_for"


def test_abstentions_do_not_count_towards_min_responses_or_shares() -> None:
    fig = figures_of({9: 4}, abstained=10)
    assert classify(PercentAgreement(min_responses=5), fig) == "no_consensus"
    assert classify(PercentAgreement(), fig) == "consensus_for"


# ---------------------------------------------------------------- median and IQR

SEED_RULE = MedianIqr(median_min=4, median_max_against=2, iqr_max=1)


def test_median_iqr_rule_reaches_consensus_on_seed_example_with_type7() -> None:
    fig = figures_of(SEED_21, scale=(1, 5), method="type7")
    assert classify(SEED_RULE, fig) == "consensus_for"


def test_median_iqr_rule_flips_to_no_consensus_on_seed_example_with_type6() -> None:
    fig = figures_of(SEED_21, scale=(1, 5), method="type6")
    assert classify(SEED_RULE, fig) == "no_consensus"


def test_median_iqr_comparisons_allow_1e_9_of_float_noise() -> None:
    fig = figures_of(SEED_21, scale=(1, 5))
    assert classify(SEED_RULE, dataclasses.replace(fig, iqr=1 + 1e-12)) == "consensus_for"
    assert classify(SEED_RULE, dataclasses.replace(fig, iqr=1 + 1e-6)) == "no_consensus"
    assert classify(SEED_RULE, dataclasses.replace(fig, median=4 - 1e-12)) == "consensus_for"
    assert classify(SEED_RULE, dataclasses.replace(fig, median=4 - 1e-6)) == "no_consensus"


def test_median_iqr_consensus_against_needs_a_low_median() -> None:
    fig = figures_of({1: 6, 2: 10, 3: 2}, scale=(1, 5))
    assert classify(SEED_RULE, fig) == "consensus_against"


def test_median_iqr_percent_condition_can_block_consensus() -> None:
    fig = figures_of({4: 12, 5: 5, 3: 4}, scale=(1, 5))  # median 4, IQR 0, 17/21 >= 4
    assert classify(SEED_RULE, fig) == "consensus_for"
    strict = SEED_RULE.model_copy(update={"agree_min": 4, "threshold": 85})
    lenient = SEED_RULE.model_copy(update={"agree_min": 4, "threshold": 80})
    assert classify(strict, fig) == "no_consensus"  # 17/21 = 81 % < 85 %
    assert classify(lenient, fig) == "consensus_for"


def test_median_iqr_needs_agree_min_and_threshold_together() -> None:
    with pytest.raises(ValidationError, match="together"):
        MedianIqr(median_min=7, median_max_against=3, iqr_max=1, agree_min=7)
    with pytest.raises(ValidationError, match="together"):
        MedianIqr(median_min=7, median_max_against=3, iqr_max=1, threshold=70)


# ---------------------------------------------------------------- RAND/UCLA


def test_rand_worked_example_is_appropriate() -> None:
    methods: list[QuantileMethod] = ["type7", "type6"]
    for method in methods:
        fig = figures_of(RAND_15, method=method)
        assert (fig.median, fig.p30, fig.p70) == (7.0, 7.0, 8.0)
        rand = rand_figures(fig)
        assert rand is not None
        assert rand.ipr == 1.0
        assert rand.iprcp == 7.5
        assert rand.ai == 2.5
        assert rand.ipras == pytest.approx(6.1)
        assert rand.disagreement_index == pytest.approx(1 / 6.1)
        assert rand.disagreement is False
        assert rand.category == "appropriate"
        assert classify(RandUcla(), fig) == "consensus_for"


def test_rand_median_6_5_is_uncertain() -> None:
    fig = figures_of({6: 5, 7: 5})
    assert fig.median == 6.5
    rand = rand_figures(fig)
    assert rand is not None
    assert not rand.disagreement
    assert rand.category == "uncertain"
    assert classify(RandUcla(), fig) == "no_consensus"


def test_rand_median_3_5_is_uncertain() -> None:
    fig = figures_of({3: 5, 4: 5})
    assert fig.median == 3.5
    assert rand_figures(fig).category == "uncertain"  # type: ignore[union-attr]
    assert classify(RandUcla(), fig) == "no_consensus"


def test_rand_median_3_is_inappropriate() -> None:
    fig = figures_of({1: 3, 3: 5, 4: 2})
    assert fig.median == 3.0
    assert rand_figures(fig).category == "inappropriate"  # type: ignore[union-attr]
    assert classify(RandUcla(), fig) == "consensus_against"


def test_rand_disagreement_makes_a_high_median_uncertain() -> None:
    fig = figures_of({1: 4, 9: 6})  # median 9, but P30 = 1 and P70 = 9
    assert fig.median == 9.0
    rand = rand_figures(fig)
    assert rand is not None
    assert (rand.ipr, rand.ipras) == (8.0, pytest.approx(2.35))
    assert rand.disagreement is True
    assert rand.disagreement_index == pytest.approx(8 / 2.35)
    assert rand.category == "uncertain"
    assert classify(RandUcla(), fig) == "no_consensus"


def test_rand_ipr_equal_to_ipras_is_not_disagreement() -> None:
    # {4, 4, 7, 7, 9} with type 6: P30 = 4, P70 = 7.4, so IPR = 3.4 and IPRAS = 2.35 + 1.5 * 0.7
    # = 3.4 as well; "IPR > IPRAS" does not hold and the median of 7 is appropriate.
    fig = figures_of({4: 2, 7: 2, 9: 1}, method="type6")
    assert (fig.median, fig.p30) == (7.0, 4.0)
    assert fig.p70 == pytest.approx(7.4)
    rand = rand_figures(fig)
    assert rand is not None
    assert rand.ipr == pytest.approx(3.4)
    assert rand.ipras == pytest.approx(3.4)
    assert rand.disagreement is False
    assert rand.category == "appropriate"
    # The same with P70 set so that IPR and IPRAS are the same float, and with a wider spread.
    equal = rand_figures(dataclasses.replace(fig, p70=7.4))
    wider = rand_figures(dataclasses.replace(fig, p70=7.5))
    assert equal is not None
    assert wider is not None
    assert equal.ipr == equal.ipras
    assert equal.disagreement is False
    assert wider.disagreement is True
    assert wider.category == "uncertain"


def test_rand_figures_are_none_without_ratings() -> None:
    assert rand_figures(figures_of({}, abstained=3)) is None


def test_rand_as_dict_reports_ipr_ipras_and_index() -> None:
    rand = rand_figures(figures_of(RAND_15))
    assert rand is not None
    data = rand.as_dict()
    assert data["category"] == "appropriate"
    assert data["ipr"] == 1.0
    assert data["ipras"] == pytest.approx(6.1)
    assert set(data) >= {"ipr", "iprcp", "ai", "ipras", "disagreement_index", "disagreement"}


# ---------------------------------------------------------------- rules against the scale


def test_presets_fit_their_usual_scales() -> None:
    check_rule_for_scale(Comet7015(), 1, 9)
    check_rule_for_scale(RandUcla(), 1, 9)
    check_rule_for_scale(PercentAgreement(), 1, 5)
    check_rule_for_scale(PercentAgreement(), 0, 10)
    check_rule_for_scale(MedianIqr(median_min=4, median_max_against=2, iqr_max=1), 1, 5)


@pytest.mark.parametrize(
    ("rule", "scale", "message"),
    [
        (PercentAgreement(agree_min=10), (1, 9), "agree_min is 10, which lies outside"),
        (PercentAgreement(disagree_max=0), (1, 5), "disagree_max is 0, which lies outside"),
        (PercentAgreement(agree_min=3, disagree_max=3), (1, 9), r"agree_min \(3\) must be"),
        (PercentAgreement(agree_min=2), (1, 5), r"agree_min \(2\) must be greater"),
        (Comet7015(), (1, 5), "high_min is 7, which lies outside"),
        (Comet7015(high_min=3, low_max=3), (1, 9), r"high_min \(3\) must be greater"),
        (Comet7015(in_pct=30, out_pct=40), (1, 9), r"out_pct \(40\) must not exceed"),
        (
            MedianIqr(median_min=8, median_max_against=2, iqr_max=1),
            (1, 5),
            "median_min is 8, which lies outside",
        ),
        (
            MedianIqr(median_min=4, median_max_against=4, iqr_max=1),
            (1, 5),
            r"median_max_against \(4\) must be below median_min \(4\)",
        ),
        (
            MedianIqr(median_min=4, median_max_against=2, iqr_max=1, agree_min=2, threshold=75),
            (1, 5),
            r"agree_min \(2\) must be greater than 2",
        ),
        (RandUcla(), (1, 5), "only for a 1.9 scale"),
        (RandUcla(), (0, 10), "only for a 1.9 scale"),
        (PercentAgreement(), (4, 4), "at least two points"),
    ],
)
def test_rule_that_misfits_the_scale_is_refused_with_an_actionable_message(
    rule: ConsensusRule, scale: tuple[int, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        check_rule_for_scale(rule, *scale)


# ---------------------------------------------------------------- models and parsing


@pytest.mark.parametrize(
    "rule",
    [
        PercentAgreement(),
        PercentAgreement(agree_min=4, disagree_max=2, threshold=80, min_responses=10),
        Comet7015(),
        Comet7015(high_min=8, low_max=2, in_pct=75, out_pct=10, require_all_groups=True),
        MedianIqr(median_min=7, median_max_against=3, iqr_max=1.5),
        MedianIqr(median_min=7, median_max_against=3, iqr_max=1, agree_min=7, threshold=70),
        RandUcla(min_responses=9),
    ],
)
def test_rule_adapter_round_trips_each_rule(rule: ConsensusRule) -> None:
    assert RULE_ADAPTER.validate_python(rule.model_dump()) == rule
    assert RULE_ADAPTER.validate_json(rule.model_dump_json()) == rule
    assert type(RULE_ADAPTER.validate_python(rule.model_dump())) is type(rule)


def test_rule_adapter_fills_preset_defaults() -> None:
    rule = RULE_ADAPTER.validate_python({"rule": "comet_70_15"})
    assert rule == Comet7015(high_min=7, low_max=3, in_pct=70, out_pct=15)
    parsed = RULE_ADAPTER.validate_python({"rule": "percent_agreement"})
    assert isinstance(parsed, PercentAgreement)
    assert (parsed.agree_min, parsed.disagree_max, parsed.threshold) == (None, None, 75)


@pytest.mark.parametrize(
    "data",
    [
        {"rule": "majority_vote"},
        {"threshold": 75},
        {"rule": "percent_agreement", "threshold": 0},
        {"rule": "percent_agreement", "threshold": 101},
        {"rule": "percent_agreement", "tresholds": 75},
        {"rule": "comet_70_15", "min_responses": 0},
        {"rule": "median_iqr", "median_min": 7, "median_max_against": 3, "iqr_max": -1},
        {"rule": "median_iqr", "median_min": 7},
    ],
)
def test_rule_adapter_refuses_invalid_rules(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RULE_ADAPTER.validate_python(data)


# ---------------------------------------------------------------- plain words


def test_describe_comet_names_bands_and_percentages() -> None:
    text = describe(Comet7015(), 1, 9)
    assert "at least 70 % rate it 7\N{EN DASH}9" in text
    assert "fewer than 15 % rate it 1\N{EN DASH}3" in text
    assert "consensus against" in text


def test_describe_percent_agreement_uses_the_default_bounds_of_the_scale() -> None:
    text = describe(PercentAgreement(), 1, 5)
    assert "at least 75 % of the ratings are 4\N{EN DASH}5" in text
    assert "1\N{EN DASH}2" in text


def test_describe_mentions_min_responses_and_groups() -> None:
    text = describe(RandUcla(min_responses=12, require_all_groups=True), 1, 9)
    assert "fewer than 12 ratings" in text
    assert "every stakeholder group" in text
    assert "IPRAS" in text
    assert "every stakeholder group" not in describe(RandUcla(), 1, 9)


def test_describe_median_iqr_states_the_thresholds() -> None:
    rule = MedianIqr(median_min=7, median_max_against=3.5, iqr_max=1.5, agree_min=7, threshold=70)
    text = describe(rule, 1, 9)
    assert "median is at least 7" in text
    assert "median is at most 3.5" in text
    assert "interquartile range is at most 1.5" in text
    assert "at least 70 % rate it 7\N{EN DASH}9" in text
