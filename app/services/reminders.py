"""Reminders to non-responders: which one is due for a round, queued once whatever runs it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from app.models import OutboxMessage, Panelist, Rating, Round, RoundStatus, Study, utcnow
from app.services import audit
from app.services.outbox import active_panelists, enqueue


def enqueue_due_reminders(session: Session, *, now: datetime | None = None) -> int:
    """Queue the reminders that are due to non-responders of every open round; returns how many.

    A reminder point is `closes_at - h hours` for each h in the study's reminder_hours. When
    several points have passed, only the latest (smallest h) is sent: a panelist never gets two
    reminders at once after the scheduler was down. Points that fell before the round opened are
    skipped (the panelist has just had the round-opened message). A non-responder has no rating
    and no abstention in the round. Exactly one message per (round, panelist, h) whatever runs
    this, however often and in however many processes: the dedupe key
    "reminder:<round>:<panelist>:<h>" is unique (see enqueue).
    """
    now = now or utcnow()
    rows = session.execute(
        select(Round, Study.reminder_hours)
        .join(Study, Study.id == Round.study_id)
        .where(
            Round.status == RoundStatus.open,
            Round.closes_at.is_not(None),
            Round.closes_at > now,
        )
        .order_by(Round.id)
    ).all()
    count = 0
    for round_, hours in rows:
        due = due_reminder(round_, hours, now=now)
        if due is not None:
            queued = _remind(session, round_=round_, hours=due, now=now)
            if queued:
                audit.record(
                    session,
                    actor=None,
                    action="mail.reminders",
                    study_id=round_.study_id,
                    round=round_.number,
                    hours_before=due,
                    queued=queued,
                )
            count += queued
    return count


def due_reminder(round_: Round, hours: Sequence[Any] | None, *, now: datetime) -> float | None:
    """The reminder (hours before the deadline) due now for this round, if any."""
    if round_.closes_at is None or now >= round_.closes_at:
        return None
    due = []
    for value in hours or []:
        try:
            h = float(value)
        except (TypeError, ValueError):
            continue
        point = round_.closes_at - timedelta(hours=h)
        if h > 0 and point <= now and (round_.opens_at is None or point >= round_.opens_at):
            due.append(h)
    return min(due) if due else None


def _remind(session: Session, *, round_: Round, hours: float, now: datetime) -> int:
    responded = exists().where(
        Rating.round_id == round_.id,
        Rating.panelist_id == Panelist.id,
        or_(Rating.value.is_not(None), Rating.abstain),
    )
    prefix = f"reminder:{round_.id}:"
    done = set(
        session.scalars(
            select(OutboxMessage.dedupe_key).where(
                OutboxMessage.round_id == round_.id, OutboxMessage.kind == "reminder"
            )
        )
    )
    count = 0
    for p in active_panelists(session, study_id=round_.study_id, where=~responded):
        key = f"{prefix}{p.id}:{hours:g}"
        if key in done:
            continue
        queued = enqueue(
            session, kind="reminder", panelist=p, round_=round_, dedupe_key=key, now=now
        )
        count += queued is not None
    return count
