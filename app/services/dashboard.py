"""The live view of an open round: who has answered, by stakeholder group, and time left."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from app.models import Ballot, Panelist, Rating, Round, Study, utcnow


@dataclass(slots=True)
class GroupProgress:
    invited: int = 0
    responded: int = 0

    @property
    def rate(self) -> float:
        return self.responded / self.invited if self.invited else 0.0


@dataclass(slots=True)
class Progress:
    invited: int
    responded: int
    submitted: int
    groups: dict[str, GroupProgress]
    waiting: list[Panelist] = field(default_factory=list)  # names: coordinators only
    time_left: timedelta | None = None

    @property
    def rate(self) -> float:
        return self.responded / self.invited if self.invited else 0.0


def progress(
    session: Session, *, study: Study, round_: Round, now: datetime | None = None
) -> Progress:
    now = now or utcnow()
    answered = exists().where(
        Rating.panelist_id == Panelist.id,
        Rating.round_id == round_.id,
        or_(Rating.value.is_not(None), Rating.abstain),
    )
    submitted = exists().where(
        Ballot.panelist_id == Panelist.id,
        Ballot.round_id == round_.id,
        Ballot.submitted_at.is_not(None),
    )
    rows = session.execute(
        select(Panelist, answered.label("answered"), submitted.label("submitted"))
        .where(Panelist.study_id == study.id, Panelist.withdrawn_at.is_(None))
        .order_by(Panelist.code)
    ).all()
    groups: dict[str, GroupProgress] = {}
    result = Progress(invited=len(rows), responded=0, submitted=0, groups=groups)
    for member, has_answered, has_submitted in rows:
        group = groups.setdefault(member.group or "(no group)", GroupProgress())
        group.invited += 1
        if has_answered:
            group.responded += 1
            result.responded += 1
        else:
            result.waiting.append(member)
        result.submitted += bool(has_submitted)
    if round_.closes_at is not None:
        result.time_left = max(round_.closes_at - now, timedelta(0))
    return result


def next_round_words(*, study: Study, rounds: Sequence[Round], undecided: int) -> str | None:
    """What the study page says about a further round, true in every state of the study.

    `undecided` counts the statements a next round would carry forward after the last closed
    round (no consensus, not dropped, not stable); None when the page shows a draft or round 1.
    """
    if not rounds:
        return None
    current = rounds[-1]
    if study.finalized_at is not None:
        return "The study is finalized: no further round."
    if current.status.value == "draft":
        return None
    if current.status.value == "open":
        if current.number >= study.max_rounds:
            return (
                f"Round {current.number} is open, the last of the study's {study.max_rounds} "
                "rounds: no further round after it."
            )
        return (
            f"Round {current.number} is open. Whether a round {current.number + 1} is needed "
            "is known once it closes."
        )
    if current.number >= study.max_rounds:
        left = (
            f"{undecided} statement(s) remain without consensus"
            if undecided
            else "every statement is decided"
        )
        return (
            f"No further round: the study has reached its maximum of {study.max_rounds} "
            f"rounds; {left}."
        )
    if undecided:
        return (
            f"Round {current.number + 1} would ask about {undecided} statement(s) still without "
            "consensus."
        )
    decided = (
        "reached consensus, was dropped or is stable without consensus"
        if study.stability_rule
        else "reached consensus or was dropped"
    )
    return f"No further round is needed: every statement {decided}."
