"""The pre-registered consensus rules of docs/method.md §3, as data and as one classify function."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal, assert_never

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from app.consensus.stats import Figures

Classification = Literal["consensus_for", "consensus_against", "no_consensus"]
RandCategory = Literal["appropriate", "uncertain", "inappropriate"]

# Quantiles are interpolated floats; a comparison against a threshold allows this much slack.
EPSILON = 1e-9

# RAND/UCLA Appropriateness Method (Fitch et al. 2001): 1..9 scale, median bands 1-3, 4-6, 7-9.
RAND_SCALE = (1, 9)

# Typography for the sentences shown to people.
DASH = "\N{EN DASH}"
MINUS = "\N{MINUS SIGN}"
TIMES = "\N{MULTIPLICATION SIGN}"
RAND_AGREE_MIN = 7
RAND_DISAGREE_MAX = 3


class _RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    min_responses: int | None = Field(default=None, ge=1)
    require_all_groups: bool = False


class PercentAgreement(_RuleBase):
    """Share of ratings in the agree (disagree) band reaches a threshold.

    Diamond et al. 2014: percent agreement is the most common definition, 75 % its median.
    """

    rule: Literal["percent_agreement"] = "percent_agreement"
    agree_min: int | None = None  # None -> default_bounds(scale)
    disagree_max: int | None = None
    threshold: int = Field(75, ge=1, le=100)


class Comet7015(_RuleBase):
    """COMET Handbook (Williamson et al. 2017): >= 70 % rate 7-9 and < 15 % rate 1-3."""

    rule: Literal["comet_70_15"] = "comet_70_15"
    high_min: int = 7
    low_max: int = 3
    in_pct: int = Field(70, ge=1, le=100)
    out_pct: int = Field(15, ge=1, le=100)


class MedianIqr(_RuleBase):
    """Central tendency plus dispersion (median and IQR), optionally with a percent condition."""

    rule: Literal["median_iqr"] = "median_iqr"
    median_min: float
    median_max_against: float
    iqr_max: float = Field(ge=0)
    agree_min: int | None = None
    threshold: int | None = Field(None, ge=1, le=100)

    @model_validator(mode="after")
    def _percent_condition_is_whole(self) -> MedianIqr:
        if (self.agree_min is None) != (self.threshold is None):
            raise ValueError(
                "median_iqr takes agree_min and threshold together: give both to add a "
                "percent-agreement condition, or neither."
            )
        return self


class RandUcla(_RuleBase):
    """RAND/UCLA Appropriateness Method (Fitch et al. 2001), 1..9 scale only."""

    rule: Literal["rand_ucla"] = "rand_ucla"


ConsensusRule = Annotated[
    PercentAgreement | Comet7015 | MedianIqr | RandUcla, Field(discriminator="rule")
]
RULE_ADAPTER: TypeAdapter[ConsensusRule] = TypeAdapter(ConsensusRule)


def _check_scale(scale_min: int, scale_max: int) -> None:
    if scale_min >= scale_max:
        raise ValueError(f"The scale must have at least two points; got {scale_min}..{scale_max}.")


def default_bounds(scale_min: int, scale_max: int) -> tuple[int, int]:
    """(agree_min, disagree_max) when a rule does not say.

    Scales of 8 or more points are cut in thirds, the outer bands each round(points / 3) wide
    (1..9 -> (7, 3), the RAND/GRADE bands; 0..10 -> (7, 3), bands 0-3, 4-6, 7-10;
    1..10 -> (8, 3)). Scales of up to 7 points are Likert-type agreement scales and split above
    and below the midpoint, the midpoint itself (odd scales) being neutral
    (1..4 -> (3, 2), 1..5 -> (4, 2), 1..6 -> (4, 3), 1..7 -> (5, 3)).
    """
    _check_scale(scale_min, scale_max)
    points = scale_max - scale_min + 1
    if points >= 8:
        width = round(points / 3)  # points / 3 is never exactly x.5, so no banker's rounding
        return scale_max - width + 1, scale_min + width - 1
    twice_mid = scale_min + scale_max  # midpoint * 2 keeps it in integers
    return twice_mid // 2 + 1, -(-twice_mid // 2) - 1


def agreement_bounds(rule: ConsensusRule, scale_min: int, scale_max: int) -> tuple[int, int]:
    """The cut-offs (agree_min, disagree_max) behind pct_agree / pct_disagree for this rule."""
    default_agree, default_disagree = default_bounds(scale_min, scale_max)
    if isinstance(rule, PercentAgreement):
        return (
            default_agree if rule.agree_min is None else rule.agree_min,
            default_disagree if rule.disagree_max is None else rule.disagree_max,
        )
    if isinstance(rule, Comet7015):
        return rule.high_min, rule.low_max
    if isinstance(rule, MedianIqr):
        return (default_agree if rule.agree_min is None else rule.agree_min, default_disagree)
    if isinstance(rule, RandUcla):
        return RAND_AGREE_MIN, RAND_DISAGREE_MAX
    assert_never(rule)


def _on_scale(name: str, value: float, scale_min: int, scale_max: int) -> None:
    if not scale_min <= value <= scale_max:
        raise ValueError(
            f"{name} is {_num(value)}, which lies outside the scale {scale_min}{DASH}{scale_max}; "
            f"choose a value from {scale_min} to {scale_max}."
        )


def _bands_apart(agree_name: str, agree: int, disagree_name: str, disagree: int) -> None:
    if agree <= disagree:
        raise ValueError(
            f"{agree_name} ({agree}) must be greater than {disagree_name} ({disagree}), so that "
            "no rating counts as both agreement and disagreement."
        )


def check_rule_for_scale(rule: ConsensusRule, scale_min: int, scale_max: int) -> None:
    """Raise ValueError, with a sentence a coordinator can act on, if the rule misfits the scale."""
    _check_scale(scale_min, scale_max)
    if isinstance(rule, PercentAgreement):
        agree, disagree = agreement_bounds(rule, scale_min, scale_max)
        _on_scale("agree_min", agree, scale_min, scale_max)
        _on_scale("disagree_max", disagree, scale_min, scale_max)
        _bands_apart("agree_min", agree, "disagree_max", disagree)
    elif isinstance(rule, Comet7015):
        _on_scale("high_min", rule.high_min, scale_min, scale_max)
        _on_scale("low_max", rule.low_max, scale_min, scale_max)
        _bands_apart("high_min", rule.high_min, "low_max", rule.low_max)
        if rule.out_pct > rule.in_pct:
            raise ValueError(
                f"out_pct ({rule.out_pct}) must not exceed in_pct ({rule.in_pct}); otherwise a "
                "statement could reach consensus for and against at once."
            )
    elif isinstance(rule, MedianIqr):
        _on_scale("median_min", rule.median_min, scale_min, scale_max)
        _on_scale("median_max_against", rule.median_max_against, scale_min, scale_max)
        if rule.median_max_against >= rule.median_min:
            raise ValueError(
                f"median_max_against ({_num(rule.median_max_against)}) must be below median_min "
                f"({_num(rule.median_min)}), so that a median cannot mean consensus for and "
                "against at once."
            )
        if rule.agree_min is not None:
            agree, disagree = agreement_bounds(rule, scale_min, scale_max)
            _on_scale("agree_min", agree, scale_min, scale_max)
            if agree <= disagree:
                raise ValueError(
                    f"agree_min ({agree}) must be greater than {disagree}, the top of the "
                    f"disagreement band this rule uses on the {scale_min}{DASH}{scale_max} scale."
                )
    elif isinstance(rule, RandUcla):
        if (scale_min, scale_max) != RAND_SCALE:
            raise ValueError(
                f"The RAND/UCLA method is defined only for a 1{DASH}9 scale, and this study's "
                f"scale is {scale_min}{DASH}{scale_max}; choose another rule or a 1{DASH}9 scale."
            )
    else:
        assert_never(rule)


def _num(value: float) -> str:
    return f"{value:g}"


def _band(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}{DASH}{high}"


def describe(rule: ConsensusRule, scale_min: int, scale_max: int) -> str:
    """The rule in plain words, for the report's methods section and the coordinator console."""
    agree, disagree = agreement_bounds(rule, scale_min, scale_max)
    up = _band(agree, scale_max)
    down = _band(scale_min, disagree)
    if isinstance(rule, PercentAgreement):
        text = (
            f"A statement reaches consensus when at least {rule.threshold} % of the ratings are "
            f"{up} (consensus for), or at least {rule.threshold} % are {down} "
            "(consensus against)."
        )
        if rule.threshold <= 50:
            text += " If both hold at once there is no consensus."
    elif isinstance(rule, Comet7015):
        text = (
            f"A statement reaches consensus when at least {rule.in_pct} % rate it {up} and fewer "
            f"than {rule.out_pct} % rate it {down} (consensus for), or at least {rule.in_pct} % "
            f"rate it {down} and fewer than {rule.out_pct} % rate it {up} (consensus against)."
        )
    elif isinstance(rule, MedianIqr):
        iqr = f"the interquartile range is at most {_num(rule.iqr_max)}"
        extra_for = extra_against = ""
        if rule.threshold is not None:
            extra_for = f" and at least {rule.threshold} % rate it {up}"
            extra_against = f" and at least {rule.threshold} % rate it {down}"
        text = (
            f"A statement reaches consensus when the median is at least {_num(rule.median_min)}, "
            f"{iqr}{extra_for} (consensus for), or when the median is at most "
            f"{_num(rule.median_max_against)}, {iqr}{extra_against} (consensus against)."
        )
    elif isinstance(rule, RandUcla):
        text = (
            "RAND/UCLA appropriateness method: a statement is appropriate (consensus for) when "
            f"its median is 7{DASH}9 and the panel does not disagree, inappropriate (consensus "
            f"against) when its median is 1{DASH}3 and the panel does not disagree, and uncertain "
            "otherwise, medians of 3.5 and 6.5 included. The panel disagrees when the "
            f"interpercentile range P70 {MINUS} P30 exceeds IPRAS = 2.35 + 1.5 {TIMES} |5 {MINUS} "
            "(P30 + P70) / 2|."
        )
    else:
        assert_never(rule)
    if not isinstance(rule, RandUcla):
        text += " Otherwise there is no consensus."
    text += " Abstentions are not counted."
    if rule.min_responses is not None:
        text += f" A statement with fewer than {rule.min_responses} ratings has no consensus."
    if rule.require_all_groups:
        text += " Consensus must also hold, the same way, within every stakeholder group."
    return text


