"""Per-statement figures computed from a rating histogram, so closing a round needs one GROUP BY."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

QuantileMethod = Literal["type6", "type7"]
Histogram = Mapping[int, int]  # scale point -> count of ratings (abstentions are not in it)

QUANTILE_METHODS: tuple[QuantileMethod, ...] = ("type7", "type6")


def _as_int(value: object, what: str) -> int:
    """Accept int-like values (int, numpy integers); refuse floats, bools and strings."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, not {value!r}.")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{what} must be an integer, not {value!r}.") from None


def _nonzero_sorted(histogram: Histogram) -> tuple[list[tuple[int, int]], int]:
    """The (point, count) pairs with a positive count, ascending, and the total count n."""
    items: list[tuple[int, int]] = []
    n = 0
    for raw_point, raw_count in histogram.items():
        point = _as_int(raw_point, "A scale point")
        count = _as_int(raw_count, f"The count for scale point {point}")
        if count < 0:
            raise ValueError(f"The count for scale point {point} is negative ({count}).")
        if count:
            items.append((point, count))
            n += count
    items.sort()
    return items, n


def _position(n: int, p: float, method: QuantileMethod) -> float:
    """Hyndman & Fan (1996) 1-based position h of the p-quantile among n sorted ratings."""
    if method == "type7":  # R's default, numpy "linear", Excel PERCENTILE.INC
        return (n - 1) * p + 1
    if method == "type6":  # SPSS, Minitab, numpy "weibull", Excel PERCENTILE.EXC (clamped)
        return min(max((n + 1) * p, 1.0), float(n))
    raise ValueError(f"Unknown quantile method {method!r}; use 'type7' or 'type6'.")


def _quantile_of_sorted(
    items: list[tuple[int, int]], n: int, p: float, method: QuantileMethod
) -> float:
    """x[fl] + (h - fl)(x[fl+1] - x[fl]) found by walking cumulative counts, never expanding."""
    h = _position(n, p, method)
    low_rank = min(max(math.floor(h), 1), n)
    fraction = h - low_rank
    high_rank = min(low_rank + 1, n)  # when h == n the fraction is 0 and x[n+1] is never used
    x_low: int | None = None
    x_high: int | None = None
    cumulative = 0
    for point, count in items:
        cumulative += count
        if x_low is None and cumulative >= low_rank:
            x_low = point
        if cumulative >= high_rank:
            x_high = point
            break
    if x_low is None or x_high is None:  # pragma: no cover - ranks are within 1..n
        raise AssertionError("order statistic not found")
    if x_low == x_high or fraction == 0:
        return float(x_low)
    return x_low + fraction * (x_high - x_low)


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:  # also refuses NaN
        raise ValueError(f"A quantile probability must lie in [0, 1], not {p!r}.")


def quantile(histogram: Histogram, p: float, method: QuantileMethod = "type7") -> float:
    """The p-quantile (Hyndman & Fan 1996, type 6 or 7) of the ratings the histogram stands for.

    Equals ``numpy.percentile(expanded, 100 * p, method="linear" | "weibull")``.
    """
    _check_p(p)
    items, n = _nonzero_sorted(histogram)
    if n == 0:
        raise ValueError("A quantile needs at least one rating; the histogram is empty.")
    return _quantile_of_sorted(items, n, p, method)


