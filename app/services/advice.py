"""Stopping advice after each round, with its reasons: consensus alone is not enough to stop."""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.models import Round, Study
from app.services import results, rounds

# Below this response rate a round's results may not speak for the panel (a common Delphi
# benchmark, e.g. Sumsion 1998: 70 %).
LOW_RESPONSE = 0.70


@dataclass(slots=True)
class Advice:
    """The headline ("stop" / "another round") and the reasons behind it, most important first."""

    headline: str
    stop: bool
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _keys(rows: list[dict[str, Any]]) -> str:
    return ", ".join(str(r["key"]) for r in rows)


def _kendall_words(w: float) -> str:
    """Schmidt (1997) bands for Kendall's W."""
    for bound, words in ((0.9, "unusually strong"), (0.7, "strong"), (0.5, "moderate")):
        if w >= bound:
            return words
    return "weak" if w >= 0.3 else "very weak"


def after_round(session: Session, *, study: Study, round_: Round) -> Advice:
    """What the coordinator should consider now that `round_` has closed."""
    res = results.round_results(session, study=study, round_=round_)
    statements = res["statements"]
    by_class: dict[str, list[dict[str, Any]]] = {"consensus_for": [], "consensus_against": []}
    for s in statements:
        by_class.setdefault(s["classification"], []).append(s)
    open_ = by_class.get("no_consensus", [])
    change = {c["statement_id"]: c for c in res["stability"]["statements"]}
    stable = [s for s in open_ if change.get(s["statement_id"], {}).get("stable") is True]
    moving = [s for s in open_ if s not in stable]
    reasons: list[str] = []
    if by_class["consensus_for"] or by_class["consensus_against"]:
        parts = []
        if by_class["consensus_for"]:
            parts.append(f"for {_keys(by_class['consensus_for'])}")
        if by_class["consensus_against"]:
            parts.append(f"against {_keys(by_class['consensus_against'])}")
        reached = len(by_class["consensus_for"]) + len(by_class["consensus_against"])
        reasons.append(f"Consensus reached on {reached} of {len(statements)}: {'; '.join(parts)}.")
    if res["stability"]["previous_round"] is None and open_:
        reasons.append(
            f"No consensus yet on {_keys(open_)}. Stability needs two rounds, so it is judged "
            "after the next one."
        )
    else:
        if stable:
            reasons.append(
                f"Stable without consensus: {_keys(stable)} (fewer than "
                f"{_threshold(res)} % changed their rating since round "
                f"{res['stability']['previous_round']}); more rounds are unlikely to move them."
            )
        if moving:
            detail = ", ".join(
                f"{s['key']} ({_pct(change.get(s['statement_id'], {}).get('pct_changed'))})"
                for s in moving
            )
            reasons.append(f"Still moving: {detail} of panelists changed their rating.")
    kendall = res["stability"]["kendall_w"]
    if kendall is not None:
        reasons.append(
            f"Kendall's W = {kendall['w']:.2f} ({_kendall_words(kendall['w'])} agreement on how "
            f"the {kendall['items']} statements rank, {kendall['raters']} panelists; "
            f"p = {kendall['p']:.3g})."
        )
    warnings = _warnings(res)
    last_allowed = round_.number >= study.max_rounds
    carried = rounds.carried_forward(session, study=study, after=round_)
    if last_allowed:
        headline = (
            f"Stop: round {round_.number} was the last the pre-registered rules allow "
            f"({study.max_rounds}). Finalize the recommendations."
        )
        stop = True
    elif not carried:
        headline = "Stop: nothing is left to rate. Finalize the recommendations."
        stop = True
    elif not moving and stable:
        headline = (
            "Consider stopping: what has no consensus is stable, so another round is unlikely "
            "to change it."
        )
        stop = True
    else:
        headline = (
            f"Another round could help: {len(carried)} statement(s) would be carried forward "
            f"({study.max_rounds - round_.number} round(s) left under the rules)."
        )
        stop = False
    return Advice(headline, stop, reasons, warnings)


def _threshold(res: dict[str, Any]) -> int:
    rule = res["stability"]["rule"]
    return int(rule["max_pct_changed"]) if rule else 15


def _pct(value: float | None) -> str:
    return "not judged" if value is None else f"{value:.0f} %"


def _warnings(res: dict[str, Any]) -> list[str]:
    warnings = []
    if res["invited"] and res["response_rate"] < LOW_RESPONSE:
        warnings.append(
            f"Only {res['responded']} of {res['invited']} panelists answered "
            f"({res['response_rate'] * 100:.0f} %); below {LOW_RESPONSE * 100:.0f} % the results "
            "may not speak for the panel."
        )
    attrition = res["attrition"]
    if attrition["left"]:
        groups = ", ".join(
            f"{name}: {g['left']} of {g['before']}"
            for name, g in attrition["by_group"].items()
            if g["left"]
        )
        warnings.append(
            f"{attrition['left']} panelist(s) who answered round {attrition['previous_round']} "
            f"did not answer this one ({groups})."
        )
    for row in attrition["bias"]:
        if row["flagged"]:
            warnings.append(
                f"{row['key']}: those who left had rated it differently in round "
                f"{attrition['previous_round']} (median {row['left_median']} vs "
                f"{row['stayed_median']}, agreement {_pct(row['left_pct_agree'])} vs "
                f"{_pct(row['stayed_pct_agree'])}); the panel that remains may not be the panel "
                "that started."
            )
    return warnings
