"""Stopping advice after a round, with its reasons: consensus alone is not enough to stop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.consensus.results import RoundResults, StatementChange, StatementResult

# Below this response rate a round's results may not speak for the panel (a common Delphi
# benchmark, e.g. Sumsion 1998: 70 %).
LOW_RESPONSE = 0.70

# Schmidt (1997): Kendall's W at or above each bound, in words; below the last, "very weak".
KENDALL_BANDS = ((0.9, "unusually strong"), (0.7, "strong"), (0.5, "moderate"), (0.3, "weak"))


@dataclass(frozen=True, slots=True)
class Advice:
    """The headline ("stop" / "another round") and the reasons behind it, most important first."""

    headline: str
    stop: bool
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def kendall_words(w: float) -> str:
    """Schmidt (1997) bands for Kendall's W."""
    for bound, words in KENDALL_BANDS:
        if w >= bound:
            return words
    return "very weak"


def advise(results: RoundResults, *, max_rounds: int, carried_forward: int) -> Advice:
    """What a coordinator should consider once the round of `results` has closed.

    `max_rounds` is the study's pre-registered limit; `carried_forward` counts the statements
    the next round would put to the panel.
    """
    number = results.round.number
    statements = results.statements
    agreed_for = [s for s in statements if s.classification == "consensus_for"]
    agreed_against = [s for s in statements if s.classification == "consensus_against"]
    open_ = [s for s in statements if s.classification == "no_consensus"]
    change = {c.statement_id: c for c in results.stability.statements}
    stable = [s for s in open_ if _is_stable(change.get(s.statement_id))]
    moving = [s for s in open_ if s not in stable]
    previous = results.stability.previous_round
    reasons: list[str] = []
    if agreed_for or agreed_against:
        parts = []
        if agreed_for:
            parts.append(f"for {_keys(agreed_for)}")
        if agreed_against:
            parts.append(f"against {_keys(agreed_against)}")
        reached = len(agreed_for) + len(agreed_against)
        reasons.append(f"Consensus reached on {reached} of {len(statements)}: {'; '.join(parts)}.")
    if previous is None and open_:
        reasons.append(
            f"No consensus yet on {_keys(open_)}. Stability needs two rounds, so it is judged "
            "after the next one."
        )
    else:
        if stable:
            reasons.append(
                f"Stable without consensus: {_keys(stable)} (fewer than "
                f"{results.stability.max_pct_changed} % changed their rating since round "
                f"{previous}); more rounds are unlikely to move them."
            )
        if moving:
            detail = ", ".join(
                f"{s.key} ({_pct(_pct_changed(change.get(s.statement_id)))})" for s in moving
            )
            reasons.append(f"Still moving: {detail} of panelists changed their rating.")
    kendall = results.stability.kendall_w
    if kendall is not None:
        reasons.append(
            f"Kendall's W = {kendall.w:.2f} ({kendall_words(kendall.w)} agreement on how "
            f"the {kendall.items} statements rank, {kendall.raters} panelists; "
            f"p = {kendall.p:.3g})."
        )
    headline, stop = _headline(
        number,
        max_rounds=max_rounds,
        carried_forward=carried_forward,
        all_stable=bool(stable) and not moving,
    )
    return Advice(headline, stop, tuple(reasons), tuple(_warnings(results)))


def _headline(
    number: int, *, max_rounds: int, carried_forward: int, all_stable: bool
) -> tuple[str, bool]:
    """The advice in one sentence, and whether it is to stop."""
    if number >= max_rounds:
        return (
            f"Stop: round {number} was the last the pre-registered rules allow "
            f"({max_rounds}). Finalize the recommendations."
        ), True
    if not carried_forward:
        return "Stop: nothing is left to rate. Finalize the recommendations.", True
    if all_stable:
        return (
            "Consider stopping: what has no consensus is stable, so another round is unlikely "
            "to change it."
        ), True
    return (
        f"Another round could help: {carried_forward} statement(s) would be carried forward "
        f"({max_rounds - number} round(s) left under the rules)."
    ), False


def _keys(rows: Sequence[StatementResult]) -> str:
    return ", ".join(str(r.key) for r in rows)


def _is_stable(change: StatementChange | None) -> bool:
    return change is not None and change.stable is True


def _pct_changed(change: StatementChange | None) -> float | None:
    return None if change is None else change.pct_changed


def _pct(value: float | None) -> str:
    return "not judged" if value is None else f"{value:.0f} %"


def _warnings(results: RoundResults) -> list[str]:
    """A low response rate, panelists who left, and whether those who left differed."""
    warnings = []
    if results.invited and results.response_rate < LOW_RESPONSE:
        warnings.append(
            f"Only {results.responded} of {results.invited} panelists answered "
            f"({results.response_rate * 100:.0f} %); below {LOW_RESPONSE * 100:.0f} % the "
            "results may not speak for the panel."
        )
    attrition = results.attrition
    if attrition.left:
        groups = ", ".join(
            f"{name}: {g.left} of {g.before}" for name, g in attrition.by_group.items() if g.left
        )
        warnings.append(
            f"{attrition.left} panelist(s) who answered round {attrition.previous_round} "
            f"did not answer this one ({groups})."
        )
    for row in attrition.bias:
        if row.flagged:
            warnings.append(
                f"{row.key}: those who left had rated it differently in round "
                f"{attrition.previous_round} (median {row.left_median} vs "
                f"{row.stayed_median}, agreement {_pct(row.left_pct_agree)} vs "
                f"{_pct(row.stayed_pct_agree)}); the panel that remains may not be the panel "
                "that started."
            )
    return warnings
