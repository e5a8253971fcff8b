"""Stability figures agree with scipy/numpy on the expanded data and with hand-worked cases."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import stats

from app.consensus.stability import (
    KendallW,
    PairedChange,
    StabilityRule,
    ZeroMethod,
    describe_stability_rule,
    difference_histogram,
    is_stable,
    kendall_w,
    paired_change,
)

ZERO_METHODS: list[ZeroMethod] = ["wilcox", "zsplit"]


def expanded(differences: dict[int, int]) -> np.ndarray:
    keys = sorted(differences)
    return np.repeat(np.array(keys, dtype=float), [differences[k] for k in keys])


def sample_under_test(raw: np.ndarray, zero_method: ZeroMethod) -> np.ndarray:
    """What the test runs on: Wilcoxon's method drops the unchanged ratings."""
    return raw[raw != 0] if zero_method == "wilcox" else raw


def needs_permutation(sample: np.ndarray) -> bool:
    """scipy 1.17 method="auto" runs its (slow) permutation test here."""
    magnitudes = np.abs(sample)
    has_ties = len(np.unique(magnitudes)) < len(magnitudes)
    return len(sample) <= 13 and (has_ties or bool(np.any(sample == 0)))


def brute_force_p(sample: np.ndarray, zero_method: ZeroMethod) -> float:
    """Two-sided p over every one of the 2**n sign flips, enumerated (independent of the app)."""
    ranks = stats.rankdata(np.abs(sample))
    if zero_method == "wilcox":
        ranks = np.where(sample == 0, 0.0, ranks)
    zero_half = ranks[sample == 0].sum() / 2 if zero_method == "zsplit" else 0.0
    moving = np.where(sample == 0, 0.0, ranks)
    signs = np.array(list(itertools.product((0.0, 1.0), repeat=len(sample))))
    null = signs @ moving + zero_half
    observed = moving[sample > 0].sum() + zero_half
    less = np.mean(null <= observed + 1e-9)
    greater = np.mean(null >= observed - 1e-9)
    return float(min(1.0, 2 * min(less, greater)))


differences_histograms = st.dictionaries(
    st.integers(-6, 6), st.integers(0, 25), min_size=1, max_size=13
).filter(lambda h: sum(h.values()) > 0)


# --- paired change ----------------------------------------------------------------------------


def test_hand_worked_change_with_wilcoxons_zero_method() -> None:
    # Eight paired panelists: three kept their rating, three moved up 1, one down 1, one up 2.
    # Changed: 5 of 8 = 62.5 %; mean |change| = (3 + 1 + 2) / 8 = 0.75; mean change
    # = (3 - 1 + 2) / 8 = 0.5. Wilcoxon's method drops the 3 zeros: |d| = 1,1,1,1,2 get ranks
    # 2.5,2.5,2.5,2.5,5, so R+ = 3 x 2.5 + 5 = 12.5 and R- = 2.5; the statistic is min = 2.5.
    # Exact two-sided p over the 32 sign patterns: R- <= 2.5 in 1 (R- = 0) + 4 (one of the 1s
    # negative) patterns, so p = 2 x 5/32 = 0.3125.
    change = paired_change({0: 3, 1: 3, -1: 1, 2: 1}, zero_method="wilcox")
    assert (change.pairs, change.changed) == (8, 5)
    assert (change.pct_changed, change.mean_abs_change, change.mean_change) == (62.5, 0.75, 0.5)
    assert change.wilcoxon_statistic == 2.5
    assert change.wilcoxon_p == pytest.approx(0.3125, abs=1e-12)
    assert change.zero_method == "wilcox"
    assert change.note is not None
    assert "cannot give p below 0.0625" in change.note


def test_hand_worked_change_with_zero_split() -> None:
    # Same eight pairs; the zeros keep ranks 1,2,3 (mean 2), the four |1|s ranks 4..7 (5.5 each),
    # the 2 rank 8. Zero ranks (6) split 3/3: R+ = 3 x 5.5 + 8 + 3 = 27.5, R- = 5.5 + 3 = 8.5.
    # The zeros add the same 3 to every sign pattern, so p is again 2 x 5/32 = 0.3125.
    change = paired_change({0: 3, 1: 3, -1: 1, 2: 1}, zero_method="zsplit")
    assert change.wilcoxon_statistic == 8.5
    assert change.wilcoxon_p == pytest.approx(0.3125, abs=1e-12)
    assert change.zero_method == "zsplit"


