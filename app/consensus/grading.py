"""Evidence levels and recommendation grades of DESIGN.md §2.5, as pure functions (no I/O)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, assert_never, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.consensus.rules import DASH, Classification
from app.consensus.strength import CHOICE_MIN_PCT, STRENGTH_WORDS, Strength

Design = Literal[
    "systematic_review",
    "meta_analysis",
    "rct",
    "non_randomised_controlled",
    "cohort",
    "case_control",
    "pre_post",
    "case_series",
    "expert_opinion",
]
Amstar2 = Literal["high", "moderate", "low", "critically_low"]
Scheme = Literal["pedro_scire", "oxford_2009", "grade"]

DESIGNS: tuple[Design, ...] = get_args(Design)
REVIEW_DESIGNS: frozenset[Design] = frozenset({"systematic_review", "meta_analysis"})
OBSERVATIONAL_DESIGNS: frozenset[Design] = frozenset(
    {"non_randomised_controlled", "cohort", "case_control", "pre_post", "case_series"}
)

# PEDro (Maher et al. 2003): 11 items, item 1 (eligibility) outside the 0-10 total; >= 6 is high.
PEDRO_ITEMS = 11
PEDRO_MAX = 10
PEDRO_HIGH = 6
# Original AMSTAR: 11 items; 0-3 is conventionally read as low quality.
AMSTAR_MAX = 11
AMSTAR_LOW_BELOW = 4
AMSTAR2_LOW: frozenset[Amstar2] = frozenset({"low", "critically_low"})

GE = "\N{GREATER-THAN OR EQUAL TO}"

# Each scheme's codes, best first. "One step down" means the next code in this order.
SCHEME_CODES: dict[Scheme, tuple[str, ...]] = {
    "pedro_scire": ("1a", "1b", "2", "3", "4", "5"),
    "oxford_2009": ("1a", "1b", "2a", "2b", "3a", "3b", "4", "5"),
    "grade": ("high", "moderate", "low", "very_low"),
}

LEVEL_LABELS: dict[Scheme, dict[str, str]] = {
    # SCIRE Project, levels of evidence (PEDro-based).
    "pedro_scire": {
        "1a": f"Level 1a: at least two RCTs with PEDro {GE} 6",
        "1b": f"Level 1b: one RCT with PEDro {GE} 6",
        "2": "Level 2: RCT with PEDro < 6, non-randomised controlled trial or prospective cohort",
        "3": "Level 3: case-control study",
        "4": f"Level 4: pre{DASH}post study or case series",
        "5": "Level 5: expert opinion, or no research evidence",
    },
    # OCEBM Levels of Evidence Working Group, March 2009 (therapy column).
    "oxford_2009": {
        "1a": "Level 1a: systematic review of RCTs",
        "1b": "Level 1b: individual RCT of good quality",
        "2a": "Level 2a: systematic review of cohort studies",
        "2b": "Level 2b: individual cohort study or low-quality RCT",
        "3a": "Level 3a: systematic review of case-control studies",
        "3b": "Level 3b: individual case-control study",
        "4": "Level 4: case series, or poor-quality cohort or case-control study",
        "5": "Level 5: expert opinion",
    },
    # GRADE (Guyatt et al. 2008): certainty of the body of evidence.
    "grade": {
        "high": "High certainty",
        "moderate": "Moderate certainty",
        "low": "Low certainty",
        "very_low": "Very low certainty",
    },
}

_DESIGN_WORDS: dict[Design, tuple[str, str]] = {
    "systematic_review": ("systematic review", "systematic reviews"),
    "meta_analysis": ("meta-analysis", "meta-analyses"),
    "rct": ("RCT", "RCTs"),
    "non_randomised_controlled": (
        "non-randomised controlled trial",
        "non-randomised controlled trials",
    ),
    "cohort": ("cohort study", "cohort studies"),
    "case_control": ("case-control study", "case-control studies"),
    "pre_post": (f"pre{DASH}post study", f"pre{DASH}post studies"),
    "case_series": ("case series", "case series"),
    "expert_opinion": ("expert opinion", "expert opinions"),
}

_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


# ---------------------------------------------------------------------------- evidence sources


@dataclass(frozen=True, slots=True)
class Source:
    """One evidence source linked to a statement; validated on creation (see check_source)."""

    id: int | str
    citation: str
    design: Design
    pedro: int | None = None
    pedro_items: tuple[bool, ...] | None = None
    amstar2: Amstar2 | None = None
    amstar_score: int | None = None
    pooled_levels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_source(self)

    @property
    def pedro_total(self) -> int | None:
        """The PEDro 0-10 total: as recorded, else items 2-11 counted (item 1 is not scored)."""
        if self.pedro is not None:
            return self.pedro
        if self.pedro_items is not None:
            return sum(self.pedro_items[1:])
        return None

    @property
    def is_review(self) -> bool:
        return self.design in REVIEW_DESIGNS


def _name(source: Source) -> str:
    """How messages name a source: by its citation (a new source has no id yet)."""
    return source.citation or f"Source {source.id}"


def check_pedro_items(pedro: int | None, items: tuple[bool, ...]) -> None:
    """Raise ValueError unless there are 11 items and the total equals items 2-11 (Maher 2003)."""
    if len(items) != PEDRO_ITEMS:
        raise ValueError(
            f"The PEDro scale has {PEDRO_ITEMS} items and {len(items)} were given; record all "
            f"{PEDRO_ITEMS}, item 1 (eligibility criteria) included."
        )
    counted = sum(items[1:])
    if pedro is not None and pedro != counted:
        raise ValueError(
            f"The PEDro total is {pedro}, but items 2{DASH}11 add up to {counted}; item 1 "
            "(eligibility criteria) does not count toward the 0-10 total. Correct the total or "
            "the items."
        )


def check_source(source: Source) -> None:
    """Raise ValueError, with a sentence a methodologist can act on, if the appraisal misfits."""
    name = _name(source)
    if source.design not in DESIGNS:
        raise ValueError(
            f"{name} has design {source.design!r}, which is not one of: {', '.join(DESIGNS)}."
        )
    if source.design != "rct" and (source.pedro is not None or source.pedro_items is not None):
        raise ValueError(
            f"{name} is a {_DESIGN_WORDS[source.design][0]}, and the PEDro scale appraises "
            "randomised controlled trials only; remove the PEDro score or record the design as rct."
        )
    if source.pedro is not None and not 0 <= source.pedro <= PEDRO_MAX:
        raise ValueError(
            f"{name} has PEDro {source.pedro}; the PEDro total runs from 0 to {PEDRO_MAX} "
            "(items 2-11, one point each)."
        )
    if source.pedro_items is not None:
        try:
            check_pedro_items(source.pedro, source.pedro_items)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
    if not source.is_review:
        for attribute, what in (
            ("amstar2", "AMSTAR-2 rating"),
            ("amstar_score", "AMSTAR score"),
        ):
            if getattr(source, attribute) is not None:
                raise ValueError(
                    f"{name} is a {_DESIGN_WORDS[source.design][0]}, and AMSTAR appraises "
                    f"systematic reviews only; remove the {what} or record the design as "
                    "systematic_review or meta_analysis."
                )
        if source.pooled_levels:
            raise ValueError(
                f"{name} is a {_DESIGN_WORDS[source.design][0]} and pools no studies; pooled "
                "levels belong to systematic reviews and meta-analyses only."
            )
    if source.amstar2 is not None and source.amstar2 not in get_args(Amstar2):
        raise ValueError(
            f"{name} has AMSTAR-2 rating {source.amstar2!r}; choose high, moderate, low or "
            "critically_low (Shea et al. 2017)."
        )
    if source.amstar_score is not None and not 0 <= source.amstar_score <= AMSTAR_MAX:
        raise ValueError(
            f"{name} has AMSTAR score {source.amstar_score}; the original AMSTAR runs from 0 to "
            f"{AMSTAR_MAX}."
        )


def check_pooled_levels(source: Source, scheme: Scheme) -> None:
    """Raise ValueError if a review's pooled levels are not codes of the scheme being applied."""
    codes = SCHEME_CODES[scheme]
    unknown = [code for code in source.pooled_levels if code not in codes]
    if unknown:
        raise ValueError(
            f"{_name(source)} pools levels {', '.join(unknown)}, which are not {scheme} levels "
            f"({', '.join(codes)}); record the levels of the pooled studies in the study's scheme."
        )


