"""Evidence sources of docs/method.md §8: a study design and its appraisal (PEDro, AMSTAR), checked.

What a source is and whether its appraisal fits its design; the levels a set of sources earns
under a scheme are app.consensus.levels. Pure, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from app.consensus.rules import DASH

Design = Literal[
    "systematic_review",
    "meta_analysis",
    "rct",
    "non_randomised_controlled",
    "cohort",
    "case_control",
    "pre_post",
    "case_series",
    "expert_opinion",
]
Amstar2 = Literal["high", "moderate", "low", "critically_low"]

DESIGNS: tuple[Design, ...] = get_args(Design)
REVIEW_DESIGNS: frozenset[Design] = frozenset({"systematic_review", "meta_analysis"})
OBSERVATIONAL_DESIGNS: frozenset[Design] = frozenset(
    {"non_randomised_controlled", "cohort", "case_control", "pre_post", "case_series"}
)

# PEDro (Maher et al. 2003): 11 items, item 1 (eligibility) outside the 0-10 total; >= 6 is high.
PEDRO_ITEMS = 11
PEDRO_MAX = 10
PEDRO_HIGH = 6
# Original AMSTAR: 11 items; 0-3 is conventionally read as low quality.
AMSTAR_MAX = 11
AMSTAR_LOW_BELOW = 4
AMSTAR2_LOW: frozenset[Amstar2] = frozenset({"low", "critically_low"})

# How messages name each design: singular, plural.
DESIGN_WORDS: dict[Design, tuple[str, str]] = {
    "systematic_review": ("systematic review", "systematic reviews"),
    "meta_analysis": ("meta-analysis", "meta-analyses"),
    "rct": ("RCT", "RCTs"),
    "non_randomised_controlled": (
        "non-randomised controlled trial",
        "non-randomised controlled trials",
    ),
    "cohort": ("cohort study", "cohort studies"),
    "case_control": ("case-control study", "case-control studies"),
    "pre_post": (f"pre{DASH}post study", f"pre{DASH}post studies"),
    "case_series": ("case series", "case series"),
    "expert_opinion": ("expert opinion", "expert opinions"),
}


@dataclass(frozen=True, slots=True)
class Source:
    """One evidence source linked to a statement; validated on creation (see check_source)."""

    id: int | str
    citation: str
    design: Design
    pedro: int | None = None
    pedro_items: tuple[bool, ...] | None = None
    amstar2: Amstar2 | None = None
    amstar_score: int | None = None
    pooled_levels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_source(self)

    @property
    def pedro_total(self) -> int | None:
        """The PEDro 0-10 total: as recorded, else items 2-11 counted (item 1 is not scored)."""
        if self.pedro is not None:
            return self.pedro
        if self.pedro_items is not None:
            return sum(self.pedro_items[1:])
        return None

    @property
    def is_review(self) -> bool:
        return self.design in REVIEW_DESIGNS

    @property
    def name(self) -> str:
        """How messages name a source: by its citation (a new source has no id yet)."""
        return self.citation or f"Source {self.id}"


def check_pedro_items(pedro: int | None, items: tuple[bool, ...]) -> None:
    """Raise ValueError unless there are 11 items and the total equals items 2-11 (Maher 2003)."""
    if len(items) != PEDRO_ITEMS:
        raise ValueError(
            f"The PEDro scale has {PEDRO_ITEMS} items and {len(items)} were given; record all "
            f"{PEDRO_ITEMS}, item 1 (eligibility criteria) included."
        )
    counted = sum(items[1:])
    if pedro is not None and pedro != counted:
        raise ValueError(
            f"The PEDro total is {pedro}, but items 2{DASH}11 add up to {counted}; item 1 "
            "(eligibility criteria) does not count toward the 0-10 total. Correct the total or "
            "the items."
        )


def check_source(source: Source) -> None:
    """Raise ValueError, with a sentence a methodologist can act on, if the appraisal misfits."""
    name = source.name
    if source.design not in DESIGNS:
        raise ValueError(
            f"{name} has design {source.design!r}, which is not one of: {', '.join(DESIGNS)}."
        )
    _check_pedro(source)
    _check_amstar(source)


def _check_pedro(source: Source) -> None:
    """The PEDro score and items: for trials only, in range, and adding up."""
    name = source.name
    if source.design != "rct" and (source.pedro is not None or source.pedro_items is not None):
        raise ValueError(
            f"{name} is a {DESIGN_WORDS[source.design][0]}, and the PEDro scale appraises "
            "randomised controlled trials only; remove the PEDro score or record the design as rct."
        )
    if source.pedro is not None and not 0 <= source.pedro <= PEDRO_MAX:
        raise ValueError(
            f"{name} has PEDro {source.pedro}; the PEDro total runs from 0 to {PEDRO_MAX} "
            "(items 2-11, one point each)."
        )
    if source.pedro_items is not None:
        try:
            check_pedro_items(source.pedro, source.pedro_items)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None


def _check_amstar(source: Source) -> None:
    """The AMSTAR appraisal and pooled levels: for reviews only, and in range."""
    name = source.name
    if not source.is_review:
        for attribute, what in (
            ("amstar2", "AMSTAR-2 rating"),
            ("amstar_score", "AMSTAR score"),
        ):
            if getattr(source, attribute) is not None:
                raise ValueError(
                    f"{name} is a {DESIGN_WORDS[source.design][0]}, and AMSTAR appraises "
                    f"systematic reviews only; remove the {what} or record the design as "
                    "systematic_review or meta_analysis."
                )
        if source.pooled_levels:
            raise ValueError(
                f"{name} is a {DESIGN_WORDS[source.design][0]} and pools no studies; pooled "
                "levels belong to systematic reviews and meta-analyses only."
            )
    if source.amstar2 is not None and source.amstar2 not in get_args(Amstar2):
        raise ValueError(
            f"{name} has AMSTAR-2 rating {source.amstar2!r}; choose high, moderate, low or "
            "critically_low (Shea et al. 2017)."
        )
    if source.amstar_score is not None and not 0 <= source.amstar_score <= AMSTAR_MAX:
        raise ValueError(
            f"{name} has AMSTAR score {source.amstar_score}; the original AMSTAR runs from 0 to "
            f"{AMSTAR_MAX}."
        )
