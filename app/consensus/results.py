"""A round's results as frozen, typed figures: per statement, per stakeholder group, per round.

What `app.services.results.round_results` returns and every reader uses (the results API, the
console, the exports, the report, the stopping advice). A closed round's statements are read
back from their snapshots' JSON (`StatementResult.from_figures`), an open round's from the same
JSON counted live, so both are one shape. Histograms keep their keys as the API shows them
(every scale point, as text) and every mapping keeps the order it was stored in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from app.consensus.rules import Classification, RandFigures
from app.consensus.stability import KendallW, StabilityRule

# The figures of docs/method.md §2.1 a snapshot holds for the panel and each group, in order.
FIGURE_NAMES = (
    "n",
    "abstained",
    "histogram",
    "mean",
    "sd",
    "median",
    "q1",
    "q3",
    "iqr",
    "p30",
    "p70",
    "agree_count",
    "disagree_count",
    "pct_agree",
    "pct_disagree",
    "cv",
    "classification",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupResult:
    """Figures and classification of a set of ratings: one stakeholder group, or the panel."""

    n: int
    abstained: int
    histogram: Mapping[str, int]  # scale point (as text) -> ratings, every point, scale order
    mean: float | None
    sd: float | None
    median: float | None
    q1: float | None
    q3: float | None
    iqr: float | None
    p30: float | None
    p70: float | None
    agree_count: int | None  # the counts behind pct_agree / pct_disagree
    disagree_count: int | None
    pct_agree: float | None
    pct_disagree: float | None
    cv: float | None
    classification: Classification

    @classmethod
    def from_figures(cls, figures: Mapping[str, Any]) -> GroupResult:
        """A group's figures as a snapshot stores them (`GroupOutcome.as_dict`)."""
        return cls(**_figures(figures))


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementResult(GroupResult):
    """One statement's result in one round: the panel's figures, RAND/UCLA's, each group's."""

    statement_id: int
    version_id: int
    key: str | None
    rand: RandFigures | None = None  # only under the RAND/UCLA rule
    groups: Mapping[str, GroupResult]
    strength_votes: Mapping[str, int] | None = None  # only in rounds that ask for strength
    panel_strength: str | None = None

    @classmethod
    def from_snapshot(
        cls, figures: Mapping[str, Any], *, statement_id: int, version_id: int, key: str | None
    ) -> StatementResult:
        """A statement's figures as a snapshot stores them (`StatementTally.figures`)."""
        rand = figures.get("rand")
        return cls(
            statement_id=statement_id,
            version_id=version_id,
            key=key,
            **_figures(figures),
            rand=None if rand is None else RandFigures(**stored(RandFigures, rand)),
            groups={
                name: GroupResult.from_figures(group)
                for name, group in (figures.get("groups") or {}).items()
            },
            strength_votes=figures.get("strength_votes"),
            panel_strength=figures.get("panel_strength"),
        )


def _figures(figures: Mapping[str, Any]) -> dict[str, Any]:
    return {name: figures.get(name) for name in FIGURE_NAMES}


def stored(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of a stored JSON record that are fields of the dataclass `cls`: a record
    written by a later version, with more entries, still reads."""
    return {f.name: data[f.name] for f in fields(cls) if f.name in data}


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementChange:
    """How a statement's ratings moved since the previous round, and whether it is stable."""

    statement_id: int
    key: str | None
    pairs: int  # panelists with a rating in both rounds
    changed: int
    pct_changed: float | None
    mean_abs_change: float | None
    mean_change: float | None  # signed: this round minus the previous one
    wilcoxon_statistic: float | None
    wilcoxon_p: float | None
    zero_method: str
    note: str | None
    stable: bool | None  # None: too few pairs to judge
    previous_cv: float | None
    cv: float | None
    cv_change: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Stability:
    """Stability since the previous round and Kendall's W: what says when to stop."""

    previous_round: int | None  # None in round 1: nothing to compare with
    rule: Mapping[str, Any] | None  # the pre-registered StabilityRule as JSON; None: report only
    rule_in_words: str
    kendall_w: KendallW | None
    kendall_raters: int
    kendall_items: int
    statements: tuple[StatementChange, ...]

    @property
    def max_pct_changed(self) -> int:
        """The share of panelists changing below which a statement is stable (the rule's)."""
        if self.rule is None:
            return StabilityRule().max_pct_changed  # the default, used only to report
        return int(self.rule["max_pct_changed"])


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupAttrition:
    before: int  # answered the previous round
    left: int  # answered the previous round but not this one
    now: int  # answered this round


@dataclass(frozen=True, slots=True, kw_only=True)
class AttritionBias:
    """On the previous round's ratings: did those who left differ from those who stayed?"""

    statement_id: int
    key: str | None
    left_n: int
    stayed_n: int
    left_median: float | None
    stayed_median: float | None
    median_gap: float | None  # those who left minus those who stayed
    left_pct_agree: float | None
    stayed_pct_agree: float | None
    pct_agree_gap: float | None
    flagged: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Attrition:
    """Who answered the previous round but not this one, by group, and whether they differed."""

    previous_round: int | None
    responded_before: int = 0
    responded_now: int = 0
    left: int
    joined: int
    by_group: Mapping[str, GroupAttrition]
    bias: tuple[AttritionBias, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundHeader:
    id: int
    number: int
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundResults:
    """A round's results (API.md `RoundResults`): frozen at its close, provisional while open."""

    round: RoundHeader
    provisional: bool  # the round is open: figures may change
    invited: int
    responded: int
    response_rate: float
    rule: Mapping[str, Any]  # the consensus rule as applied (tally.rule_as_applied), as JSON
    statements: tuple[StatementResult, ...]
    stability: Stability
    attrition: Attrition