# ------------------------------------------------------------------------------ evidence levels


@dataclass(frozen=True, slots=True)
class Level:
    """A statement's evidence level in one scheme, with the sentences that justify it."""

    scheme: Scheme
    code: str
    label: str
    reasons: list[str] = field(default_factory=list)
    overridden_from: str | None = None


@dataclass(frozen=True, slots=True)
class _Finding:
    code: str
    text: str


def _rank(scheme: Scheme, code: str) -> int:
    return SCHEME_CODES[scheme].index(code)


def _step_down(scheme: Scheme, code: str) -> str:
    codes = SCHEME_CODES[scheme]
    return codes[min(codes.index(code) + 1, len(codes) - 1)]


def _count_words(count: int, design: Design) -> str:
    singular, plural = _DESIGN_WORDS[design]
    number = _NUMBER_WORDS[count] if count < len(_NUMBER_WORDS) else str(count)
    return f"{number} {singular if count == 1 else plural}"


def _pedro_text(source: Source) -> str:
    total = source.pedro_total
    if total is None:
        return f"{source.citation} (no PEDro score, counted as below {PEDRO_HIGH})"
    return f"{source.citation} ({total})"


def _good_rct(source: Source) -> bool:
    total = source.pedro_total
    return total is not None and total >= PEDRO_HIGH


