"""Stability between rounds (paired change, Wilcoxon) and Kendall's W, from histograms and ranks.

docs/method.md §7: per statement, the share of panelists who changed their rating and the Wilcoxon
signed-rank test on the paired ratings; per round, Kendall's W with the tie correction and its
chi-square p-value. Decisions (is the statement stable?) are made on integers.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats as scipy_stats

from app.consensus.stats import _nonzero_sorted

ZeroMethod = Literal["wilcox", "zsplit"]
ZERO_METHODS: tuple[ZeroMethod, ...] = ("wilcox", "zsplit")

# scipy 1.17 (method="auto") runs a permutation test on samples of at most this many differences
# when they hold ties or zeros; it enumerates all 2**n sign flips, which takes about a second at
# n = 13. We compute the same exact distribution by counting instead (see _exact_signed_rank_p).
_SCIPY_PERMUTATION_MAX_N = 13
# ... and uses Wilcoxon's exact distribution up to this many differences without ties or zeros.
_SCIPY_EXACT_MAX_N = 50
# Below this many changed ratings an exact two-sided p cannot fall under 0.05 (2 / 2**5 = 0.0625).
_MIN_CHANGES_FOR_5_PERCENT = 6


@dataclass(frozen=True, slots=True)
class PairedChange:
    """How one statement's ratings moved between two consecutive rounds, over paired panelists."""

    pairs: int
    changed: int
    pct_changed: float | None
    mean_abs_change: float | None
    mean_change: float | None
    wilcoxon_statistic: float | None
    wilcoxon_p: float | None
    zero_method: ZeroMethod
    note: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (every float is finite or None), keys as the field names."""
        return asdict(self)


def difference_histogram(pairs: Iterable[tuple[int, int]]) -> dict[int, int]:
    """{current - previous: count} from (previous, current) rating pairs, for paired_change."""
    return dict(Counter(current - previous for previous, current in pairs))


def paired_change(
    differences: Mapping[int, int], *, zero_method: ZeroMethod = "wilcox"
) -> PairedChange:
    """Change between rounds from the histogram {current_value - previous_value: count} of pairs.

    A pair is a panelist with a rating (not an abstention) in both rounds. ``pct_changed``,
    ``mean_abs_change`` and ``mean_change`` are ratios of exact integer sums (3 of 20 changed
    gives exactly 15.0).

    The Wilcoxon signed-rank test (two-sided, no continuity correction) is scipy's
    ``scipy.stats.wilcoxon(..., method="auto")`` on the expanded differences:

    - ``zero_method="wilcox"`` (Wilcoxon's original, the default): unchanged ratings are dropped
      and the test runs on the changed ones only. They are dropped *before* calling scipy, so
      that scipy chooses between exact and normal-approximation p-values on the true sample
      size; scipy 1.17 counts the dropped zeros when choosing, and would use the normal
      approximation for, say, 5 changes among 60 pairs (p = 0.025 instead of the exact 0.0625).
      The statistic is the same either way.
    - ``zero_method="zsplit"``: unchanged ratings keep their (smallest) ranks, split half to the
      positive and half to the negative rank sum.

    With scipy 1.17 the p-value is exact (Wilcoxon's distribution) for at most 50 differences
    with no ties and no zeros; exact over all 2**n sign flips (a permutation test) for at most 13
    differences with ties or zeros (computed here by counting, with the same result as scipy's
    enumeration, which takes a second at n = 13); otherwise the normal approximation with the
    tie correction. Integer ratings almost always tie, so panels of 14 or more get the normal
    approximation.

    ``wilcoxon_statistic``/``wilcoxon_p`` are None, with the reason in ``note``, when no pair
    exists or no rating changed; they are never NaN. ``note`` also warns when so few ratings
    changed that the exact test cannot reach p < 0.05.
    """
    if zero_method not in ZERO_METHODS:
        raise ValueError(f"Unknown zero method {zero_method!r}; use 'wilcox' or 'zsplit'.")
    items, pairs = _nonzero_sorted(differences)
    if pairs == 0:
        return PairedChange(
            pairs=0,
            changed=0,
            pct_changed=None,
            mean_abs_change=None,
            mean_change=None,
            wilcoxon_statistic=None,
            wilcoxon_p=None,
            zero_method=zero_method,
            note="no panelist rated this statement in both rounds: no test",
        )
    changed = sum(count for difference, count in items if difference != 0)
    statistic, p, note = _signed_rank_test(items, changed=changed, zero_method=zero_method)
    return PairedChange(
        pairs=pairs,
        changed=changed,
        pct_changed=100 * changed / pairs,  # int / int: correctly rounded
        mean_abs_change=sum(abs(d) * c for d, c in items) / pairs,
        mean_change=sum(d * c for d, c in items) / pairs,
        wilcoxon_statistic=statistic,
        wilcoxon_p=p,
        zero_method=zero_method,
        note=note,
    )


def _signed_rank_test(
    items: list[tuple[int, int]], *, changed: int, zero_method: ZeroMethod
) -> tuple[float | None, float | None, str | None]:
    """(statistic, p, note) of the two-sided Wilcoxon test, as paired_change documents."""
    if changed == 0:
        return None, None, "every panelist gave the same rating again: no test"
    if zero_method == "wilcox":
        items = [(d, c) for d, c in items if d != 0]
    magnitudes: Counter[int] = Counter()
    for difference, count in items:
        magnitudes[abs(difference)] += count
    has_ties_or_zeros = 0 in magnitudes or any(c > 1 for c in magnitudes.values())
    n = sum(magnitudes.values())
    exact_by_counting = n <= _SCIPY_PERMUTATION_MAX_N and has_ties_or_zeros
    if exact_by_counting:
        statistic, p = _exact_signed_rank(items)
    else:
        sample = np.repeat(
            np.array([d for d, _ in items], dtype=float),
            np.array([c for _, c in items], dtype=np.intp),
        )
        with np.errstate(all="ignore"):
            result = scipy_stats.wilcoxon(sample, zero_method=zero_method, method="auto")
        statistic, p = float(result.statistic), float(result.pvalue)
    if not (math.isfinite(statistic) and math.isfinite(p)):  # pragma: no cover - guarded above
        return None, None, "the Wilcoxon test could not be computed on these differences"
    exact = exact_by_counting or (n <= _SCIPY_EXACT_MAX_N and not has_ties_or_zeros)
    if exact and changed < _MIN_CHANGES_FOR_5_PERCENT:
        return (
            statistic,
            p,
            f"only {changed} panelist(s) changed their rating: the exact test cannot give "
            f"p below {2 / 2**changed:g}",
        )
    return statistic, p, None


def _doubled_ranks(values: Sequence[float]) -> tuple[list[int], int]:
    """Twice the average ranks (1-based; integers) of the values, and sum(t^3 - t) over ties."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0] * len(values)
    ties = 0
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = start + end + 2  # (start + 1) + (end + 1)
        t = end - start + 1
        ties += t**3 - t
        start = end + 1
    return ranks, ties


def _exact_signed_rank(items: Sequence[tuple[int, int]]) -> tuple[float, float]:
    """Two-sided exact p of the signed-rank statistic over all 2**n sign flips, by counting.

    The same distribution scipy's permutation test enumerates: ranks of |d| (average ranks for
    ties, doubled to integers), zeros contributing a constant half of their ranks to each side.
    The number of sign patterns giving each positive rank sum is a subset-sum count, so this
    costs O(n * sum of ranks) instead of 2**n evaluations. Statistic: min(R+, R-), as scipy.
    """
    differences = [d for d, c in items for _ in range(c)]
    ranks, _ = _doubled_ranks([abs(d) for d in differences])
    zeros = sum(r for r, d in zip(ranks, differences, strict=True) if d == 0)
    plus = sum(r for r, d in zip(ranks, differences, strict=True) if d > 0)
    minus = sum(r for r, d in zip(ranks, differences, strict=True) if d < 0)
    moving = [r for r, d in zip(ranks, differences, strict=True) if d != 0]
    ways = [1] + [0] * sum(moving)  # ways[s]: sign patterns whose doubled positive rank sum is s
    for rank in moving:
        for total in range(len(ways) - 1, rank - 1, -1):
            ways[total] += ways[total - rank]
    patterns = 2 ** len(moving)
    at_most = sum(ways[: plus + 1])
    at_least = sum(ways[plus:])
    p = min(1.0, 2 * min(at_most, at_least) / patterns)
    statistic = (min(plus, minus) + zeros / 2) / 2  # zeros give half each side; undo doubling
    return statistic, p


class StabilityRule(BaseModel):
    """The pre-registered stability rule: when a statement's ratings count as settled."""

    model_config = ConfigDict(extra="forbid")

    max_pct_changed: int = Field(15, ge=1, le=100)  # stable when FEWER than this % changed
    min_pairs: int = Field(5, ge=1)  # below this many pairs, stability is not judged
    zero_method: ZeroMethod = "wilcox"
    stop_carry_forward: bool = True  # a stable statement without consensus is not carried on


def is_stable(change: PairedChange, rule: StabilityRule) -> bool | None:
    """Stable when changed * 100 < max_pct_changed * pairs (integers); None below min_pairs."""
    if change.pairs < rule.min_pairs:
        return None
    return change.changed * 100 < rule.max_pct_changed * change.pairs


def describe_stability_rule(rule: StabilityRule) -> str:
    """The rule in plain words, for the report's methods section and the coordinator console."""
    zeros = (
        "unchanged ratings dropped (Wilcoxon's method)"
        if rule.zero_method == "wilcox"
        else "unchanged ratings splitting their ranks between both signs (zero-split method)"
    )
    consequence = (
        "a stable statement without consensus is not carried forward to another round"
        if rule.stop_carry_forward
        else "stability is reported but does not stop a statement from being carried forward"
    )
    return (
        f"A statement counts as stable when fewer than {rule.max_pct_changed} % of the panelists "
        "who rated it in two consecutive rounds changed their rating (not judged with fewer than "
        f"{rule.min_pairs} such panelists), and {consequence}; the paired ratings are compared "
        f"with the two-sided Wilcoxon signed-rank test, {zeros}."
    )


@dataclass(frozen=True, slots=True)
class KendallW:
    """Kendall's coefficient of concordance over one round's statements, with its chi-square."""

    w: float
    chi2: float
    df: int
    p: float
    raters: int
    items: int
    tie_corrected: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, keys as the field names."""
        return asdict(self)


def _row_of_reals(row: Sequence[float], index: int) -> list[float]:
    values: list[float] = []
    for value in row:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"Rater {index} has a value that is not a number: {value!r}.")
        if not math.isfinite(value):
            raise ValueError(f"Rater {index} has a value that is not finite: {value!r}.")
        values.append(float(value))
    return values


def kendall_w(
    ratings: Sequence[Sequence[float]], *, tie_correction: bool = True
) -> KendallW | None:
    """Kendall's W of m raters over n items; ratings[i][j] is rater i's value for item j.

    The matrix must be complete (every item rated by every rater). Each rater's values are ranked
    across the items (average ranks for ties); with R_j the rank sum of item j,
    S = sum (R_j - m (n + 1) / 2)^2 and W = 12 S / (m^2 (n^3 - n) - m sum T), where
    T = sum (t^3 - t) over one rater's groups of t tied items; without ``tie_correction`` the
    m sum T term is left out. chi2 = m (n - 1) W on df = n - 1 (it equals the tie-corrected
    Friedman statistic when the correction is on), p = chi-square survival function.
    W and chi2 are exact rationals (integer arithmetic on doubled ranks) rounded once.

    None when m < 2 or n < 2, and when every rater gives all items the same value: there is no
    ranking to agree on (with the tie correction W would be 0 / 0), whatever ``tie_correction``.
    """
    m = len(ratings)
    rows = [_row_of_reals(row, i) for i, row in enumerate(ratings)]
    n = len(rows[0]) if rows else 0
    for i, row in enumerate(rows):
        if len(row) != n:
            raise ValueError(
                f"Kendall's W needs a complete matrix: rater 0 rated {n} items, rater {i} rated "
                f"{len(row)}."
            )
    if m < 2 or n < 2:
        return None
    rank_sums = [0] * n  # doubled
    tie_sum = 0
    for row in rows:
        ranks, ties = _doubled_ranks(row)
        tie_sum += ties
        for j, rank in enumerate(ranks):
            rank_sums[j] += rank
    return kendall_w_from_sums(rank_sums, raters=m, tie_sum=tie_sum, tie_correction=tie_correction)


def kendall_w_from_sums(
    doubled_rank_sums: Sequence[int], *, raters: int, tie_sum: int, tie_correction: bool = True
) -> KendallW | None:
    """Kendall's W from what a database can aggregate: each item's rank sum and the ties.

    doubled_rank_sums[j] is twice item j's rank sum (average ranks of ties are halves, so the
    doubles are integers); tie_sum is sum (t^3 - t) over every rater's groups of tied items.
    Gives exactly what kendall_w gives on the full matrix.
    """
    m, n = raters, len(doubled_rank_sums)
    if m < 2 or n < 2:
        return None
    if tie_sum == m * (n**3 - n):  # every rater tied every item
        return None
    s4 = sum((total - m * (n + 1)) ** 2 for total in doubled_rank_sums)  # 4 S, an integer
    denominator = m * m * (n**3 - n) - (m * tie_sum if tie_correction else 0)
    w = Fraction(3 * s4, denominator)  # 12 S / D with S = s4 / 4
    chi2 = m * (n - 1) * w
    df = n - 1
    return KendallW(
        w=float(w),
        chi2=float(chi2),
        df=df,
        p=float(scipy_stats.chi2.sf(float(chi2), df)),
        raters=m,
        items=n,
        tie_corrected=tie_correction,
    )
