"""Grading tables of docs/method.md §8: ordered rows turning a level and the verdict into a grade.

A table is validated on parsing (GradingTable), applied row by row (grade_for), said in words
(describe_table), and comes in two presets (OCEBM 2009 A-D, GRADE strong/conditional). The
levels it reads are app.consensus.levels. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.consensus.levels import SCHEME_CODES, Scheme
from app.consensus.rules import Classification
from app.consensus.strength import CHOICE_MIN_PCT, STRENGTH_LABELS, STRENGTH_WORDS, Strength

NO_RECOMMENDATION = "no_recommendation"
UNGRADED = "ungraded"


class GradingRow(BaseModel):
    """One condition -> grade; None matches anything, percentages are whole numbers (integers)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    level_in: list[str] | None = None
    classification_in: list[Classification] | None = None
    min_pct_agree: int | None = Field(default=None, ge=1, le=100)
    min_pct_disagree: int | None = Field(default=None, ge=1, le=100)
    # The panel's choice in the strength vote (app.consensus.strength.panel_choice: 70 % of votes).
    panel_strength_in: list[Strength] | None = None
    grade: str = Field(min_length=1)
    label: str | None = None

    @model_validator(mode="after")
    def _can_match(self) -> GradingRow:
        if self.level_in is not None and not self.level_in:
            raise ValueError(
                "level_in is empty, so the row could never match; leave it out to match any level."
            )
        if self.classification_in is not None and not self.classification_in:
            raise ValueError(
                "classification_in is empty, so the row could never match; leave it out to match "
                "consensus for and against."
            )
        if self.classification_in is not None and "no_consensus" in self.classification_in:
            raise ValueError(
                "A row cannot grade no_consensus: a statement without consensus always gets no "
                "recommendation."
            )
        if self.panel_strength_in is not None and not self.panel_strength_in:
            raise ValueError(
                "panel_strength_in is empty, so the row could never match; leave it out to match "
                "whatever strength the panel chose."
            )
        if self.grade in (NO_RECOMMENDATION, UNGRADED):
            raise ValueError(f"{self.grade!r} is reserved; choose another grade code.")
        if "\x00" in self.grade + (self.label or ""):
            raise ValueError("The grade code and label must not contain NUL characters.")
        return self

    @property
    def shown(self) -> str:
        return self.label or self.grade


