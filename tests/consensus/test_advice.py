"""The stopping advice is decided from a round's results alone: headline, reasons, warnings."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from app.consensus import Comet7015, evaluate
from app.consensus.advice import Advice, advise, kendall_words
from app.consensus.results import (
    Attrition,
    AttritionBias,
    GroupAttrition,
    RoundHeader,
    RoundResults,
    Stability,
    StatementChange,
    StatementResult,
)
from app.consensus.stability import KendallW

from .helpers import hist

AGREED = [8, 8, 9, 7, 8, 9, 8, 8, 9, 7]  # consensus for under COMET 70/15
SPLIT = [1, 2, 3, 5, 5, 6, 7, 8, 9, 9]  # no consensus
REJECTED = [1, 2, 1, 3, 2, 1, 2, 3, 1, 2]  # consensus against


def statement(statement_id: int, ratings: list[int]) -> StatementResult:
    """A statement's result as a round's snapshot holds it, rated on 1..9 under COMET 70/15."""
    outcome = evaluate(
        Comet7015(),
        histogram=hist(ratings),
        abstained=0,
        group_histograms={},
        scale_min=1,
        scale_max=9,
        method="type7",
    )
    return StatementResult.from_snapshot(
        outcome.as_dict(),
        statement_id=statement_id,
        version_id=statement_id,
        key=f"S{statement_id:02d}",
    )


def change(statement_id: int, *, pairs: int, changed: int, stable: bool | None) -> StatementChange:
    return StatementChange(
        statement_id=statement_id,
        key=f"S{statement_id:02d}",
        pairs=pairs,
        changed=changed,
        pct_changed=100 * changed / pairs,
        mean_abs_change=None,
        mean_change=None,
        wilcoxon_statistic=None,
        wilcoxon_p=None,
        zero_method="wilcox",
        note=None,
        stable=stable,
        previous_cv=None,
        cv=None,
        cv_change=None,
    )


def results(
    number: int,
    statements: Sequence[StatementResult],
    *,
    changes: Sequence[StatementChange] = (),
    kendall: KendallW | None = None,
    invited: int = 10,
    responded: int = 10,
    attrition: Attrition | None = None,
) -> RoundResults:
    previous = number - 1 if number > 1 else None
    return RoundResults(
        round=RoundHeader(id=number, number=number, status="closed"),
        provisional=False,
        invited=invited,
        responded=responded,
        response_rate=round(responded / invited, 4),
        rule={"rule": "comet_70_15"},
        statements=tuple(statements),
        stability=Stability(
            previous_round=previous,
            rule=None,
            rule_in_words="",
            kendall_w=kendall,
            kendall_raters=responded,
            kendall_items=len(statements),
            statements=tuple(changes),
        ),
        attrition=attrition
        or Attrition(previous_round=previous, left=0, joined=0, by_group={}, bias=()),
    )


@pytest.mark.parametrize(
    ("w", "words"),
    [
        (1.0, "unusually strong"),
        (0.9, "unusually strong"),
        (0.89, "strong"),
        (0.7, "strong"),
        (0.69, "moderate"),
        (0.5, "moderate"),
        (0.49, "weak"),
        (0.3, "weak"),
        (0.29, "very weak"),
        (0.0, "very weak"),
    ],
)
def test_kendalls_w_falls_in_schmidts_bands_each_bound_included(w: float, words: str) -> None:
    assert kendall_words(w) == words


def test_round_one_with_statements_left_open_asks_for_another_round() -> None:
    advice = advise(
        results(1, [statement(1, AGREED), statement(2, SPLIT), statement(3, REJECTED)]),
        max_rounds=3,
        carried_forward=1,
    )
    assert advice == Advice(
        headline="Another round could help: 1 statement(s) would be carried forward "
        "(2 round(s) left under the rules).",
        stop=False,
        reasons=(
            "Consensus reached on 2 of 3: for S01; against S03.",
            "No consensus yet on S02. Stability needs two rounds, so it is judged after the "
            "next one.",
        ),
    )


def test_the_last_round_the_rules_allow_says_stop_whatever_is_still_open() -> None:
    advice = advise(results(3, [statement(1, SPLIT)]), max_rounds=3, carried_forward=1)
    assert advice.stop
    assert advice.headline == (
        "Stop: round 3 was the last the pre-registered rules allow (3). Finalize the "
        "recommendations."
    )


def test_nothing_left_to_carry_forward_says_stop() -> None:
    advice = advise(results(1, [statement(1, AGREED)]), max_rounds=3, carried_forward=0)
    assert advice.stop
    assert advice.headline == "Stop: nothing is left to rate. Finalize the recommendations."


def test_stable_statements_without_consensus_suggest_stopping() -> None:
    advice = advise(
        results(2, [statement(1, SPLIT)], changes=[change(1, pairs=10, changed=1, stable=True)]),
        max_rounds=4,
        carried_forward=1,
    )
    assert advice.stop
    assert advice.headline.startswith("Consider stopping: what has no consensus is stable")
    assert advice.reasons == (
        "Stable without consensus: S01 (fewer than 15 % changed their rating since round 1); "
        "more rounds are unlikely to move them.",
    )


def test_one_statement_still_moving_keeps_the_round_going_and_says_how_much_it_moved() -> None:
    advice = advise(
        results(
            2,
            [statement(1, SPLIT), statement(2, SPLIT), statement(3, SPLIT)],
            changes=[
                change(1, pairs=10, changed=1, stable=True),
                change(2, pairs=10, changed=4, stable=False),
                change(3, pairs=2, changed=1, stable=None),  # too few pairs to judge
            ],
            kendall=KendallW(
                w=0.42, chi2=8.4, df=2, p=0.015, raters=10, items=3, tie_corrected=True
            ),
        ),
        max_rounds=4,
        carried_forward=2,
    )
    assert not advice.stop
    assert advice.reasons == (
        "Stable without consensus: S01 (fewer than 15 % changed their rating since round 1); "
        "more rounds are unlikely to move them.",
        "Still moving: S02 (40 %), S03 (50 %) of panelists changed their rating.",
        "Kendall's W = 0.42 (weak agreement on how the 3 statements rank, 10 panelists; "
        "p = 0.015).",
    )


def test_a_response_rate_below_seventy_percent_is_a_warning_and_seventy_is_not() -> None:
    low = advise(results(1, [statement(1, AGREED)], responded=6), max_rounds=3, carried_forward=0)
    assert low.warnings == (
        "Only 6 of 10 panelists answered (60 %); below 70 % the results may not speak for the "
        "panel.",
    )
    enough = advise(
        results(1, [statement(1, AGREED)], responded=7), max_rounds=3, carried_forward=0
    )
    assert enough.warnings == ()


def test_panelists_who_left_are_counted_by_group_and_a_differing_few_are_named() -> None:
    bias = AttritionBias(
        statement_id=1,
        key="S01",
        left_n=2,
        stayed_n=8,
        left_median=2.0,
        stayed_median=8.0,
        median_gap=-6.0,
        left_pct_agree=0.0,
        stayed_pct_agree=87.5,
        pct_agree_gap=-87.5,
        flagged=True,
    )
    attrition = Attrition(
        previous_round=1,
        responded_before=10,
        responded_now=8,
        left=2,
        joined=0,
        by_group={
            "nurses": GroupAttrition(before=5, left=2, now=3),
            "physicians": GroupAttrition(before=5, left=0, now=5),
        },
        bias=(bias,),
    )
    advice = advise(
        results(2, [statement(1, SPLIT)], invited=10, responded=8, attrition=attrition),
        max_rounds=3,
        carried_forward=1,
    )
    assert advice.warnings == (
        "2 panelist(s) who answered round 1 did not answer this one (nurses: 2 of 5).",
        "S01: those who left had rated it differently in round 1 (median 2.0 vs 8.0, "
        "agreement 0 % vs 88 %); the panel that remains may not be the panel that started.",
    )
