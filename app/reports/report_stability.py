"""Stability, Kendall's W, attrition and the strength vote in the report's words (issue #7).

The English sentences are those of app.services.stability.rule_in_words,
app.consensus.stability's notes and app.consensus.strength.describe_vote, word for word (a test
holds them together); they go through the Babel catalogue so the Chinese report says the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.consensus import strength
from app.consensus.disclosure import GROUP_FEEDBACK_MIN
from app.reports.words import N_, STRENGTH, Words
from app.services import stability


def _g(value: float) -> str:
    return f"{value:g}"


# The attrition-bias thresholds of app.services.stability, as the report prints them.
BIAS_RULE = {
    "min": stability.LEAVERS_MIN,
    "median": _g(stability.MEDIAN_GAP),
    "pct": _g(stability.PCT_GAP),
}


def stability_rule_sentence(study: Any, words: Words) -> str:
    """The stability rule (app.services.stability.rule_in_words, word for word in English)."""
    _ = words
    rule = stability.reporting_rule(study)
    zeros = (
        _("unchanged ratings dropped (Wilcoxon's method)")
        if rule.zero_method == "wilcox"
        else _("unchanged ratings splitting their ranks between both signs (zero-split method)")
    )
    consequence = (
        _("a stable statement without consensus is not carried forward to another round")
        if rule.stop_carry_forward
        else _("stability is reported but does not stop a statement from being carried forward")
    )
    sentence = _(
        "A statement counts as stable when fewer than %(pct)s of the panelists who rated it in "
        "two consecutive rounds changed their rating (not judged with fewer than %(pairs)s such "
        "panelists), and %(consequence)s; the paired ratings are compared with the two-sided "
        "Wilcoxon signed-rank test, %(zeros)s."
    ) % {
        "pct": words.pct(rule.max_pct_changed),
        "pairs": rule.min_pairs,
        "consequence": consequence,
        "zeros": zeros,
    }
    if stability.rule_of(study) is not None:
        return sentence
    return words.sentences(
        [
            sentence,
            _(
                "(The study did not pre-register a stability rule: these default thresholds are "
                "for reporting.)"
            ),
        ]
    )


def stability_paragraph(study: Any, words: Words) -> str:
    """How stability and Kendall's W were computed, for the methods section."""
    _ = words
    kendall = _(
        "For each round, agreement on how the statements rank was measured with Kendall's "
        "coefficient of concordance W, corrected for ties, over the statements that every "
        "responding panelist rated; its chi-square statistic, m(n − 1)W on n − 1 degrees of "
        "freedom (m panelists, n statements), gives the p-value. For each statement rated in two "
        "consecutive rounds the report also gives the mean absolute change in rating and the "
        "change in the coefficient of variation."
    )
    return words.sentences([stability_rule_sentence(study, words), kendall])


def attrition_paragraph(words: Words) -> str:
    """Who left between rounds and the attrition-bias check, with the thresholds that flag it."""
    _ = words
    paragraph = _(
        "For every round after the first, the report counts per stakeholder group the "
        "panelists who answered the previous round but not the current one (they left, whether "
        "they withdrew or did not answer). For each statement, the previous round's ratings of "
        "those who left were compared with those of the panelists who stayed; a difference is "
        "flagged when at least %(min)s panelists left and their median differs by %(median)s or "
        "more on the rating scale, or their percentage agreement by %(pct)s percentage points or "
        "more. The flag asks for an explanation; it is not a significance test."
    )
    return paragraph % BIAS_RULE


def group_feedback_sentence(words: Words) -> str:
    _ = words
    return _(
        "Panelists also saw each stakeholder group's distribution of ratings as a separate "
        "chart; a group with fewer than %(num)s ratings of a statement was not shown apart, and "
        "when the whole panel's ratings less those of the groups shown would have left some, "
        "but fewer than %(num)s, the smallest group shown was held back as well, so that no "
        "answer could be traced to a person, not even by subtraction."
    ) % {"num": GROUP_FEEDBACK_MIN}


