"""The report's methods section in words a journal could quote, in English or Chinese.

The consensus rule and the grading table are phrased exactly as app.consensus.rules.describe and
app.consensus.grading.describe_table phrase them in English (a test holds the two together); the
sentences go through the Babel catalogue so the Chinese report says the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.consensus import (
    Comet7015,
    ConsensusRule,
    MedianIqr,
    PercentAgreement,
    RandUcla,
    agreement_bounds,
    strength,
)
from app.consensus.grading import GradingRow, GradingTable
from app.consensus.rules import DASH
from app.reports.report_accord import AccordItem as AccordItem
from app.reports.report_accord import accord_items as accord_items
from app.reports.report_stability import StabilityMethods
from app.reports.words import N_, STRENGTH, Words
from app.services import rules
from app.services.numbers import whole_number

# Labels stored or computed in English elsewhere (app.consensus.grading); shown translated.
LEVEL_LABELS = [
    N_("Level 1a: at least two RCTs with PEDro ≥ 6"),
    N_("Level 1b: one RCT with PEDro ≥ 6"),
    N_("Level 2: RCT with PEDro < 6, non-randomised controlled trial or prospective cohort"),
    N_("Level 3: case-control study"),
    N_("Level 4: pre–post study or case series"),
    N_("Level 5: expert opinion, or no research evidence"),
    N_("Level 1a: systematic review of RCTs"),
    N_("Level 1b: individual RCT of good quality"),
    N_("Level 2a: systematic review of cohort studies"),
    N_("Level 2b: individual cohort study or low-quality RCT"),
    N_("Level 3a: systematic review of case-control studies"),
    N_("Level 3b: individual case-control study"),
    N_("Level 4: case series, or poor-quality cohort or case-control study"),
    N_("Level 5: expert opinion"),
    N_("High certainty"),
    N_("Moderate certainty"),
    N_("Low certainty"),
    N_("Very low certainty"),
]
GRADE_LABELS = [
    N_("Grade A"),
    N_("Grade B"),
    N_("Grade C"),
    N_("Grade D"),
    N_("Grade A (against)"),
    N_("Grade B (against)"),
    N_("Grade C (against)"),
    N_("Grade D (against)"),
    N_("Strong recommendation for"),
    N_("Conditional recommendation for"),
    N_("Strong recommendation against"),
    N_("Conditional recommendation against"),
    N_("No recommendation (not rated)"),
    N_("no recommendation"),
    N_("not graded"),
]
CERTAINTY = {
    "high": N_("high"),
    "moderate": N_("moderate"),
    "low": N_("low"),
    "very_low": N_("very low"),
}


def band(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}{DASH}{high}"


def _num(value: float) -> str:
    return f"{value:g}"


def rule_sentence(rule: ConsensusRule, scale_min: int, scale_max: int, words: Words) -> str:
    """The consensus definition (app.consensus.rules.describe, word for word in English)."""
    _ = words
    agree, disagree = agreement_bounds(rule, scale_min, scale_max)
    up, down = band(agree, scale_max), band(scale_min, disagree)
    parts: list[str] = []
    if isinstance(rule, PercentAgreement):
        parts.append(
            _(
                "A statement reaches consensus when at least %(pct)s of the ratings are %(up)s "
                "(consensus for), or at least %(pct)s are %(down)s (consensus against)."
            )
            % {"pct": words.pct(rule.threshold), "up": up, "down": down}
        )
        if rule.threshold <= 50:
            parts.append(_("If both hold at once there is no consensus."))
    elif isinstance(rule, Comet7015):
        parts.append(
            _(
                "A statement reaches consensus when at least %(in_pct)s rate it %(up)s and fewer "
                "than %(out_pct)s rate it %(down)s (consensus for), or at least %(in_pct)s rate "
                "it %(down)s and fewer than %(out_pct)s rate it %(up)s (consensus against)."
            )
            % {
                "in_pct": words.pct(rule.in_pct),
                "out_pct": words.pct(rule.out_pct),
                "up": up,
                "down": down,
            }
        )
    elif isinstance(rule, MedianIqr):
        parts.append(_median_iqr_sentence(rule, up, down, words))
    elif isinstance(rule, RandUcla):
        parts.append(
            _(
                "RAND/UCLA appropriateness method: a statement is appropriate (consensus for) "
                "when its median is 7–9 and the panel does not disagree, inappropriate (consensus "
                "against) when its median is 1–3 and the panel does not disagree, and uncertain "
                "otherwise, medians of 3.5 and 6.5 included. The panel disagrees when the "
                "interpercentile range P70 − P30 exceeds IPRAS = 2.35 + 1.5 × |5 − (P30 + P70) "
                "/ 2|."
            )
        )
    if not isinstance(rule, RandUcla):
        parts.append(_("Otherwise there is no consensus."))
    parts.append(_("Abstentions are not counted."))
    if rule.min_responses is not None:
        parts.append(
            _("A statement with fewer than %(count)s ratings has no consensus.")
            % {"count": rule.min_responses}
        )
    if rule.require_all_groups:
        parts.append(_("Consensus must also hold, the same way, within every stakeholder group."))
    return words.sentences(parts)


def _median_iqr_sentence(rule: MedianIqr, up: str, down: str, words: Words) -> str:
    """The median-and-IQR rule, with or without its agreement threshold."""
    _ = words
    values = {
        "median_min": _num(rule.median_min),
        "median_max": _num(rule.median_max_against),
        "iqr": _num(rule.iqr_max),
        "up": up,
        "down": down,
    }
    if rule.threshold is None:
        text = _(
            "A statement reaches consensus when the median is at least %(median_min)s, the "
            "interquartile range is at most %(iqr)s (consensus for), or when the median is "
            "at most %(median_max)s, the interquartile range is at most %(iqr)s (consensus "
            "against)."
        )
    else:
        values["pct"] = words.pct(rule.threshold)
        text = _(
            "A statement reaches consensus when the median is at least %(median_min)s, the "
            "interquartile range is at most %(iqr)s and at least %(pct)s rate it %(up)s "
            "(consensus for), or when the median is at most %(median_max)s, the "
            "interquartile range is at most %(iqr)s and at least %(pct)s rate it %(down)s "
            "(consensus against)."
        )
    return text % values


def grading_row(scheme: str, row: GradingRow, words: Words) -> str:
    """One row of the grading table (app.consensus.grading.describe_table, word for word)."""
    _ = words
    conditions = []
    if row.level_in is not None:
        if scheme == "grade":
            certainties = [_(CERTAINTY.get(code, code)) for code in row.level_in]
            conditions.append(
                _("the certainty of evidence is %(levels)s") % {"levels": words.either(certainties)}
            )
        else:
            conditions.append(
                _("the evidence is level %(levels)s") % {"levels": words.either(row.level_in)}
            )
    classes = row.classification_in or ["consensus_for", "consensus_against"]
    if set(classes) == {"consensus_for"}:
        conditions.append(_("the panel reached consensus for"))
    elif set(classes) == {"consensus_against"}:
        conditions.append(_("the panel reached consensus against"))
    else:
        conditions.append(_("the panel reached consensus for or against"))
    if row.min_pct_agree is not None:
        conditions.append(
            _("at least %(pct)s of ratings agree") % {"pct": words.pct(row.min_pct_agree)}
        )
    if row.min_pct_disagree is not None:
        conditions.append(
            _("at least %(pct)s of ratings disagree") % {"pct": words.pct(row.min_pct_disagree)}
        )
    strengths = getattr(row, "panel_strength_in", None)
    if strengths is not None:
        chosen = [_(STRENGTH.get(choice, choice)) for choice in strengths]
        conditions.append(
            _("the panel's choice of strength (at least %(pct)s of its votes) is %(choices)s")
            % {"choices": words.either(chosen), "pct": words.pct(strength.CHOICE_MIN_PCT)}
        )
    return _("%(grade)s when %(conditions)s") % {
        "grade": _(row.shown),
        "conditions": words.both(conditions),
    }


def grading_lines(table: GradingTable, words: Words) -> list[str]:
    _ = words
    lines = [grading_row(table.scheme, row, words) for row in table.rows]
    lines.append(_("No recommendation when the panel reached no consensus, whatever the evidence"))
    return lines


_SCHEMES = {
    "pedro_scire": N_(
        "The evidence behind each statement was graded with the SCIRE levels of evidence (1a to "
        "5): randomised controlled trials were appraised with the PEDro scale (0 to 10; 6 or "
        "more is high quality) and systematic reviews with AMSTAR-2 or AMSTAR."
    ),
    "oxford_2009": N_(
        "The evidence behind each statement was graded with the Oxford Centre for "
        "Evidence-Based Medicine levels of evidence (March 2009; 1a to 5): randomised "
        "controlled trials were appraised with the PEDro scale (0 to 10; 6 or more is high "
        "quality) and systematic reviews with AMSTAR-2 or AMSTAR."
    ),
    "grade": N_(
        "The certainty of the evidence behind each statement was rated with GRADE (high, "
        "moderate, low, very low), downgrading for risk of bias only: randomised controlled "
        "trials were appraised with the PEDro scale (0 to 10; 6 or more is high quality) and "
        "systematic reviews with AMSTAR-2 or AMSTAR."
    ),
}


@dataclass(frozen=True, slots=True)
class Methods:
    paragraphs: list[str]
    grading: list[str]
    closing: list[str]


def methods(
    *,
    study: Any,
    table: GradingTable,
    panel_size: int,
    groups: list[str],
    band_words: tuple[str, str],
    words: Words,
    stability: StabilityMethods | None = None,
) -> Methods:
    """The methods section, generated from the study's pre-registered rules."""
    _ = words
    rule = rules.consensus_rule(study)
    paragraphs = [
        _design(study, panel_size, words),
        words.sentences(
            [
                _("Consensus was defined before round 1 opened, as follows."),
                rule_sentence(rule, study.scale_min, study.scale_max, words),
            ]
        ),
        _figures(study, band_words, words),
    ]
    if groups:
        paragraphs.append(
            _(
                "Panelists belonged to stakeholder groups (%(groups)s); figures and "
                "classifications are also reported within each group."
            )
            % {"groups": _(", ").join(groups)}
        )
    paragraphs.append(_rounds(study, words))
    if stability is not None:
        paragraphs.extend(stability.rounds)
    paragraphs.append(_feedback(study, stability, words))
    if stability is not None:
        paragraphs.extend(stability.grading)
    paragraphs.append(_evidence(study, words))
    return Methods(paragraphs, grading_lines(table, words), _closing(study, words))


