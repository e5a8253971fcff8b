"""The optional strength vote: panelists choose a recommendation's strength as they rate it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

Strength = Literal["strong_for", "conditional_for", "conditional_against", "strong_against"]
STRENGTHS: tuple[Strength, ...] = get_args(Strength)
STRENGTH_WORDS: dict[Strength, str] = {
    "strong_for": "strong for",
    "conditional_for": "conditional for",
    "conditional_against": "conditional against",
    "strong_against": "strong against",
}
# The choices as the ballot offers them and a GRADE table names its grades (consensus.grading).
STRENGTH_LABELS: dict[Strength, str] = {
    "strong_for": "Strong recommendation for",
    "conditional_for": "Conditional recommendation for",
    "conditional_against": "Conditional recommendation against",
    "strong_against": "Strong recommendation against",
}


def votes(counts: Mapping[str, int] | Mapping[Strength, int]) -> dict[Strength, int]:
    """Every choice with its count (zeros included), so a report's table has fixed columns."""
    unknown = sorted(set(counts) - set(STRENGTHS))
    if unknown:
        raise ValueError(f"Unknown strength {', '.join(unknown)}; choose from {STRENGTHS}.")
    if any(count < 0 for count in counts.values()):
        raise ValueError("A strength cannot have a negative number of votes.")
    return {choice: int(counts.get(choice, 0)) for choice in STRENGTHS}


# The panel's choice needs a supermajority of those who chose a strength, as in the GRADE grid
# (Jaeschke R, Guyatt GH, et al. BMJ 2008;337:a744: 70 % to call a recommendation strong).
CHOICE_MIN_PCT = 70


def panel_choice(counts: Mapping[str, int] | Mapping[Strength, int]) -> Strength | None:
    """The strength at least 70 % of voters chose; None when no strength reaches that.

    Decided on integers (count * 100 >= 70 * votes). A plurality is not enough: with 6/5/5/5
    votes no strength speaks for the panel, so a grading row that asks for the panel's choice
    does not match and the statement falls to the rows that do not (conditional, in the presets).
    """
    counted = votes(counts)
    total = sum(counted.values())
    for choice, count in counted.items():
        if total and count * 100 >= CHOICE_MIN_PCT * total:
            return choice
    return None


def describe_vote(counts: Mapping[str, int] | Mapping[Strength, int]) -> str:
    """The vote in words for reasons and reports: 'strong for (12 of 15 votes, 80 %)'."""
    counted = votes(counts)
    total = sum(counted.values())
    if total == 0:
        return "no strength votes"
    choice = panel_choice(counted)
    if choice is None:
        spread = ", ".join(f"{STRENGTH_WORDS[c]} {n}" for c, n in counted.items() if n)
        return f"no strength chosen by {CHOICE_MIN_PCT} % of the {total} votes ({spread})"
    share = counted[choice] * 100 // total
    return f"{STRENGTH_WORDS[choice]} ({counted[choice]} of {total} votes, {share} %)"