def _appraisal(source: Source) -> tuple[bool, str]:
    """(is low, words): low on AMSTAR-2 low/critically low, AMSTAR < 4, or no appraisal at all."""
    parts = []
    low = False
    if source.amstar2 is not None:
        parts.append(f"AMSTAR-2 {source.amstar2.replace('_', ' ')}")
        low = low or source.amstar2 in AMSTAR2_LOW
    if source.amstar_score is not None:
        parts.append(f"AMSTAR {source.amstar_score}/{AMSTAR_MAX}")
        low = low or source.amstar_score < AMSTAR_LOW_BELOW
    if not parts:
        return True, "no AMSTAR appraisal"
    return low, " and ".join(parts)


_OXFORD_REVIEW_OF = {
    "1a": "1a",
    "1b": "1a",
    "2a": "2a",
    "2b": "2a",
    "3a": "3a",
    "3b": "3a",
    "4": "4",
    "5": "5",
}


def _review_finding(scheme: Scheme, source: Source) -> _Finding:
    """A review's level: its best pooled level (OCEBM: as a review), one step down if low."""
    check_pooled_levels(source, scheme)
    kind = _DESIGN_WORDS[source.design][0]
    low, appraisal = _appraisal(source)
    lowest = SCHEME_CODES[scheme][-1]
    if not source.pooled_levels:
        return _Finding(
            lowest,
            f"{lowest}: {source.citation}, a {kind} with {appraisal}, has no recorded levels for "
            f"the studies it pools, so it counts as {lowest}; record its pooled levels to grade "
            "it higher.",
        )
    best = min(source.pooled_levels, key=lambda code: _rank(scheme, code))
    code = _OXFORD_REVIEW_OF[best] if scheme == "oxford_2009" else best
    text = f"{source.citation}, a {kind} with {appraisal}, pools evidence up to level {best}"
    if scheme == "oxford_2009" and code != best:
        text += f", which as a systematic review is {code}"
    if low:
        downgraded = _step_down(scheme, code)
        text += f", downgraded one step to {downgraded} for its low or missing appraisal"
        code = downgraded
    return _Finding(code, f"{code}: {text}.")


def _by_design(sources: Sequence[Source]) -> dict[Design, list[Source]]:
    groups: dict[Design, list[Source]] = defaultdict(list)
    for source in sources:
        groups[source.design].append(source)
    return groups


def _cites(sources: Sequence[Source]) -> str:
    return ", ".join(source.citation for source in sources)


def _simple_findings(
    groups: dict[Design, list[Source]], codes: dict[Design, str]
) -> list[_Finding]:
    findings = []
    for design, code in codes.items():
        if groups.get(design):
            singular, plural = _DESIGN_WORDS[design]
            words = singular if len(groups[design]) == 1 else plural
            findings.append(_Finding(code, f"{code}: {words}: {_cites(groups[design])}."))
    return findings


def _pedro_scire_findings(sources: Sequence[Source]) -> list[_Finding]:
    groups = _by_design(sources)
    rcts = groups.get("rct", [])
    good = [s for s in rcts if _good_rct(s)]
    poor = [s for s in rcts if not _good_rct(s)]
    findings = []
    if good:
        code = "1a" if len(good) >= 2 else "1b"
        findings.append(
            _Finding(
                code,
                f"{code}: {_count_words(len(good), 'rct')} with PEDro {GE} {PEDRO_HIGH}: "
                + ", ".join(_pedro_text(s) for s in good)
                + ".",
            )
        )
    if poor:
        findings.append(
            _Finding(
                "2",
                f"2: {_count_words(len(poor), 'rct')} with PEDro < {PEDRO_HIGH}: "
                + ", ".join(_pedro_text(s) for s in poor)
                + ".",
            )
        )
    findings += _simple_findings(
        groups,
        {
            "non_randomised_controlled": "2",
            "cohort": "2",
            "case_control": "3",
            "pre_post": "4",
            "case_series": "4",
            "expert_opinion": "5",
        },
    )
    return findings