def _design(study: Any, panel_size: int, words: Words) -> str:
    """The study's design, its rating scale and how abstentions were counted."""
    _, ngettext = words, words.plural
    labels = study.labels_in(words.language)
    scale = (
        _("Each statement was rated on an integer scale from %(min)s to %(max)s.")
        if not labels
        else _("Each statement was rated on an integer scale from %(min)s to %(max)s (%(labels)s).")
    ) % {
        "min": study.scale_min,
        "max": study.scale_max,
        "labels": "; ".join(
            f"{point} = {label}" for point, label in sorted(labels.items(), key=_point)
        ),
    }
    design = ngettext(
        "This report describes a Delphi consensus study: a panel of %(num)s member rated "
        "statements anonymously over successive rounds, with controlled feedback between rounds.",
        "This report describes a Delphi consensus study: a panel of %(num)s members rated "
        "statements anonymously over successive rounds, with controlled feedback between rounds.",
        panel_size,
    ) % {"num": panel_size}
    abstain = (
        _(
            "Panelists could answer “unable to rate”; these abstentions, like missing answers, "
            "were excluded from every denominator and are reported separately."
        )
        if study.allow_abstain
        else _("Missing answers were excluded from every denominator.")
    )
    return words.sentences([design, scale, abstain])


def _figures(study: Any, band_words: tuple[str, str], words: Words) -> str:
    """The figures computed per statement and round, and the quantile definition used."""
    _ = words
    figures = _(
        "For each statement in each round the platform computed, from the distribution of "
        "ratings: the number of ratings (n) and of abstentions; the mean and the sample standard "
        "deviation; the median, the first and third quartiles (P25, P75) and the interquartile "
        "range; the 30th and 70th percentiles; the percentage of ratings of %(agree)s "
        "(agreement) and of %(disagree)s (disagreement); and the coefficient of variation "
        "(SD / mean)."
    ) % {"agree": band_words[0], "disagree": band_words[1]}
    quantiles = (
        _(
            "Quantiles follow Hyndman and Fan’s type 6 definition (the default of SPSS and "
            "Minitab; Excel’s PERCENTILE.EXC)."
        )
        if study.quantile_method == "type6"
        else _(
            "Quantiles follow Hyndman and Fan’s type 7 definition (linear interpolation; the "
            "default of R and numpy; Excel’s PERCENTILE.INC)."
        )
    )
    exact = _(
        "Percentages were compared with thresholds on counts, never on rounded values; figures "
        "in this report are rounded for reading only."
    )
    return words.sentences([figures, quantiles, exact])