def test_three_of_twenty_changed_is_exactly_fifteen_percent() -> None:
    change = paired_change({0: 17, 1: 2, -2: 1})
    assert change.pct_changed == 15.0
    assert change.mean_abs_change == 0.2
    assert change.mean_change == 0.0


def test_unchanged_panel_gets_no_test_and_says_why() -> None:
    for zero_method in ZERO_METHODS:
        change = paired_change({0: 20}, zero_method=zero_method)
        assert (change.pairs, change.changed, change.pct_changed) == (20, 0, 0.0)
        assert change.mean_abs_change == 0.0
        assert change.wilcoxon_statistic is None
        assert change.wilcoxon_p is None
        assert change.note == "every panelist gave the same rating again: no test"
        json.dumps(change.as_dict(), allow_nan=False)


def test_no_pairs_gives_no_figures_and_no_test() -> None:
    change = paired_change({0: 0, 1: 0})
    assert change.pairs == 0
    assert change.pct_changed is None
    assert change.mean_abs_change is None
    assert change.mean_change is None
    assert change.wilcoxon_p is None
    assert change.note is not None
    assert "no panelist rated this statement in both rounds" in change.note
    json.dumps(change.as_dict(), allow_nan=False)


def test_wilcox_decides_exact_or_normal_on_the_changed_ratings_only() -> None:
    # 60 pairs, 55 unchanged, 5 moved up by 1. scipy on the 60 raw differences counts the zeros
    # and uses the normal approximation (p = 0.025: "significant"); on the 5 changes that
    # Wilcoxon's method tests it is exact: p = 2 / 2**5 = 0.0625.
    raw = expanded({0: 55, 1: 5})
    assert float(stats.wilcoxon(raw, zero_method="wilcox").pvalue) == pytest.approx(0.02535, 1e-3)
    change = paired_change({0: 55, 1: 5}, zero_method="wilcox")
    assert change.wilcoxon_p == 0.0625
    assert change.wilcoxon_statistic == float(stats.wilcoxon(raw, zero_method="wilcox").statistic)


def test_as_dict_is_json_with_the_field_names() -> None:
    change = paired_change({0: 10, 1: 4, -1: 2, 2: 3})
    assert set(change.as_dict()) == set(PairedChange.__slots__)
    assert json.loads(json.dumps(change.as_dict(), allow_nan=False))["changed"] == 9


def test_difference_histogram_subtracts_previous_from_current() -> None:
    assert difference_histogram([(3, 5), (7, 7), (6, 5), (2, 4)]) == {2: 2, 0: 1, -1: 1}


@pytest.mark.parametrize(
    "differences",
    [{1.5: 2}, {1: -1}, {1: 2.0}, {True: 3}],
)
def test_malformed_difference_histogram_is_refused(differences: dict[object, object]) -> None:
    with pytest.raises(ValueError, match="scale point"):
        paired_change(differences)  # type: ignore[arg-type]


def test_unknown_zero_method_is_refused() -> None:
    with pytest.raises(ValueError, match="zero method"):
        paired_change({1: 3}, zero_method="pratt")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(differences=differences_histograms, zero_method=st.sampled_from(ZERO_METHODS))
