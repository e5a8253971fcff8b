"""A round's results read back from their snapshot JSON as frozen, typed figures."""

from __future__ import annotations

import dataclasses
import json

import pytest

from app.consensus import RandUcla, evaluate
from app.consensus.results import GroupResult, Stability, StatementResult

from .helpers import RAND_15, hist


def _snapshot() -> dict[str, object]:
    """What a closed round stores for one statement (RAND/UCLA, two groups), through JSON."""
    outcome = evaluate(
        RandUcla(),
        histogram=RAND_15,
        abstained=2,
        group_histograms={"nurses": (hist([7, 8, 8, 9]), 1), "patients": (hist([4, 5]), 0)},
        scale_min=1,
        scale_max=9,
        method="type7",
    )
    return json.loads(json.dumps(outcome.as_dict()))


def test_a_snapshot_reads_back_with_every_figure_group_and_rand_figure_it_froze() -> None:
    stored = _snapshot()
    result = StatementResult.from_snapshot(stored, statement_id=4, version_id=9, key="S04")
    assert (result.statement_id, result.version_id, result.key) == (4, 9, "S04")
    assert (result.n, result.abstained, result.median) == (15, 2, stored["median"])
    assert list(result.histogram.items()) == [(str(p), RAND_15.get(p, 0)) for p in range(1, 10)]
    assert result.classification == stored["classification"] == "consensus_for"
    assert result.rand is not None
    assert result.rand.category == "appropriate"
    assert list(result.groups) == ["nurses", "patients"]
    assert result.groups["nurses"] == GroupResult.from_figures(stored["groups"]["nurses"])  # type: ignore[index]
    assert (result.groups["nurses"].n, result.groups["nurses"].abstained) == (4, 1)
    assert result.strength_votes is None
    assert result.panel_strength is None


def test_a_snapshot_written_with_entries_this_version_does_not_know_still_reads() -> None:
    stored = _snapshot()
    stored["ranked_first_by"] = 3
    stored["rand"]["iprcp_rounded"] = 7  # type: ignore[index]
    result = StatementResult.from_snapshot(stored, statement_id=1, version_id=1, key=None)
    assert result.n == 15
    assert result.rand is not None


def test_results_once_read_cannot_be_changed() -> None:
    result = StatementResult.from_snapshot(_snapshot(), statement_id=1, version_id=1, key="S01")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.classification = "no_consensus"  # type: ignore[misc]


def test_without_a_stability_rule_stability_is_judged_against_fifteen_percent() -> None:
    def stability(rule: dict[str, object] | None) -> Stability:
        return Stability(
            previous_round=1,
            rule=rule,
            rule_in_words="",
            kendall_w=None,
            kendall_raters=0,
            kendall_items=0,
            statements=(),
        )

    assert stability(None).max_pct_changed == 15
    assert stability({"max_pct_changed": 30, "min_pairs": 5}).max_pct_changed == 30