def _rounds(study: Any, words: Words) -> str:
    """What each round presented, and the stopping rule."""
    _, ngettext = words, words.plural
    return words.sentences(
        [
            _(
                "Round 1 presented every statement. Each later round carried forward the "
                "statements that had not reached consensus; the coordinators could revise a "
                "statement’s wording (a new version, with the reason recorded), leave "
                "statements out or add new ones."
            ),
            ngettext(
                "The pre-registered stopping rule ended the study when no statement was left "
                "to rate or after at most %(num)s round.",
                "The pre-registered stopping rule ended the study when no statement was left "
                "to rate or after at most %(num)s rounds.",
                study.max_rounds,
            )
            % {"num": study.max_rounds},
        ]
    )


def _feedback(study: Any, stability: StabilityMethods | None, words: Words) -> str:
    """What panelists saw between rounds, and their anonymity."""
    _ = words
    feedback = [
        _(
            "From round 2, panelists saw for each carried-forward statement the previous round’s "
            "distribution of ratings as a chart, the median, the interquartile range, the "
            "percentage agreement, their own previous rating and the comments of the panel "
            "without their authors."
        )
    ]
    if study.hide_feedback_until_rated:
        feedback.append(
            _(
                "This feedback was shown only after the panelist had rated the statement again, "
                "to limit anchoring."
            )
        )
    if stability is not None:
        feedback.extend(stability.feedback)
    feedback.append(
        _(
            "Panelists took part through personal links and did not see each other’s "
            "identities; this report names no panelist and reproduces comments without authors."
        )
    )
    return words.sentences(feedback)