def test_paired_change_equals_numpy_and_scipy_on_raw_differences(
    differences: dict[int, int], zero_method: ZeroMethod
) -> None:
    raw = expanded(differences)
    change = paired_change(differences, zero_method=zero_method)
    assert change.pairs == len(raw)
    assert change.changed == int(np.count_nonzero(raw))
    assert change.pct_changed == pytest.approx(100 * np.count_nonzero(raw) / len(raw), abs=1e-9)
    assert change.mean_abs_change == pytest.approx(float(np.mean(np.abs(raw))), abs=1e-9)
    assert change.mean_change == pytest.approx(float(np.mean(raw)), abs=1e-9)
    json.dumps(change.as_dict(), allow_nan=False)
    if not np.any(raw):
        assert change.wilcoxon_p is None
        assert change.wilcoxon_statistic is None
        return
    # The statistic does not depend on how p is found; "asymptotic" avoids the slow permutation.
    on_raw = stats.wilcoxon(raw, zero_method=zero_method, method="asymptotic")
    assert change.wilcoxon_statistic == pytest.approx(float(on_raw.statistic), abs=1e-9)
    sample = sample_under_test(raw, zero_method)
    assert change.wilcoxon_p is not None
    assert 0.0 <= change.wilcoxon_p <= 1.0
    if needs_permutation(sample):
        expected = brute_force_p(sample, zero_method)
    else:
        expected = float(stats.wilcoxon(sample, zero_method=zero_method).pvalue)
        if zero_method == "zsplit" or not np.any(raw == 0):  # then sample is raw: same call
            assert np.array_equal(sample, raw)
    assert change.wilcoxon_p == pytest.approx(expected, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(-3, 3), min_size=1, max_size=9),
    zero_method=st.sampled_from(ZERO_METHODS),
)
def test_small_panels_match_scipys_own_permutation_test(
    values: list[int], zero_method: ZeroMethod
) -> None:
    assume(any(values))
    change = paired_change(dict(Counter(values)), zero_method=zero_method)
    sample = sample_under_test(np.array(values, dtype=float), zero_method)
    result = stats.wilcoxon(sample, zero_method=zero_method, method="auto")
    assert change.wilcoxon_statistic == pytest.approx(float(result.statistic), abs=1e-9)
    assert change.wilcoxon_p == pytest.approx(float(result.pvalue), abs=1e-9)


@pytest.mark.parametrize("zero_method", ZERO_METHODS)
def test_thirteen_panelists_with_ties_match_scipy(zero_method: ZeroMethod) -> None:
    # The largest sample scipy enumerates (2**13 sign flips, about a second); we count instead.
    differences = {-2: 1, -1: 2, 0: 2, 1: 5, 2: 2, 3: 1}
    raw = expanded(differences)
    if zero_method == "wilcox":
        raw = np.concatenate([raw, [1.0, -1.0]])  # 13 changes once the zeros are dropped
        differences = {**differences, 1: 6, -1: 3}
    sample = sample_under_test(raw, zero_method)
    assert len(sample) == 13
    result = stats.wilcoxon(sample, zero_method=zero_method, method="auto")
    change = paired_change(differences, zero_method=zero_method)
    assert change.wilcoxon_statistic == pytest.approx(float(result.statistic), abs=1e-9)
    assert change.wilcoxon_p == pytest.approx(float(result.pvalue), abs=1e-12)


# --- the stability rule -----------------------------------------------------------------------


def test_exactly_the_threshold_share_is_not_stable() -> None:
    rule = StabilityRule(max_pct_changed=15)
    assert is_stable(paired_change({0: 17, 1: 3}), rule) is False  # 15 % is not fewer than 15 %
    assert is_stable(paired_change({0: 8501, 1: 1499}), rule) is True  # 14.99 %
    assert is_stable(paired_change({0: 20}), rule) is True


def test_fractional_shares_are_judged_on_the_exact_fraction() -> None:
    # 1 of 6 = 16.67 % and 5 of 15 = 33.33 %: below 17 % and 34 %, not below 16 % and 33 %.
    one_of_six = paired_change({0: 5, 1: 1})
    assert is_stable(one_of_six, StabilityRule(max_pct_changed=17)) is True
    assert is_stable(one_of_six, StabilityRule(max_pct_changed=16)) is False
    five_of_fifteen = paired_change({0: 10, 1: 3, -1: 2})
    assert is_stable(five_of_fifteen, StabilityRule(max_pct_changed=34)) is True
    assert is_stable(five_of_fifteen, StabilityRule(max_pct_changed=33)) is False


def test_too_few_pairs_are_not_judged() -> None:
    rule = StabilityRule(min_pairs=5)
    assert is_stable(paired_change({0: 4}), rule) is None
    assert is_stable(paired_change({}), rule) is None
    assert is_stable(paired_change({0: 5}), rule) is True


