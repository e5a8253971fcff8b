"""Figures from histograms agree with numpy on the expanded ratings, and edge cases are refused."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from typing import Literal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.consensus import QuantileMethod, quantile

from .helpers import SEED_21, figures_of

SCALES = [(1, 5), (1, 9), (0, 10)]
NumpyMethod = Literal["linear", "weibull"]
NUMPY_METHOD: dict[QuantileMethod, NumpyMethod] = {"type7": "linear", "type6": "weibull"}


@st.composite
def scale_and_histogram(draw: st.DrawFn) -> tuple[tuple[int, int], dict[int, int]]:
    scale = draw(st.sampled_from(SCALES))
    points = range(scale[0], scale[1] + 1)
    counts = draw(st.lists(st.integers(0, 40), min_size=len(points), max_size=len(points)))
    if sum(counts) == 0:
        counts[draw(st.integers(0, len(points) - 1))] = draw(st.integers(1, 40))
    # Leave zero counts out half the time: a histogram from GROUP BY has no empty points.
    sparse = draw(st.booleans())
    return scale, {p: c for p, c in zip(points, counts, strict=True) if c or not sparse}


def expanded(histogram: dict[int, int]) -> np.ndarray:
    points = sorted(histogram)
    return np.repeat(points, [histogram[p] for p in points])


probabilities = st.one_of(
    st.floats(0.0, 1.0, allow_nan=False),
    st.sampled_from([0.0, 0.25, 0.3, 0.5, 0.7, 0.75, 1.0]),
)


@settings(max_examples=400)
@given(data=scale_and_histogram(), p=probabilities, method=st.sampled_from(["type7", "type6"]))
def test_quantile_equals_numpy_percentile_on_expanded_ratings(
    data: tuple[tuple[int, int], dict[int, int]], p: float, method: QuantileMethod
) -> None:
    _, histogram = data
    expected = float(np.percentile(expanded(histogram), 100 * p, method=NUMPY_METHOD[method]))
    assert quantile(histogram, p, method) == pytest.approx(expected, abs=1e-9)


@settings(max_examples=300)
@given(data=scale_and_histogram(), method=st.sampled_from(["type7", "type6"]))
def test_figures_equal_numpy_mean_sd_and_quantiles(
    data: tuple[tuple[int, int], dict[int, int]], method: QuantileMethod
) -> None:
    scale, histogram = data
    ratings = expanded(histogram)
    fig = figures_of(histogram, scale=scale, method=method)
    np_method = NUMPY_METHOD[method]
    assert fig.n == len(ratings)
    assert fig.mean == pytest.approx(float(np.mean(ratings)), abs=1e-9)
    if len(ratings) >= 2:
        assert fig.sd == pytest.approx(float(np.std(ratings, ddof=1)), abs=1e-9)
    else:
        assert fig.sd is None
    for name, p in [("median", 50), ("q1", 25), ("q3", 75), ("p30", 30), ("p70", 70)]:
        expected = float(np.percentile(ratings, p, method=np_method))
        assert getattr(fig, name) == pytest.approx(expected, abs=1e-9), name
    assert fig.iqr == pytest.approx(fig.q3 - fig.q1, abs=1e-12)  # type: ignore[operator]
    assert fig.agree_count == int(np.sum(ratings >= 7))
    assert fig.disagree_count == int(np.sum(ratings <= 3))
    assert fig.pct_agree == pytest.approx(100 * np.mean(ratings >= 7), abs=1e-9)


def test_seed_example_gives_iqr_1_with_type7() -> None:
    fig = figures_of(SEED_21, scale=(1, 5), method="type7")
    assert (fig.q1, fig.median, fig.q3, fig.iqr) == (4.0, 4.0, 5.0, 1.0)


def test_seed_example_gives_iqr_1_5_with_type6() -> None:
    fig = figures_of(SEED_21, scale=(1, 5), method="type6")
    assert (fig.q1, fig.median, fig.q3, fig.iqr) == (3.5, 4.0, 5.0, 1.5)


def test_type6_position_is_clamped_to_the_extreme_ratings() -> None:
    # (n+1)p = 0.4 for p = 0.1, n = 3: below 1, so the minimum; likewise 3.6 -> the maximum.
    assert quantile({2: 1, 5: 1, 9: 1}, 0.1, "type6") == 2.0
    assert quantile({2: 1, 5: 1, 9: 1}, 0.9, "type6") == 9.0
    assert quantile({2: 1, 5: 1, 9: 1}, 0.1, "type7") == pytest.approx(2.6)


def test_quantile_walks_counts_instead_of_expanding_them() -> None:
    # Two trillion ratings: expanding them into a list would exhaust memory.
    huge = {1: 10**12, 9: 10**12}
    assert quantile(huge, 0.5, "type7") == 5.0
    assert quantile(huge, 0.25, "type6") == 1.0


def test_sd_has_no_catastrophic_cancellation_for_large_counts() -> None:
    histogram = {9: 10**15, 10: 1}
    n, s1, s2 = 10**15 + 1, 9 * 10**15 + 10, 81 * 10**15 + 100
    exact_var = Fraction(n * s2 - s1 * s1, n * (n - 1))
    fig = figures_of(histogram, scale=(0, 10))
    assert fig.sd is not None
    assert fig.sd == pytest.approx(math.sqrt(exact_var), rel=1e-12)
    assert fig.sd > 0


def test_histogram_lists_every_scale_point_including_zeros() -> None:
    fig = figures_of({2: 3, 4: 1}, scale=(1, 5), agree_min=4, disagree_max=2)
    assert fig.histogram == {1: 0, 2: 3, 3: 0, 4: 1, 5: 0}
    assert fig.as_dict()["histogram"] == {"1": 0, "2": 3, "3": 0, "4": 1, "5": 0}


def test_abstentions_are_reported_but_excluded_from_n_and_percentages() -> None:
    fig = figures_of({7: 3, 2: 1}, abstained=4)
    assert fig.n == 4
    assert fig.abstained == 4
    assert fig.pct_agree == 75.0
    assert fig.pct_disagree == 25.0


def test_no_ratings_gives_none_figures_and_zero_counts() -> None:
    fig = figures_of({}, abstained=2)
    assert fig.n == 0
    assert fig.abstained == 2
    assert fig.histogram == dict.fromkeys(range(1, 10), 0)
    none_fields = ["mean", "sd", "median", "q1", "q3", "iqr", "p30", "p70"]
    assert all(getattr(fig, name) is None for name in none_fields)
    assert (fig.pct_agree, fig.pct_disagree, fig.cv) == (None, None, None)
    assert (fig.agree_count, fig.disagree_count) == (0, 0)


def test_single_rating_has_no_sd_and_no_cv() -> None:
    fig = figures_of({5: 1})
    assert (fig.mean, fig.median, fig.sd, fig.cv) == (5.0, 5.0, None, None)


def test_cv_is_none_when_mean_is_zero() -> None:
    fig = figures_of({0: 3}, scale=(0, 10))
    assert fig.sd == 0.0
    assert fig.mean == 0.0
    assert fig.cv is None


def test_cv_is_sd_over_mean() -> None:
    fig = figures_of({2: 1, 4: 1})
    assert fig.cv == pytest.approx(math.sqrt(2) / 3)


def test_as_dict_is_json_ready_with_every_named_figure() -> None:
    fig = figures_of(SEED_21, scale=(1, 5), agree_min=4, disagree_max=2)
    data = json.loads(json.dumps(fig.as_dict()))
    assert set(data) == {
        "n", "abstained", "histogram", "mean", "sd", "median", "q1", "q3", "iqr",
        "p30", "p70", "agree_count", "disagree_count", "pct_agree", "pct_disagree", "cv",
    }  # fmt: skip
    assert data["n"] == 21
    assert data["agree_count"] == 16
    assert data["pct_agree"] == pytest.approx(100 * 16 / 21)


def test_rating_outside_the_scale_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Rating 6 lies outside the scale 1.5"):
        figures_of({5: 2, 6: 1}, scale=(1, 5))


def test_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        figures_of({5: -1})
    with pytest.raises(ValueError, match="negative"):
        quantile({5: -1, 6: 3}, 0.5)


def test_negative_abstentions_are_refused() -> None:
    with pytest.raises(ValueError, match="abstentions"):
        figures_of({5: 1}, abstained=-1)


def test_quantile_of_empty_histogram_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one rating"):
        quantile({}, 0.5)
    with pytest.raises(ValueError, match="at least one rating"):
        quantile({3: 0}, 0.5)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_quantile_probability_outside_0_1_is_refused(p: float) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        quantile({3: 1}, p)


def test_unknown_quantile_method_is_refused() -> None:
    with pytest.raises(ValueError, match="type7"):
        quantile({3: 1}, 0.5, "type8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="type7"):
        figures_of({3: 1}, method="type8")  # type: ignore[arg-type]


def test_non_integer_rating_is_refused() -> None:
    with pytest.raises(ValueError, match="integer"):
        figures_of({3.5: 1})  # type: ignore[dict-item]


def test_scale_needs_two_points() -> None:
    with pytest.raises(ValueError, match="at least two points"):
        figures_of({3: 1}, scale=(3, 3))
