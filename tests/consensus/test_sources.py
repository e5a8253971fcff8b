"""Evidence sources are checked as docs/method.md §8 and app/consensus/sources.py say."""

from __future__ import annotations

import pytest

from app.consensus.sources import Source, check_pedro_items
from tests.consensus.helpers import rct, review

# PEDro items: item 1 (eligibility) yes, then items 2-11 with seven yes -> total 7.
ITEMS_7 = (True, True, True, True, True, True, True, True, False, False, False)

# ----------------------------------------------------------------------------- source checks


def test_pedro_total_must_equal_items_two_to_eleven() -> None:
    check_pedro_items(7, ITEMS_7)
    with pytest.raises(ValueError, match=r"item 1 \(eligibility criteria\) does not count"):
        check_pedro_items(8, ITEMS_7)  # 8 would be the total with item 1 counted


def test_source_refuses_a_pedro_total_that_counts_item_one() -> None:
    with pytest.raises(ValueError, match=r"Smith 2019.*items 2.11 add up to 7"):
        Source(1, "Smith 2019", "rct", pedro=8, pedro_items=ITEMS_7)


def test_pedro_items_alone_give_the_total_from_items_two_to_eleven() -> None:
    assert Source(1, "Smith 2019", "rct", pedro_items=ITEMS_7).pedro_total == 7


def test_pedro_items_must_be_eleven() -> None:
    with pytest.raises(ValueError, match="11 items and 10 were given"):
        Source(1, "Smith 2019", "rct", pedro_items=ITEMS_7[1:])


def test_pedro_on_a_non_rct_is_refused() -> None:
    with pytest.raises(ValueError, match=r"cohort study.*randomised controlled trials only"):
        Source(1, "Ko 2017", "cohort", pedro=6)


@pytest.mark.parametrize("pedro", [-1, 11])
def test_pedro_outside_zero_to_ten_is_refused(pedro: int) -> None:
    with pytest.raises(ValueError, match="runs from 0 to 10"):
        rct(1, "Smith 2019", pedro)


def test_amstar_on_a_non_review_is_refused() -> None:
    with pytest.raises(ValueError, match="AMSTAR appraises systematic reviews only"):
        Source(1, "Smith 2019", "rct", amstar2="high")
    with pytest.raises(ValueError, match="remove the AMSTAR score"):
        Source(1, "Smith 2019", "rct", amstar_score=9)


def test_amstar_score_outside_zero_to_eleven_is_refused() -> None:
    with pytest.raises(ValueError, match="0 to 11"):
        review(1, "Jones 2021", ("1a",), amstar_score=12)


def test_pooled_levels_on_a_primary_study_are_refused() -> None:
    with pytest.raises(ValueError, match="pools no studies"):
        Source(1, "Smith 2019", "rct", pedro=7, pooled_levels=("1b",))