def test_stability_rule_defaults_and_bounds() -> None:
    rule = StabilityRule()
    assert (rule.max_pct_changed, rule.min_pairs, rule.zero_method) == (15, 5, "wilcox")
    assert rule.stop_carry_forward is True
    for bad in (
        {"max_pct_changed": 0},
        {"max_pct_changed": 101},
        {"min_pairs": 0},
        {"zero_method": "pratt"},
        {"threshold": 15},
    ):
        with pytest.raises(ValidationError):
            StabilityRule.model_validate(bad)


def test_stability_rule_reads_as_one_methods_sentence() -> None:
    text = describe_stability_rule(StabilityRule())
    assert "fewer than 15 %" in text
    assert "fewer than 5 such panelists" in text
    assert "not carried forward" in text
    assert "Wilcoxon's method" in text
    other = describe_stability_rule(
        StabilityRule(
            max_pct_changed=20, min_pairs=8, zero_method="zsplit", stop_carry_forward=False
        )
    )
    assert "fewer than 20 %" in other
    assert "fewer than 8 such panelists" in other
    assert "does not stop a statement from being carried forward" in other
    assert "zero-split" in other


# --- Kendall's W ------------------------------------------------------------------------------

HAND_RATINGS = [
    [1, 2, 3, 4],  # ranks 1, 2, 3, 4
    [1, 3, 2, 4],  # ranks 1, 3, 2, 4
    [2, 2, 3, 4],  # ranks 1.5, 1.5, 3, 4: one tie of t = 2, T = 2^3 - 2 = 6
]


def chi2_sf_df3(x: float) -> float:
    """Closed form of the chi-square survival function with 3 degrees of freedom."""
    return math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2)


def test_hand_worked_kendall_w_with_and_without_tie_correction() -> None:
    # m = 3 raters, n = 4 items. Rank sums R = 3.5, 6.5, 8, 12 (total 30 = m n (n+1)/2), mean 7.5;
    # S = 4^2 + 1^2 + 0.5^2 + 4.5^2 = 37.5, so 12 S = 450.
    # Without correction: W = 450 / (3^2 (4^3 - 4)) = 450 / 540 = 5/6; chi2 = 3 x 3 x 5/6 = 7.5.
    # With it: W = 450 / (540 - 3 x 6) = 450 / 522 = 25/29; chi2 = 9 x 25/29 = 225/29 = 7.7586.
    corrected = kendall_w(HAND_RATINGS)
    plain = kendall_w(HAND_RATINGS, tie_correction=False)
    assert corrected is not None
    assert plain is not None
    assert corrected.w == float(Fraction(25, 29))
    assert corrected.chi2 == float(Fraction(225, 29))
    assert plain.w == float(Fraction(5, 6))
    assert plain.chi2 == 7.5
    assert (corrected.df, corrected.raters, corrected.items) == (3, 3, 4)
    assert (corrected.tie_corrected, plain.tie_corrected) == (True, False)
    assert corrected.p == pytest.approx(chi2_sf_df3(225 / 29), abs=1e-12)  # 0.0513
    assert plain.p == pytest.approx(chi2_sf_df3(7.5), abs=1e-12)  # 0.0576


def test_hand_worked_case_equals_friedman_chi_square() -> None:
    result = kendall_w(HAND_RATINGS)
    assert result is not None
    per_item = np.array(HAND_RATINGS).T
    friedman = stats.friedmanchisquare(*per_item)
    assert result.chi2 == pytest.approx(float(friedman.statistic), abs=1e-12)
    assert result.p == pytest.approx(float(friedman.pvalue), abs=1e-12)


def test_identical_rankings_give_w_one_and_reversed_pair_gives_zero() -> None:
    same = kendall_w([[1, 5, 3], [2, 9, 4], [0, 7, 6]])
    assert same is not None
    assert same.w == 1.0
    reversed_pair = kendall_w([[1, 2, 3, 4], [4, 3, 2, 1]])
    assert reversed_pair is not None
    assert reversed_pair.w == 0.0
    assert reversed_pair.p == 1.0


