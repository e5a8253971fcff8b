"""Reading the ballot form: fixed fields through Pydantic, one rating and comment per statement."""

import re
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from app.contract.schemas import MAX_ID, Id
from app.services.ballots import UNSET, RatingInput
from app.services.errors import Invalid
from app.services.numbers import whole_number

FIELD = re.compile(r"^(rating|comment|strength)-([0-9]{1,12})$")  # not \d: it takes "٣" too
# Wider than any study's scale (app.contract.schemas.Scale); its own scale is checked on saving.
RATING_BOUND = 100


def _rating(typed: str) -> int | None:
    """A point typed on the scale, or None when it is not a whole number any scale could hold."""
    return whole_number(typed, low=-RATING_BOUND, high=RATING_BOUND)


async def form_values(request: Request) -> dict[str, str]:
    """The posted form's text fields (parsing is async; the work after it runs in the pool)."""
    fields = await request.form(max_files=0, max_fields=5_000, max_part_size=64_000)
    return {k: v for k, v in fields.multi_items() if isinstance(v, str)}


FormValues = Annotated[dict[str, str], Depends(form_values)]


def ticked_ids(values: dict[str, str], prefix: str) -> list[int]:
    """The statement ids of the boxes ticked (named `prefix` and an id), in the form's order."""
    ids = [
        whole_number(k[len(prefix) :], low=1, high=MAX_ID) for k in values if k.startswith(prefix)
    ]
    if None in ids:  # a tampered or stale name: no such id fits the column
        raise Invalid("A ticked statement is not in this study; reload the page.")
    return [i for i in ids if i is not None]


class BallotFormHeader(BaseModel):
    round_id: Id | None = None  # a tampered id out of the column's range reads as none
    action: Literal["save", "submit", "language"] = "save"


@dataclass(slots=True)
class BallotForm:
    round_id: int | None
    action: str
    ratings: dict[int, str] = field(default_factory=dict)  # as typed: "", "7", "abstain"
    comments: dict[int, str] = field(default_factory=dict)
    strengths: dict[int, str] = field(default_factory=dict)  # only on rounds that ask for it
    problems: dict[int, str] = field(default_factory=dict)  # what could not even be read

    def entries(self) -> list[RatingInput]:
        """Every statement on the form: a rating, an abstention, or cleared; and its comment."""
        entries = []
        for statement_id in sorted(
            self.ratings.keys() | self.comments.keys() | self.strengths.keys()
        ):
            raw = self.ratings.get(statement_id, "")
            unread = statement_id in self.problems  # refused with the rest (`problems`)
            entries.append(
                RatingInput(
                    statement_id=statement_id,
                    value=UNSET if unread else _rating(raw),
                    abstain=UNSET if unread else raw == "abstain",
                    comment=self.comments.get(statement_id, ""),
                    strength=(
                        self.strengths[statement_id] or None
                        if statement_id in self.strengths
                        else UNSET
                    ),
                )
            )
        return entries

    def anything_typed(self) -> bool:
        """Whether the form holds any answer at all (an empty one has nothing to keep)."""
        return (
            any(self.ratings.values())
            or any(self.comments.values())
            or any(self.strengths.values())
        )

    def typed(self, statement_id: int) -> str:
        return self.ratings.get(statement_id, "")

    def typed_strength(self, statement_id: int) -> str:
        return self.strengths.get(statement_id, "")


def parse_ballot_form(values: dict[str, str]) -> BallotForm:
    try:
        header = BallotFormHeader.model_validate(
            {k: v for k, v in values.items() if k in ("round_id", "action") and v}
        )
    except ValidationError:
        header = BallotFormHeader()
    form = BallotForm(round_id=header.round_id, action=header.action)
    for name, value in values.items():
        match = FIELD.match(name)
        if not match:
            continue
        kind, statement_id = match.group(1), int(match.group(2))
        if kind == "comment":
            form.comments[statement_id] = value
            continue
        if kind == "strength":
            form.strengths[statement_id] = value.strip()
            continue
        value = value.strip()
        form.ratings[statement_id] = value
        if value not in ("", "abstain") and _rating(value) is None:
            form.problems[statement_id] = "Choose one of the points on the scale."
    return form
