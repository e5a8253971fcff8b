"""The Delphi method as pure functions (no I/O): figures, consensus rules and outcomes."""

from app.consensus.outcome import GroupOutcome, StatementOutcome, evaluate
from app.consensus.rules import (
    RULE_ADAPTER,
    Classification,
    Comet7015,
    ConsensusRule,
    MedianIqr,
    PercentAgreement,
    RandFigures,
    RandUcla,
    agreement_bounds,
    check_rule_for_scale,
    classify,
    default_bounds,
    describe,
    rand_figures,
)
from app.consensus.stats import Figures, Histogram, QuantileMethod, compute_figures, quantile

__all__ = [
    "RULE_ADAPTER",
    "Classification",
    "Comet7015",
    "ConsensusRule",
    "Figures",
    "GroupOutcome",
    "Histogram",
    "MedianIqr",
    "PercentAgreement",
    "QuantileMethod",
    "RandFigures",
    "RandUcla",
    "StatementOutcome",
    "agreement_bounds",
    "check_rule_for_scale",
    "classify",
    "compute_figures",
    "default_bounds",
    "describe",
    "evaluate",
    "quantile",
    "rand_figures",
]
