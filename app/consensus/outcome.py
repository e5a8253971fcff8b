"""One statement's result in a closed round: figures and classification, overall and per group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.consensus.rules import (
    Classification,
    ConsensusRule,
    RandFigures,
    RandUcla,
    agreement_bounds,
    classify,
    rand_figures,
)
from app.consensus.stats import Figures, Histogram, QuantileMethod, compute_figures


@dataclass(frozen=True, slots=True)
class GroupOutcome:
    """Figures and classification within one stakeholder group."""

    figures: Figures
    classification: Classification

    def as_dict(self) -> dict[str, Any]:
        return {**self.figures.as_dict(), "classification": self.classification}


@dataclass(frozen=True, slots=True)
class StatementOutcome:
    """The result snapshot of one statement (docs/method.md §3, API.md ``RoundResults``)."""

    figures: Figures
    classification: Classification
    rand: RandFigures | None
    groups: dict[str, GroupOutcome]

    def as_dict(self) -> dict[str, Any]:
        """Figures flattened at the top level, then classification, rand (RAND rule), groups."""
        result: dict[str, Any] = {**self.figures.as_dict(), "classification": self.classification}
        if self.rand is not None:
            result["rand"] = self.rand.as_dict()
        result["groups"] = {name: group.as_dict() for name, group in self.groups.items()}
        return result


def evaluate(
    rule: ConsensusRule,
    *,
    histogram: Histogram,
    abstained: int,
    group_histograms: Mapping[str, tuple[Histogram, int]],
    scale_min: int,
    scale_max: int,
    method: QuantileMethod,
) -> StatementOutcome:
    """Figures and classification of one statement, overall and within each group.

    ``group_histograms`` maps a group's name to (its histogram, its abstentions). Each group is
    classified with the same rule but without ``min_responses`` (a small group is not held to
    the panel's minimum). With ``require_all_groups`` the overall classification stands only if
    every listed group has the same one; a group with no ratings has not agreed. With no groups
    listed the overall classification stands as it is.
    """
    agree_min, disagree_max = agreement_bounds(rule, scale_min, scale_max)

    def figures(hist: Histogram, abst: int) -> Figures:
        return compute_figures(
            hist,
            scale_min=scale_min,
            scale_max=scale_max,
            abstained=abst,
            method=method,
            agree_min=agree_min,
            disagree_max=disagree_max,
        )

    overall = figures(histogram, abstained)
    classification = classify(rule, overall)
    groups: dict[str, GroupOutcome] = {}
    for name, (group_histogram, group_abstained) in group_histograms.items():
        group_figures = figures(group_histogram, group_abstained)
        groups[name] = GroupOutcome(
            figures=group_figures,
            classification=classify(rule, group_figures, apply_min_responses=False),
        )
    if rule.require_all_groups and any(
        group.classification != classification for group in groups.values()
    ):
        classification = "no_consensus"
    return StatementOutcome(
        figures=overall,
        classification=classification,
        rand=rand_figures(overall) if isinstance(rule, RandUcla) else None,
        groups=groups,
    )
