"""Which stakeholder groups' figures panelists may see without any rating being worked out."""

from __future__ import annotations

from collections.abc import Mapping

# A histogram of fewer ratings than this, shown or left over by subtraction, could reveal who
# said what (with 3 a panelist who knows their own rating still sees two others together).
GROUP_FEEDBACK_MIN = 3


def publishable_groups(
    overall_n: int, group_n: Mapping[str, int], *, minimum: int = GROUP_FEEDBACK_MIN
) -> frozenset[str]:
    """The groups to show apart, so that no shown or subtracted histogram holds 1..minimum-1.

    ``overall_n`` counts the ratings in the whole panel's published histogram and ``group_n``
    the ratings in each group's (abstentions are not published, so they do not count). A group
    below ``minimum`` is hidden; the panel minus every shown group (hidden groups and panelists
    without a group) is what subtraction reveals, so while that remainder holds 1..minimum-1
    ratings the smallest shown group is hidden too (complementary suppression). Any other
    subtraction leaves more than the remainder, so it cannot fall below ``minimum`` either.
    """
    if minimum < 1:
        raise ValueError(f"The minimum group size must be at least 1, not {minimum}.")
    if overall_n < 0 or any(n < 0 for n in group_n.values()):
        raise ValueError("A group cannot have a negative number of ratings.")
    if sum(group_n.values()) > overall_n:
        # The groups hold ratings the panel's figures do not: nothing is known to be safe.
        return frozenset()
    shown = {name: n for name, n in group_n.items() if n >= minimum}
    remainder = overall_n - sum(shown.values())
    while shown and 0 < remainder < minimum:
        smallest = min(shown, key=lambda name: (shown[name], name))
        remainder += shown.pop(smallest)
    return frozenset(shown)