@dataclass(frozen=True, slots=True)
class Figures:
    """What docs/method.md §2 reports for one statement (or one group) in one round."""

    n: int
    abstained: int
    histogram: dict[int, int]
    mean: float | None
    sd: float | None
    median: float | None
    q1: float | None
    q3: float | None
    iqr: float | None
    p30: float | None
    p70: float | None
    agree_count: int
    disagree_count: int
    pct_agree: float | None
    pct_disagree: float | None
    cv: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: histogram keys as strings, in scale order; floats unrounded."""
        return {
            "n": self.n,
            "abstained": self.abstained,
            "histogram": {str(point): count for point, count in sorted(self.histogram.items())},
            "mean": self.mean,
            "sd": self.sd,
            "median": self.median,
            "q1": self.q1,
            "q3": self.q3,
            "iqr": self.iqr,
            "p30": self.p30,
            "p70": self.p70,
            "agree_count": self.agree_count,
            "disagree_count": self.disagree_count,
            "pct_agree": self.pct_agree,
            "pct_disagree": self.pct_disagree,
            "cv": self.cv,
        }


def compute_figures(
    histogram: Histogram,
    *,
    scale_min: int,
    scale_max: int,
    abstained: int = 0,
    method: QuantileMethod = "type7",
    agree_min: int,
    disagree_max: int,
) -> Figures:
    """All figures of docs/method.md §2 from one histogram on the scale ``scale_min..scale_max``.

    ``agree_min``/``disagree_max`` are the cut-offs behind ``pct_agree``/``pct_disagree``
    (see ``rules.agreement_bounds``). Mean and SD use exact integer sums, so there is no
    cancellation: var = (n * sum(c x^2) - sum(c x)^2) / (n (n - 1)), computed on Python integers.
    """
    full, abstained = _checked(
        histogram, scale_min=scale_min, scale_max=scale_max, abstained=abstained, method=method
    )
    items = [(point, count) for point, count in full.items() if count]
    n = sum(count for _, count in items)
    agree_count = sum(count for point, count in items if point >= agree_min)
    disagree_count = sum(count for point, count in items if point <= disagree_max)

    if n == 0:
        return _no_ratings(full, abstained)

    s1 = sum(count * point for point, count in items)
    s2 = sum(count * point * point for point, count in items)
    mean = s1 / n  # int / int: correctly rounded
    sd: float | None = None
    if n >= 2:
        sd = math.sqrt((n * s2 - s1 * s1) / (n * (n - 1)))  # exact integer numerator >= 0

    def q(p: float) -> float:
        return _quantile_of_sorted(items, n, p, method)

    q1, q3 = q(0.25), q(0.75)
    cv = sd / mean if sd is not None and mean != 0 else None
    return Figures(
        n=n,
        abstained=abstained,
        histogram=full,
        mean=mean,
        sd=sd,
        median=q(0.5),
        q1=q1,
        q3=q3,
        iqr=q3 - q1,
        p30=q(0.3),
        p70=q(0.7),
        agree_count=agree_count,
        disagree_count=disagree_count,
        pct_agree=100 * agree_count / n,
        pct_disagree=100 * disagree_count / n,
        cv=cv,
    )


def _checked(
    histogram: Histogram, *, scale_min: int, scale_max: int, abstained: int, method: str
) -> tuple[dict[int, int], int]:
    """Every point of the scale with its count, and the abstentions, once the inputs are sound."""
    if method not in QUANTILE_METHODS:
        raise ValueError(f"Unknown quantile method {method!r}; use 'type7' or 'type6'.")
    scale_min = _as_int(scale_min, "scale_min")
    scale_max = _as_int(scale_max, "scale_max")
    if scale_min >= scale_max:
        raise ValueError(f"The scale must have at least two points; got {scale_min}..{scale_max}.")
    abstained = _as_int(abstained, "The number of abstentions")
    if abstained < 0:
        raise ValueError(f"The number of abstentions is negative ({abstained}).")
    full = dict.fromkeys(range(scale_min, scale_max + 1), 0)
    for raw_point, raw_count in histogram.items():
        point = _as_int(raw_point, "A rating")
        count = _as_int(raw_count, f"The count for rating {point}")
        if point not in full:
            raise ValueError(
                f"Rating {point} lies outside the scale {scale_min}\N{EN DASH}{scale_max} "
                f"({count} rating(s) have that value)."
            )
        if count < 0:
            raise ValueError(f"The count for rating {point} is negative ({count}).")
        full[point] += count
    return full, abstained


def _no_ratings(full: dict[int, int], abstained: int) -> Figures:
    """No ratings (all abstained, or none came): the counts, and every figure None."""
    return Figures(
        n=0,
        abstained=abstained,
        histogram=full,
        mean=None,
        sd=None,
        median=None,
        q1=None,
        q3=None,
        iqr=None,
        p30=None,
        p70=None,
        agree_count=0,
        disagree_count=0,
        pct_agree=None,
        pct_disagree=None,
        cv=None,
    )