def strength_paragraph(*, uses_panel_strength: bool, words: Words) -> str:
    """The strength vote and the 70 % rule of app.consensus.strength (the GRADE grid)."""
    _ = words
    parts = [
        _(
            "Beside each rating, panelists chose how strong the recommendation should be: strong "
            "or conditional, for or against. A strength counted as the panel's choice only when "
            "at least %(pct)s of those who chose a strength for the statement chose it, in the "
            "round that settled the statement (the GRADE grid; Jaeschke et al., BMJ "
            "2008;337:a744); a plurality was not enough."
        )
        % {"pct": words.pct(strength.CHOICE_MIN_PCT)}
    ]
    if uses_panel_strength:
        parts.append(
            _(
                "The grading rows that use the panel's choice of strength apply only when a "
                "strength reached that share."
            )
        )
    return words.sentences(parts)


def vote_in_words(counts: Mapping[str, int], words: Words) -> str:
    """A strength vote in words (app.consensus.strength.describe_vote, word for word in English)."""
    _ = words
    counted = strength.votes(counts)
    total = sum(counted.values())
    if total == 0:
        return _("no strength votes")
    choice = strength.panel_choice(counted)
    if choice is None:
        spread = _(", ").join(f"{_(STRENGTH[c])} {n}" for c, n in counted.items() if n)
        return _("no strength chosen by %(pct)s of the %(total)s votes (%(spread)s)") % {
            "pct": words.pct(strength.CHOICE_MIN_PCT),
            "total": total,
            "spread": spread,
        }
    return _("%(choice)s (%(count)s of %(total)s votes, %(share)s)") % {
        "choice": _(STRENGTH[choice]),
        "count": counted[choice],
        "total": total,
        "share": words.pct(counted[choice] * 100 // total),
    }


# The notes app.consensus.stability.paired_change writes, marked for the catalogue.
_NOTES = {
    N_("no panelist rated this statement in both rounds: no test"),
    N_("every panelist gave the same rating again: no test"),
    N_("the Wilcoxon test could not be computed on these differences"),
}
_FEW_CHANGES = re.compile(
    r"only (\d+) panelist\(s\) changed their rating: the exact test cannot give p below (\S+)"
)


def wilcoxon_note(note: str | None, words: Words) -> str:
    """app.consensus.stability's note on a Wilcoxon test in the report's language ('' if none)."""
    _ = words
    if not note:
        return ""
    if note in _NOTES:
        return _(note)
    few = _FEW_CHANGES.fullmatch(note)
    if few:
        return _(
            "only %(num)s panelist(s) changed their rating: the exact test cannot give p below "
            "%(p)s"
        ) % {"num": few.group(1), "p": few.group(2)}
    return note  # a note this module does not know yet: shown as the engine wrote it


def stable_words(stable: bool | None, words: Words) -> str:
    _ = words
    if stable is None:
        return _("too few to judge")
    return _("yes") if stable else _("no")


def p_value(p: float | None) -> str:
    """A p-value for reading: three decimals, '< 0.001' below that, '–' when there is no test."""
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_is(p: float) -> str:
    """A p-value in a sentence: 'p = 0.250', 'p < 0.001'."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def signed(value: float | None, digits: int = 3) -> str:
    """A change with its sign ('+0.012', '−0.034'; '0.000' when it rounds to nothing), '–'."""
    if value is None:
        return "–"
    text = f"{value:+.{digits}f}"
    if float(text) == 0:
        return f"{0:.{digits}f}"
    return text.replace("-", "−")


# Keys the engine uses for panelists without a stakeholder group (attrition) and the report's.
NO_GROUP_ATTRITION = "(no group)"


def group_key(name: str) -> str:
    """An attrition group name as the report's participant flow names it ('' for no group)."""
    return "" if name == NO_GROUP_ATTRITION else name


@dataclass(frozen=True, slots=True)
class StabilityMethods:
    """What issue #7 and the strength vote add to the methods section, by where it goes."""

    rounds: list[str]  # after the rounds and stopping rule: stability, Kendall's W, attrition
    feedback: list[str]  # appended to the feedback paragraph
    grading: list[str]  # before the grading table


def stability_methods(study: Any, *, uses_panel_strength: bool, words: Words) -> StabilityMethods:
    """The methods text for the study's stability rule, attrition check, group feedback, vote."""
    return StabilityMethods(
        rounds=[stability_paragraph(study, words), attrition_paragraph(words)],
        feedback=[group_feedback_sentence(words)] if study.feedback_by_group else [],
        grading=(
            [strength_paragraph(uses_panel_strength=uses_panel_strength, words=words)]
            if study.strength_vote
            else []
        ),
    )