@pytest.mark.parametrize(
    "ratings",
    [[], [[1, 2, 3]], [[1], [2], [3]], [[5, 5, 5], [2, 2, 2]]],
    ids=["no raters", "one rater", "one item", "every rater ties every item"],
)
def test_kendall_w_is_none_when_undefined(ratings: list[list[int]]) -> None:
    assert kendall_w(ratings) is None
    assert kendall_w(ratings, tie_correction=False) is None


def test_kendall_w_refuses_an_incomplete_matrix_and_non_numbers() -> None:
    with pytest.raises(ValueError, match="complete matrix"):
        kendall_w([[1, 2, 3], [1, 2]])
    with pytest.raises(ValueError, match="not finite"):
        kendall_w([[1, 2, 3], [1, float("nan"), 2]])
    with pytest.raises(ValueError, match="not a number"):
        kendall_w([[1, 2, 3], [1, "2", 2]])  # type: ignore[list-item]


def test_kendall_w_as_dict_is_json() -> None:
    result = kendall_w(HAND_RATINGS)
    assert result is not None
    assert set(result.as_dict()) == set(KendallW.__slots__)
    json.dumps(result.as_dict(), allow_nan=False)


def reference_w(ratings: np.ndarray, tie_correction: bool) -> tuple[float, float, float]:
    """W, chi2 and p from scipy's rankdata and the textbook formula."""
    m, n = ratings.shape
    ranks = stats.rankdata(ratings, axis=1)
    totals = ranks.sum(axis=0)
    s = float(np.sum((totals - totals.mean()) ** 2))
    ties = 0.0
    for row in ratings:
        _, counts = np.unique(row, return_counts=True)
        ties += float(np.sum(counts.astype(float) ** 3 - counts))
    denominator = m**2 * (n**3 - n) - (m * ties if tie_correction else 0.0)
    w = 12 * s / denominator
    chi2 = m * (n - 1) * w
    return w, chi2, float(stats.chi2.sf(chi2, n - 1))


rating_matrices = st.integers(2, 9).flatmap(
    lambda n: st.lists(
        st.one_of(
            st.lists(st.integers(1, 5), min_size=n, max_size=n),
            st.lists(st.floats(-100, 100, allow_nan=False), min_size=n, max_size=n),
        ),
        min_size=2,
        max_size=12,
    )
)


@settings(max_examples=300, deadline=None)
@given(ratings=rating_matrices, tie_correction=st.booleans())
def test_kendall_w_equals_rankdata_reference(
    ratings: list[list[float]], tie_correction: bool
) -> None:
    matrix = np.array(ratings, dtype=float)
    result = kendall_w(ratings, tie_correction=tie_correction)
    if all(len(set(row)) == 1 for row in ratings):
        assert result is None
        return
    assert result is not None
    w, chi2, p = reference_w(matrix, tie_correction)
    assert result.w == pytest.approx(w, abs=1e-9)
    assert result.chi2 == pytest.approx(chi2, abs=1e-9)
    assert result.p == pytest.approx(p, abs=1e-9)
    assert (result.raters, result.items, result.df) == (
        matrix.shape[0],
        matrix.shape[1],
        len(ratings[0]) - 1,
    )
    assert -1e-12 <= result.w <= 1 + 1e-12


@settings(max_examples=200, deadline=None)
@given(
    ratings=st.integers(3, 9).flatmap(
        lambda n: st.lists(
            st.lists(st.integers(1, 5), min_size=n, max_size=n), min_size=2, max_size=15
        )
    )
)
def test_tie_corrected_chi_square_equals_scipy_friedman(ratings: list[list[int]]) -> None:
    result = kendall_w(ratings)
    assume(result is not None)
    assert result is not None
    per_item = np.array(ratings, dtype=float).T  # friedmanchisquare: one sample per item
    friedman = stats.friedmanchisquare(*per_item)
    assert result.chi2 == pytest.approx(float(friedman.statistic), rel=1e-9, abs=1e-9)
    assert result.p == pytest.approx(float(friedman.pvalue), abs=1e-9)
    uncorrected = kendall_w(ratings, tie_correction=False)
    assert uncorrected is not None
    assert uncorrected.w <= result.w + 1e-12
