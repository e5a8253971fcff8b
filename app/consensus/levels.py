"""Evidence levels of docs/method.md §8: a statement's level from its sources, with the reasons.

Three schemes (pedro_scire, oxford_2009, grade), the best supported level winning, and the
coordinator's override with its justification. The sources themselves are
app.consensus.sources; turning a level into a grade is app.consensus.grading. Pure, no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, assert_never

from app.consensus.rules import DASH
from app.consensus.sources import (
    AMSTAR2_LOW,
    AMSTAR_LOW_BELOW,
    AMSTAR_MAX,
    DESIGN_WORDS,
    OBSERVATIONAL_DESIGNS,
    PEDRO_HIGH,
    Design,
    Source,
)

Scheme = Literal["pedro_scire", "oxford_2009", "grade"]

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

_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def check_pooled_levels(source: Source, scheme: Scheme) -> None:
    """Raise ValueError if a review's pooled levels are not codes of the scheme being applied."""
    codes = SCHEME_CODES[scheme]
    unknown = [code for code in source.pooled_levels if code not in codes]
    if unknown:
        raise ValueError(
            f"{source.name} pools levels {', '.join(unknown)}, which are not {scheme} levels "
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
    singular, plural = DESIGN_WORDS[design]
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
    kind = DESIGN_WORDS[source.design][0]
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
            singular, plural = DESIGN_WORDS[design]
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
                + ", ".join(f"{s.citation} ({DESIGN_WORDS[s.design][0]})" for s in observational)
                + ".",
            )
        )
    findings += _simple_findings(groups, {"expert_opinion": "very_low"})
    return findings


def _check_ids(sources: Sequence[Source]) -> None:
    seen: set[int | str] = set()
    for source in sources:
        if source.id in seen:
            raise ValueError(f"{source.name} is linked twice; link each source once.")
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
    """The statement's level under the study's chosen scheme (docs/method.md §8)."""
    if scheme == "pedro_scire":
        return pedro_scire(sources)
    if scheme == "oxford_2009":
        return oxford_2009(sources)
    if scheme == "grade":
        return grade(sources)
    assert_never(scheme)


def override(level: Level, code: str, justification: str) -> Level:
    """The coordinator's level, its justification recorded, as docs/method.md §8 demands."""
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