def _oxford_findings(sources: Sequence[Source]) -> list[_Finding]:
    groups = _by_design(sources)
    rcts = groups.get("rct", [])
    findings = []
    for code, chosen, quality in (
        ("1b", [s for s in rcts if _good_rct(s)], f"PEDro {GE} {PEDRO_HIGH}"),
        ("2b", [s for s in rcts if not _good_rct(s)], f"PEDro < {PEDRO_HIGH} (low quality)"),
    ):
        if chosen:
            findings.append(
                _Finding(
                    code,
                    f"{code}: {_count_words(len(chosen), 'rct')} with {quality}: "
                    + ", ".join(_pedro_text(s) for s in chosen)
                    + ".",
                )
            )
    findings += _simple_findings(
        groups,
        {
            "non_randomised_controlled": "2b",
            "cohort": "2b",
            "case_control": "3b",
            "pre_post": "4",
            "case_series": "4",
            "expert_opinion": "5",
        },
    )
    return findings


def _grade_findings(sources: Sequence[Source]) -> list[_Finding]:
    groups = _by_design(sources)
    rcts = groups.get("rct", [])
    findings = []
    if rcts:
        poor = [s for s in rcts if not _good_rct(s)]
        trials = ", ".join(_pedro_text(s) for s in rcts)
        if len(poor) * 2 > len(rcts):
            findings.append(
                _Finding(
                    "moderate",
                    f"moderate: {_count_words(len(rcts), 'rct')} start at high certainty, "
                    f"downgraded one step because most have PEDro < {PEDRO_HIGH}: {trials}.",
                )
            )
        else:
            findings.append(
                _Finding(
                    "high",
                    f"high: {_count_words(len(rcts), 'rct')}, most with PEDro {GE} {PEDRO_HIGH}: "
                    f"{trials}.",
                )
            )
    observational = [s for s in sources if s.design in OBSERVATIONAL_DESIGNS]
    if observational:
        findings.append(
            _Finding(
                "low",
                "low: observational evidence starts at low certainty: "
                + ", ".join(f"{s.citation} ({_DESIGN_WORDS[s.design][0]})" for s in observational)
                + ".",
            )
        )
    findings += _simple_findings(groups, {"expert_opinion": "very_low"})
    return findings


def _check_ids(sources: Sequence[Source]) -> None:
    seen: set[int | str] = set()
    for source in sources:
        if source.id in seen:
            raise ValueError(f"{_name(source)} is linked twice; link each source once.")
        seen.add(source.id)


def _level(scheme: Scheme, sources: Sequence[Source], findings: list[_Finding]) -> Level:
    """Best supported level wins; the other levels are listed, inconsistency is not judged."""
    _check_ids(sources)
    findings = findings + [_review_finding(scheme, s) for s in sources if s.is_review]
    lowest = SCHEME_CODES[scheme][-1]
    if not findings:
        return Level(
            scheme,
            lowest,
            LEVEL_LABELS[scheme][lowest],
            [f"{lowest}: no evidence sources are linked to this statement."],
        )
    findings.sort(key=lambda finding: _rank(scheme, finding.code))  # stable: input order kept
    best = findings[0].code
    reasons = [finding.text for finding in findings]
    others = sorted({f.code for f in findings} - {best}, key=lambda code: _rank(scheme, code))
    if others:
        reasons.append(
            f"The sources point to different levels ({', '.join([best, *others])}); the best "
            f"supported level, {best}, counts. Inconsistency between them is not judged "
            "automatically: override the level with a justification if it matters."
        )
    return Level(scheme, best, LEVEL_LABELS[scheme][best], reasons)