class GradingTable(BaseModel):
    """The study's ordered grading table (docs/method.md §8): the first matching row wins."""

    model_config = ConfigDict(extra="forbid")

    scheme: Scheme
    rows: list[GradingRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _levels_in_scheme(self) -> GradingTable:
        codes = SCHEME_CODES[self.scheme]
        for number, row in enumerate(self.rows, start=1):
            unknown = [code for code in row.level_in or [] if code not in codes]
            if unknown:
                raise ValueError(
                    f"Row {number} names levels {', '.join(unknown)}, which are not {self.scheme} "
                    f"levels ({', '.join(codes)})."
                )
        return self

    @property
    def uses_panel_strength(self) -> bool:
        return any(row.panel_strength_in is not None for row in self.rows)


@dataclass(frozen=True, slots=True)
class Grade:
    """A statement's grade and the row that gave it (row_index None: no row applied)."""

    code: str
    label: str
    row_index: int | None
    reason: str


def _meets(count: int, n: int, min_pct: int | None) -> bool:
    """count / n >= min_pct %, decided on integers (count * 100 >= min_pct * n); n = 0 fails."""
    return min_pct is None or (n > 0 and count * 100 >= min_pct * n)


def _pct_text(count: int, n: int) -> str:
    """The share truncated (not rounded) to 0.1 %, so it never shows a passing figure wrongly."""
    if n == 0:
        return "no ratings"
    tenths = count * 1000 // n
    return f"{tenths // 10}.{tenths % 10} %"


_CLASSIFICATION_WORDS: dict[Classification, str] = {
    "consensus_for": "consensus for",
    "consensus_against": "consensus against",
    "no_consensus": "no consensus",
}


def _or(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _describe_row(scheme: Scheme, row: GradingRow) -> str:
    conditions = []
    if row.level_in is not None:
        if scheme == "grade":
            certainties = [code.replace("_", " ") for code in row.level_in]
            conditions.append(f"the certainty of evidence is {_or(certainties)}")
        else:
            conditions.append(f"the evidence is level {_or(row.level_in)}")
    classes = row.classification_in or ["consensus_for", "consensus_against"]
    if len(set(classes)) == 1:
        conditions.append(f"the panel reached {_CLASSIFICATION_WORDS[classes[0]]}")
    else:
        conditions.append("the panel reached consensus for or against")
    if row.min_pct_agree is not None:
        conditions.append(f"at least {row.min_pct_agree} % of ratings agree")
    if row.min_pct_disagree is not None:
        conditions.append(f"at least {row.min_pct_disagree} % of ratings disagree")
    if row.panel_strength_in is not None:
        chosen = [STRENGTH_WORDS[s] for s in row.panel_strength_in]
        conditions.append(
            f"the panel's choice of strength (at least {CHOICE_MIN_PCT} % of its votes) is "
            f"{_or(chosen)}"
        )
    return f"{row.shown} when {_and(conditions)}"


def describe_table(table: GradingTable) -> list[str]:
    """One plain sentence per row, in order, then the no-consensus rule, for the methods text."""
    lines = [_describe_row(table.scheme, row) for row in table.rows]
    lines.append("No recommendation when the panel reached no consensus, whatever the evidence")
    return lines


def grade_for(
    table: GradingTable,
    *,
    level_code: str,
    classification: Classification,
    agree_count: int,
    disagree_count: int,
    n: int,
    panel_strength: Strength | None = None,
    strength_note: str | None = None,
) -> Grade:
    """Apply the table to one statement; no consensus always means no recommendation.

    panel_strength is the panel's choice in the strength vote (None: not asked, no votes, or no
    strength reached 70 % of the votes); strength_note says which, for the reason.

    Percent conditions are decided on integers (agree_count * 100 >= min_pct_agree * n), as in
    rules.classify, so exactly 80 % passes an 80 % row and one rating fewer does not.
    """
    _check_inputs(table, level_code, agree_count, disagree_count, n)
    if classification == "no_consensus":
        return Grade(
            NO_RECOMMENDATION,
            "no recommendation",
            None,
            "The panel reached no consensus, so no recommendation is made, whatever the "
            "evidence and the grading table.",
        )
    facts = (
        f"level {level_code}, {_CLASSIFICATION_WORDS[classification]}, {agree_count} of {n} "
        f"ratings agree ({_pct_text(agree_count, n)}) and {disagree_count} disagree "
        f"({_pct_text(disagree_count, n)})"
    )
    if panel_strength is not None:
        facts += f", the panel chose {STRENGTH_WORDS[panel_strength]}"
    if table.uses_panel_strength and panel_strength is None:
        facts += f", {strength_note or 'the panel made no choice of strength'}"

    for index, row in enumerate(table.rows):
        if (
            (row.level_in is None or level_code in row.level_in)
            and (row.classification_in is None or classification in row.classification_in)
            and _meets(agree_count, n, row.min_pct_agree)
            and _meets(disagree_count, n, row.min_pct_disagree)
            and (row.panel_strength_in is None or panel_strength in row.panel_strength_in)
        ):
            return Grade(
                row.grade,
                row.shown,
                index,
                f"Row {index + 1} is the first that matches ({facts}): "
                f"{_describe_row(table.scheme, row)}.",
            )
    return Grade(
        UNGRADED,
        "not graded",
        None,
        f"No row of the grading table matches this statement ({facts}); add a row that covers it.",
    )


def _check_inputs(
    table: GradingTable, level_code: str, agree_count: int, disagree_count: int, n: int
) -> None:
    """Raise ValueError when the counts cannot be a panel's or the level is not the table's."""
    if agree_count < 0 or disagree_count < 0 or agree_count + disagree_count > n:
        raise ValueError(
            f"Counts do not fit: {agree_count} agreeing and {disagree_count} disagreeing out of "
            f"{n} ratings; each must be at least 0 and together at most the number of ratings."
        )
    codes = SCHEME_CODES[table.scheme]
    if level_code not in codes:
        raise ValueError(
            f"{level_code!r} is not a {table.scheme} level, the scheme of this grading table; "
            f"choose one of {', '.join(codes)}."
        )


# ------------------------------------------------------------------------------------ presets


def oxford_2009_table(
    scheme: Literal["oxford_2009", "pedro_scire"] = "oxford_2009",
) -> GradingTable:
    """OCEBM 2009 grades A-D; consensus against gets the same letter, "against" (e.g. A_against).

    A: level 1; B: level 2-3; C: level 4; D: level 5. The letter measures the evidence, which is
    as strong behind a recommendation against as behind one for, so the direction is recorded
    beside it rather than changing it. "Extrapolated" and "inconsistent" evidence are not judged
    automatically; override the level to apply them. Works for pedro_scire levels too (level
    numbers match: 1a/1b, 2-3, 4, 5).
    """
    bands: list[tuple[str, list[str]]] = (
        [("A", ["1a", "1b"]), ("B", ["2a", "2b", "3a", "3b"]), ("C", ["4"]), ("D", ["5"])]
        if scheme == "oxford_2009"
        else [("A", ["1a", "1b"]), ("B", ["2", "3"]), ("C", ["4"]), ("D", ["5"])]
    )
    rows = [
        GradingRow(
            level_in=levels,
            classification_in=["consensus_for"],
            grade=letter,
            label=f"Grade {letter}",
        )
        for letter, levels in bands
    ] + [
        GradingRow(
            level_in=levels,
            classification_in=["consensus_against"],
            grade=f"{letter}_against",
            label=f"Grade {letter} (against)",
        )
        for letter, levels in bands
    ]
    return GradingTable(scheme=scheme, rows=rows)


def grade_table(strong_min_pct: int = 80, *, panel_strength: bool = False) -> GradingTable:
    """GRADE strengths: strong for high/moderate certainty and >= 80 % agreement, else conditional.

    Strong against mirrors strong for: high/moderate certainty, consensus against and at least
    strong_min_pct % of ratings in the disagreement band. With panel_strength (a study that holds
    the strength vote) the panel's choice (70 % of votes) replaces the percentage: strong needs
    high/moderate certainty and the panel choosing strong; anything else is conditional.
    """
    strong = ["high", "moderate"]

    def strong_row(direction: Literal["for", "against"]) -> GradingRow:
        choice: Strength = "strong_for" if direction == "for" else "strong_against"
        pct = None if panel_strength else strong_min_pct
        return GradingRow(
            level_in=strong,
            classification_in=["consensus_for" if direction == "for" else "consensus_against"],
            min_pct_agree=pct if direction == "for" else None,
            min_pct_disagree=pct if direction == "against" else None,
            panel_strength_in=[choice] if panel_strength else None,
            grade=choice,
            label=STRENGTH_LABELS[choice],
        )

    return GradingTable(
        scheme="grade",
        rows=[
            strong_row("for"),
            GradingRow(
                classification_in=["consensus_for"],
                grade="conditional_for",
                label=STRENGTH_LABELS["conditional_for"],
            ),
            strong_row("against"),
            GradingRow(
                classification_in=["consensus_against"],
                grade="conditional_against",
                label=STRENGTH_LABELS["conditional_against"],
            ),
        ],
    )
