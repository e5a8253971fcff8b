"""The live view of an open round: who has answered, by stakeholder group, and time left."""

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
