"""A statement's outcome combines overall and per-group figures as docs/method.md §3 requires."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from app.consensus import (
    Comet7015,
    ConsensusRule,
    Histogram,
    MedianIqr,
    PercentAgreement,
    QuantileMethod,
    RandUcla,
    StatementOutcome,
    evaluate,
)

from .helpers import RAND_15, SEED_21


def run(
    rule: ConsensusRule,
    histogram: Histogram,
    *,
    abstained: int = 0,
    groups: Mapping[str, tuple[Histogram, int]] | None = None,
    scale: tuple[int, int] = (1, 9),
    method: QuantileMethod = "type7",
) -> StatementOutcome:
    return evaluate(
        rule,
        histogram=histogram,
        abstained=abstained,
        group_histograms=groups or {},
        scale_min=scale[0],
        scale_max=scale[1],
        method=method,
    )


# Overall 16 of 20 rate >= 7 (80 %); physiotherapists 10 of 10, physiatrists 6 of 10 (60 %).
OVERALL = {9: 16, 5: 4}
SPLIT_GROUPS: dict[str, tuple[Histogram, int]] = {
    "physiotherapists": ({9: 10}, 0),
    "physiatrists": ({9: 6, 5: 4}, 1),
}


def test_one_dissenting_group_blocks_consensus_when_all_groups_are_required() -> None:
    outcome = run(Comet7015(require_all_groups=True), OVERALL, groups=SPLIT_GROUPS)
    assert outcome.classification == "no_consensus"
    assert outcome.groups["physiotherapists"].classification == "consensus_for"
    assert outcome.groups["physiatrists"].classification == "no_consensus"


def test_a_dissenting_group_does_not_block_consensus_by_default() -> None:
    outcome = run(Comet7015(), OVERALL, groups=SPLIT_GROUPS)
    assert outcome.classification == "consensus_for"
    assert outcome.groups["physiatrists"].classification == "no_consensus"


def test_consensus_stands_when_every_group_agrees() -> None:
    groups: dict[str, tuple[Histogram, int]] = {"a": ({9: 8, 5: 2}, 0), "b": ({9: 8, 5: 2}, 0)}
    outcome = run(Comet7015(require_all_groups=True), OVERALL, groups=groups)
    assert outcome.classification == "consensus_for"


def test_a_group_with_no_ratings_has_not_agreed() -> None:
    groups: dict[str, tuple[Histogram, int]] = {"a": ({9: 16, 5: 4}, 0), "silent": ({}, 2)}
    outcome = run(Comet7015(require_all_groups=True), OVERALL, groups=groups)
    assert outcome.groups["silent"].classification == "no_consensus"
    assert outcome.groups["silent"].figures.abstained == 2
    assert outcome.classification == "no_consensus"


def test_a_group_agreeing_the_other_way_blocks_consensus() -> None:
    groups: dict[str, tuple[Histogram, int]] = {"a": ({9: 16}, 0), "b": ({1: 4}, 0)}
    outcome = run(PercentAgreement(require_all_groups=True), {9: 16, 1: 4}, groups=groups)
    assert outcome.groups["b"].classification == "consensus_against"
    assert outcome.classification == "no_consensus"


def test_group_classification_ignores_min_responses() -> None:
    groups: dict[str, tuple[Histogram, int]] = {"small": ({9: 3}, 0), "large": ({9: 13, 5: 4}, 0)}
    rule = Comet7015(min_responses=10, require_all_groups=True)
    outcome = run(rule, OVERALL, groups=groups)
    assert outcome.groups["small"].classification == "consensus_for"
    assert outcome.classification == "consensus_for"


def test_min_responses_applies_overall() -> None:
    outcome = run(Comet7015(min_responses=21), OVERALL)
    assert outcome.figures.n == 20
    assert outcome.classification == "no_consensus"


def test_figures_are_reported_per_group() -> None:
    outcome = run(Comet7015(require_all_groups=True), OVERALL, groups=SPLIT_GROUPS)
    physiatrists = outcome.groups["physiatrists"].figures
    assert physiatrists.n == 10
    assert physiatrists.abstained == 1
    assert physiatrists.pct_agree == 60.0
    assert physiatrists.histogram == {1: 0, 2: 0, 3: 0, 4: 0, 5: 4, 6: 0, 7: 0, 8: 0, 9: 6}
    assert outcome.figures.n == 20
    assert outcome.figures.pct_agree == 80.0


def test_abstentions_are_excluded_from_the_denominator() -> None:
    # 15 of 20 ratings agree: 75 %. Counting the 10 abstentions would make it 50 %.
    outcome = run(PercentAgreement(), {5: 15, 2: 5}, abstained=10, scale=(1, 5))
    assert outcome.figures.n == 20
    assert outcome.figures.abstained == 10
    assert outcome.figures.pct_agree == 75.0
    assert outcome.classification == "consensus_for"


def test_pct_agree_follows_the_rule_cut_offs() -> None:
    outcome = run(Comet7015(high_min=8, low_max=2), {7: 5, 8: 3, 2: 2})
    assert outcome.figures.agree_count == 3
    assert outcome.figures.disagree_count == 2
    assert outcome.figures.pct_agree == 30.0


def test_quantile_method_changes_the_outcome_of_the_seed_example() -> None:
    rule = MedianIqr(median_min=4, median_max_against=2, iqr_max=1)
    type7 = run(rule, SEED_21, scale=(1, 5), method="type7")
    type6 = run(rule, SEED_21, scale=(1, 5), method="type6")
    assert (type7.figures.iqr, type7.classification) == (1.0, "consensus_for")
    assert (type6.figures.iqr, type6.classification) == (1.5, "no_consensus")


def test_rand_figures_are_present_only_for_the_rand_rule() -> None:
    rand = run(RandUcla(), RAND_15)
    assert rand.rand is not None
    assert rand.rand.category == "appropriate"
    assert rand.classification == "consensus_for"
    assert "rand" in rand.as_dict()
    comet = run(Comet7015(), RAND_15)
    assert comet.rand is None
    assert "rand" not in comet.as_dict()


def test_as_dict_flattens_figures_and_nests_groups() -> None:
    groups: dict[str, tuple[Histogram, int]] = {
        "physiotherapists": ({7: 5, 8: 5}, 0),
        "physiatrists": ({5: 6, 8: 4}, 1),  # median 5: uncertain
    }
    outcome = run(RandUcla(require_all_groups=True), RAND_15, abstained=1, groups=groups)
    data = json.loads(json.dumps(outcome.as_dict()))
    assert data["n"] == 15
    assert data["abstained"] == 1
    assert data["histogram"]["7"] == 5
    assert list(data["histogram"]) == [str(point) for point in range(1, 10)]
    assert data["median"] == 7.0
    assert data["pct_agree"] == pytest.approx(80.0)
    assert data["classification"] == "no_consensus"  # the physiatrists are uncertain
    assert data["rand"]["ipras"] == pytest.approx(6.1)
    assert data["rand"]["category"] == "appropriate"
    physiatrists = data["groups"]["physiatrists"]
    assert physiatrists["n"] == 10
    assert physiatrists["abstained"] == 1
    assert physiatrists["histogram"]["5"] == 6
    assert physiatrists["median"] == 5.0
    assert "rand" not in physiatrists
    assert physiatrists["classification"] == "no_consensus"
    assert data["groups"]["physiotherapists"]["classification"] == "consensus_for"


def test_evaluate_refuses_ratings_outside_the_scale() -> None:
    with pytest.raises(ValueError, match="outside the scale"):
        run(PercentAgreement(), {6: 1}, scale=(1, 5))
    with pytest.raises(ValueError, match="outside the scale"):
        run(PercentAgreement(), {5: 1}, groups={"a": ({0: 1}, 0)}, scale=(1, 5))
