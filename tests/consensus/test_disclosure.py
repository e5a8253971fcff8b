"""Group feedback: no group's chart, nor the panel's minus the charts shown, reveals a rating."""

from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.consensus.disclosure import publishable_groups


def test_the_one_patient_representative_is_not_left_over_by_subtraction() -> None:
    # Showing both groups of 3 would leave the panel's 7 minus 6: the representative's rating.
    panel = {"physiotherapists": 3, "researchers": 3, "patient representative": 1}
    assert publishable_groups(7, panel) == {"researchers"}


def test_a_panelist_without_a_group_is_protected_like_a_hidden_group() -> None:
    assert publishable_groups(7, {"physiotherapists": 3, "researchers": 3}) == {"researchers"}


def test_when_the_only_group_shown_must_be_held_back_no_group_is_shown() -> None:
    assert publishable_groups(4, {"physiotherapists": 3, "patient representative": 1}) == set()


def test_groups_that_leave_nothing_or_enough_over_are_all_shown() -> None:
    assert publishable_groups(6, {"physiotherapists": 3, "researchers": 3}) == {
        "physiotherapists",
        "researchers",
    }
    assert publishable_groups(9, {"a": 3, "b": 3, "c": 2, "d": 1}) == {"a", "b"}


def test_groups_holding_more_ratings_than_the_panel_show_nothing() -> None:
    assert publishable_groups(3, {"physiotherapists": 3, "researchers": 3}) == set()


def test_a_negative_count_or_a_minimum_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="negative number of ratings"):
        publishable_groups(3, {"physiotherapists": -1})
    with pytest.raises(ValueError, match="at least 1"):
        publishable_groups(3, {"physiotherapists": 3}, minimum=0)


@given(
    st.dictionaries(st.text(min_size=1, max_size=6), st.integers(0, 8), max_size=6),
    st.integers(0, 8),
    st.integers(1, 5),
)
def test_no_subtraction_of_shown_groups_leaves_fewer_than_the_minimum(
    groups: dict[str, int], ungrouped: int, minimum: int
) -> None:
    overall = sum(groups.values()) + ungrouped
    shown = publishable_groups(overall, groups, minimum=minimum)
    assert all(groups[name] >= minimum for name in shown)
    for size in range(1, len(shown) + 1):  # the panel's own figures are shown whatever its size
        for subset in combinations(sorted(shown), size):
            left = overall - sum(groups[name] for name in subset)
            assert not 0 < left < minimum, (subset, left)
    # No more is hidden than needed: at most one large enough group, and only when it must be.
    large = {name for name, n in groups.items() if n >= minimum}
    held_back = large - shown
    remainder = overall - sum(groups[name] for name in large)
    assert len(held_back) <= 1
    assert bool(held_back) == (bool(large) and 0 < remainder < minimum)
    if held_back:
        (name,) = held_back
        assert groups[name] == min(groups[other] for other in large)