def _evidence(study: Any, words: Words) -> str:
    """How evidence was levelled and overridden, and how grades were given."""
    _ = words
    return words.sentences(
        [
            _(_SCHEMES.get(study.evidence_scheme, _SCHEMES["pedro_scire"])),
            _(
                "A coordinator could override a computed level with a written "
                "justification; each override is reported with its statement."
            ),
            _(
                "Each statement’s recommendation grade was given by the pre-registered "
                "grading table, from its evidence level, its classification in the last "
                "round that rated it and its percentages; the first matching row applies:"
            ),
        ]
    )


def _closing(study: Any, words: Words) -> list[str]:
    """When the rules were frozen, and whether the study was finalized."""
    _ = words
    closing = []
    if study.rules_frozen_at is not None:
        closing.append(
            _("These rules were frozen when round 1 opened, on %(date)s.")
            % {"date": words.date(study.rules_frozen_at)}
        )
    if study.finalized_at is not None:
        closing.append(
            _(
                "The study was finalized on %(date)s: each recommendation’s wording, figures, "
                "evidence level and grade were frozen under a SHA-256 hash."
            )
            % {"date": words.date(study.finalized_at)}
        )
    else:
        closing.append(
            _("The study has not been finalized; evidence levels and grades are provisional.")
        )
    return closing


def _point(item: tuple[str, str]) -> tuple[int, str]:
    point = item[0]
    value = whole_number(point, low=-(10**6), high=10**6)
    return (value if value is not None else 0, point)