def pedro_scire(sources: Sequence[Source]) -> Level:
    """SCIRE levels from PEDro (SCIRE Project; Maher et al. 2003), best supported level winning.

    1a: at least two RCTs with PEDro >= 6; 1b: exactly one; 2: RCTs with PEDro < 6 (an RCT
    without a PEDro score counts as < 6), non-randomised controlled trials and cohort studies
    (the design list does not tell prospective from retrospective cohorts; all count as 2);
    3: case-control; 4: pre-post and case series; 5: expert opinion, or no sources at all.
    A systematic review or meta-analysis takes the best of its pooled_levels (codes of this
    scheme), one step down (1a -> 1b -> 2 -> 3 -> 4 -> 5) when its appraisal is low: AMSTAR-2
    low or critically low, an AMSTAR score below 4, or no appraisal recorded. A review without
    pooled_levels counts as 5, since nothing says what it pools.
    """
    return _level("pedro_scire", sources, _pedro_scire_findings(sources))


def oxford_2009(sources: Sequence[Source]) -> Level:
    """OCEBM 2009 levels (therapy), simplified as stated, best supported level winning.

    1b: an RCT with PEDro >= 6 (PEDro stands in for "narrow confidence interval"); 2b: an RCT
    with PEDro < 6 or none, a non-randomised controlled trial or a cohort study; 3b: a
    case-control study; 4: pre-post studies and case series; 5: expert opinion, or no sources.
    Several RCTs do not make 1a: 1a needs a systematic review. A systematic review or
    meta-analysis takes the best of its pooled_levels (codes of this scheme) as a review, so
    pooled 1a/1b -> 1a, 2a/2b -> 2a, 3a/3b -> 3a (4 and 5 unchanged), then one step down the
    order 1a, 1b, 2a, 2b, 3a, 3b, 4, 5 when its appraisal is low (AMSTAR-2 low or critically
    low, AMSTAR below 4, or none); a review without pooled_levels counts as 5. Homogeneity,
    the "-" levels, 1c and 2c are not judged automatically: override the level when they apply.
    """
    return _level("oxford_2009", sources, _oxford_findings(sources))


def grade(sources: Sequence[Source]) -> Level:
    """GRADE certainty (Guyatt et al. 2008), simplified: downgrading for risk of bias only.

    RCTs as a body start high and drop to moderate when most (more than half) have PEDro < 6
    or no PEDro score; non-randomised controlled, cohort, case-control, pre-post and case-series
    studies start low; expert opinion is very low, and so is having no sources. A systematic
    review or meta-analysis takes the best of its pooled_levels (GRADE certainties), one step
    down when its appraisal is low (AMSTAR-2 low or critically low, AMSTAR below 4, or none); a
    review without pooled_levels is very low. No upgrading; imprecision, inconsistency,
    indirectness and publication bias are left to an override.
    """
    return _level("grade", sources, _grade_findings(sources))


def evidence_level(scheme: Scheme, sources: Sequence[Source]) -> Level:
    """The statement's level under the study's chosen scheme (DESIGN.md §2.5)."""
    if scheme == "pedro_scire":
        return pedro_scire(sources)
    if scheme == "oxford_2009":
        return oxford_2009(sources)
    if scheme == "grade":
        return grade(sources)
    assert_never(scheme)


def override(level: Level, code: str, justification: str) -> Level:
    """The coordinator's level, its justification recorded, as DESIGN.md §2.5 demands."""
    reason = justification.strip()
    if not reason:
        raise ValueError(
            "Overriding an evidence level needs a justification; say why the computed level "
            f"{level.code} does not hold."
        )
    if code not in SCHEME_CODES[level.scheme]:
        raise ValueError(
            f"{code!r} is not a {level.scheme} level; choose one of "
            f"{', '.join(SCHEME_CODES[level.scheme])}."
        )
    original = level.overridden_from or level.code
    return Level(
        level.scheme,
        code,
        LEVEL_LABELS[level.scheme][code],
        [*level.reasons, f"Overridden from {level.code} to {code}: {reason}"],
        overridden_from=original,
    )


# ----------------------------------------------------------------------------- grading tables


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
    """The study's ordered grading table (DESIGN.md §2.5): the first matching row wins."""

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
            label=f"Strong recommendation {direction}",
        )

    return GradingTable(
        scheme="grade",
        rows=[
            strong_row("for"),
            GradingRow(
                classification_in=["consensus_for"],
                grade="conditional_for",
                label="Conditional recommendation for",
            ),
            strong_row("against"),
            GradingRow(
                classification_in=["consensus_against"],
                grade="conditional_against",
                label="Conditional recommendation against",
            ),
        ],
    )
