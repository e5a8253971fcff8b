"""Reminders go to non-responders only, the latest due one once, never one from before the round
opened."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.delivery import deliver_due
from app.models import Round, utcnow
from app.services import reminders
from tests.mailing import (
    Recorder,
    add_emailed,
    messages,
    rate,
    reload,
)
from tests.services.builders import build_study


def test_reminders_go_only_to_non_responders_at_72_and_24_hours_once_each(
    session: Session, smtp: Recorder
) -> None:
    b = build_study(session, statements=1, panelists=1)  # its panelist has no e-mail
    rater, abstainer, commenter, silent, withdrawn = add_emailed(b, 5)
    closes = utcnow() + timedelta(days=5)
    round_ = b.open_round(closes_at=closes)
    rate(session, b, rater, value=7)
    rate(session, b, abstainer, abstain=True)
    rate(session, b, commenter, comment="I need more time")  # a comment alone is no answer
    withdrawn.withdrawn_at = utcnow()
    session.commit()

    def due(at: datetime, times: int = 4) -> list[int]:
        counts = [reminders.enqueue_due_reminders(session, now=at) for _ in range(times)]
        session.commit()
        return counts

    assert due(closes - timedelta(hours=73)) == [0, 0, 0, 0]
    at_72 = closes - timedelta(hours=72) + timedelta(minutes=1)
    assert due(at_72) == [2, 0, 0, 0]
    assert deliver_due(now=at_72).sent == 2
    assert due(closes - timedelta(hours=30)) == [0, 0, 0, 0]

    rate(session, b, commenter, value=4)  # answers between the reminders
    session.commit()
    at_24 = closes - timedelta(hours=24) + timedelta(minutes=1)
    assert due(at_24) == [1, 0, 0, 0]
    assert deliver_due(now=at_24).sent == 1
    assert due(closes - timedelta(hours=1)) == [0, 0, 0, 0]
    assert due(closes + timedelta(minutes=1)) == [0, 0, 0, 0]

    assert sorted(r.to for r in smtp.received) == [
        "expert3@example.org",
        "expert4@example.org",
        "expert4@example.org",
    ]
    assert all(r.subject.startswith("Reminder: round 1 of") for r in smtp.received)
    assert "You have not yet answered round 1" in smtp.received[0].body
    reload(session)
    assert sorted(m.dedupe_key or "" for m in messages(session, kind="reminder")) == [
        f"reminder:{round_.id}:{commenter.id}:72",
        f"reminder:{round_.id}:{silent.id}:24",
        f"reminder:{round_.id}:{silent.id}:72",
    ]


def test_only_the_latest_due_reminder_is_sent_and_none_from_before_the_round_opened(
    session: Session,
) -> None:
    b = build_study(session, statements=1, panelists=1)
    add_emailed(b, 1)
    closes = utcnow() + timedelta(hours=48)  # the 72-hour point came before the opening
    b.open_round(closes_at=closes)
    assert reminders.enqueue_due_reminders(session, now=closes - timedelta(hours=30)) == 0
    late = closes - timedelta(hours=2)  # the scheduler was down through the 24-hour point
    assert reminders.enqueue_due_reminders(session, now=late) == 1
    assert reminders.enqueue_due_reminders(session, now=late) == 0
    (message,) = messages(session, kind="reminder")
    assert message.dedupe_key is not None
    assert message.dedupe_key.endswith(":24")


def test_due_reminder_points() -> None:
    opened = utcnow()
    round_ = Round(opens_at=opened, closes_at=opened + timedelta(days=5))
    closes = round_.closes_at
    assert closes is not None
    hours = [72, 24, "1.5", "junk", None, 0]
    assert reminders.due_reminder(round_, hours, now=closes - timedelta(hours=80)) is None
    assert reminders.due_reminder(round_, hours, now=closes - timedelta(hours=72)) == 72
    assert reminders.due_reminder(round_, hours, now=closes - timedelta(hours=3)) == 24
    assert reminders.due_reminder(round_, hours, now=closes - timedelta(hours=1)) == 1.5
    assert reminders.due_reminder(round_, hours, now=closes) is None
    assert reminders.due_reminder(round_, [], now=closes - timedelta(hours=1)) is None
