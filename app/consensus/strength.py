"""The optional strength vote: panelists choose a recommendation's strength in the final round."""

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


def votes(counts: Mapping[str, int] | Mapping[Strength, int]) -> dict[Strength, int]:
    """Every choice with its count (zeros included), so a report's table has fixed columns."""
    unknown = sorted(set(counts) - set(STRENGTHS))
    if unknown:
        raise ValueError(f"Unknown strength {', '.join(unknown)}; choose from {STRENGTHS}.")
    if any(count < 0 for count in counts.values()):
        raise ValueError("A strength cannot have a negative number of votes.")
    return {choice: int(counts.get(choice, 0)) for choice in STRENGTHS}


def modal(counts: Mapping[str, int] | Mapping[Strength, int]) -> Strength | None:
    """The panel's most frequent choice; None when nobody chose or the top choices tie.

    A tie is not broken: picking one of the tied strengths (or the weaker one) would be a rule the
    panel never agreed to, so a grading row that asks for the panel's choice does not match.
    """
    counted = votes(counts)
    top = max(counted.values())
    if top == 0:
        return None
    winners = [choice for choice, count in counted.items() if count == top]
    return winners[0] if len(winners) == 1 else None


def describe_modal(counts: Mapping[str, int] | Mapping[Strength, int]) -> str:
    """The vote in words for reasons and reports: 'strong for (12 of 19 votes)'."""
    counted = votes(counts)
    total = sum(counted.values())
    if total == 0:
        return "no strength votes"
    choice = modal(counted)
    if choice is None:
        top = max(counted.values())
        tied = [STRENGTH_WORDS[c] for c, n in counted.items() if n == top]
        return f"tied between {' and '.join(tied)} ({top} of {total} votes each)"
    return f"{STRENGTH_WORDS[choice]} ({counted[choice]} of {total} votes)"
