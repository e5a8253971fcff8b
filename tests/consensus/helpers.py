"""Builders shared by the consensus tests: histograms, figures on a scale, evidence sources."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from app.consensus import Figures, QuantileMethod, compute_figures
from app.consensus.sources import Source


def hist(ratings: Iterable[int]) -> dict[int, int]:
    """The histogram of a list of ratings."""
    return dict(Counter(ratings))


def figures_of(
    histogram: dict[int, int],
    *,
    scale: tuple[int, int] = (1, 9),
    abstained: int = 0,
    method: QuantileMethod = "type7",
    agree_min: int = 7,
    disagree_max: int = 3,
) -> Figures:
    return compute_figures(
        histogram,
        scale_min=scale[0],
        scale_max=scale[1],
        abstained=abstained,
        method=method,
        agree_min=agree_min,
        disagree_max=disagree_max,
    )


# 21 ratings on 1..5: five 3s, six 4s, ten 5s (docs/method.md §2.3 worked example).
SEED_21 = {3: 5, 4: 6, 5: 10}
# 15 ratings {4, 5, 6, 7x5, 8x5, 9x2} on 1..9 (docs/method.md §3.5 worked check).
RAND_15 = {4: 1, 5: 1, 6: 1, 7: 5, 8: 5, 9: 2}


def rct(id_: int, citation: str, pedro: int | None) -> Source:
    return Source(id_, citation, "rct", pedro=pedro)


def review(id_: int, citation: str, pooled: tuple[str, ...], **appraisal: object) -> Source:
    return Source(id_, citation, "systematic_review", pooled_levels=pooled, **appraisal)  # type: ignore[arg-type]


SMITH = rct(1, "Smith 2019", 7)
LI = rct(2, "Li 2020", 8)
WANG = rct(3, "Wang 2018", 4)
KO = Source(4, "Ko 2017", "cohort")
CHEN = Source(5, "Chen 2016", "case_control")
PARK = Source(6, "Park 2015", "case_series")
PANEL = Source(7, "Task force 2014", "expert_opinion")