@dataclass(frozen=True, slots=True)
class RandFigures:
    """RAND/UCLA figures (Fitch et al. 2001): IPR = P70 - P30, IPRAS = 2.35 + 1.5 * AI."""

    ipr: float
    iprcp: float
    ai: float
    ipras: float
    disagreement_index: float
    disagreement: bool
    category: RandCategory

    def as_dict(self) -> dict[str, Any]:
        return {
            "ipr": self.ipr,
            "iprcp": self.iprcp,
            "ai": self.ai,
            "ipras": self.ipras,
            "disagreement_index": self.disagreement_index,
            "disagreement": self.disagreement,
            "category": self.category,
        }


def rand_figures(fig: Figures) -> RandFigures | None:
    """RAND/UCLA figures from P30, P70 and the median; None when nobody rated."""
    if fig.n == 0 or fig.p30 is None or fig.p70 is None or fig.median is None:
        return None
    ipr = fig.p70 - fig.p30
    iprcp = (fig.p30 + fig.p70) / 2
    ai = abs(5 - iprcp)
    ipras = 2.35 + 1.5 * ai
    disagreement = ipr > ipras + EPSILON
    category: RandCategory
    if disagreement:
        category = "uncertain"
    elif fig.median >= RAND_AGREE_MIN - EPSILON:
        category = "appropriate"
    elif fig.median <= RAND_DISAGREE_MAX + EPSILON:
        category = "inappropriate"
    else:
        category = "uncertain"
    return RandFigures(
        ipr=ipr,
        iprcp=iprcp,
        ai=ai,
        ipras=ipras,
        disagreement_index=ipr / ipras,
        disagreement=disagreement,
        category=category,
    )


_RAND_CLASSIFICATION: dict[RandCategory, Classification] = {
    "appropriate": "consensus_for",
    "inappropriate": "consensus_against",
    "uncertain": "no_consensus",
}


def _decide(for_holds: bool, against_holds: bool) -> Classification:
    if for_holds and not against_holds:
        return "consensus_for"
    if against_holds and not for_holds:
        return "consensus_against"
    return "no_consensus"  # neither, or both (possible only with permissive thresholds)


def _count(fig: Figures, *, at_least: int | None = None, at_most: int | None = None) -> int:
    return sum(
        count
        for point, count in fig.histogram.items()
        if (at_least is None or point >= at_least) and (at_most is None or point <= at_most)
    )


def classify(
    rule: ConsensusRule, fig: Figures, *, apply_min_responses: bool = True
) -> Classification:
    """Classify one statement's figures under the rule (docs/method.md §3).

    Percent conditions are decided on integers (count · 100 against threshold · n), never on
    rounded or floating shares; quantile conditions allow EPSILON. Band counts are taken from
    the histogram with the rule's own cut-offs, so they do not depend on how ``fig`` was built.
    """
    n = fig.n
    if n == 0:
        return "no_consensus"
    if apply_min_responses and rule.min_responses is not None and n < rule.min_responses:
        return "no_consensus"

    if isinstance(rule, RandUcla):
        rand = rand_figures(fig)
        return "no_consensus" if rand is None else _RAND_CLASSIFICATION[rand.category]

    scale_min, scale_max = min(fig.histogram), max(fig.histogram)
    agree, disagree = agreement_bounds(rule, scale_min, scale_max)
    agree_count = _count(fig, at_least=agree)
    disagree_count = _count(fig, at_most=disagree)

    if isinstance(rule, PercentAgreement):
        return _decide(
            agree_count * 100 >= rule.threshold * n,
            disagree_count * 100 >= rule.threshold * n,
        )
    if isinstance(rule, Comet7015):
        # agree_count counts ratings >= high_min, disagree_count ratings <= low_max
        return _decide(
            agree_count * 100 >= rule.in_pct * n and disagree_count * 100 < rule.out_pct * n,
            disagree_count * 100 >= rule.in_pct * n and agree_count * 100 < rule.out_pct * n,
        )
    if isinstance(rule, MedianIqr):
        median, iqr = fig.median, fig.iqr
        if median is None or iqr is None or math.isnan(median) or math.isnan(iqr):
            return "no_consensus"
        narrow = iqr <= rule.iqr_max + EPSILON
        for_holds = narrow and median >= rule.median_min - EPSILON
        against_holds = narrow and median <= rule.median_max_against + EPSILON
        if rule.threshold is not None:
            for_holds = for_holds and agree_count * 100 >= rule.threshold * n
            against_holds = against_holds and disagree_count * 100 >= rule.threshold * n
        return _decide(for_holds, against_holds)
    assert_never(rule)
