"""The outbox as the coordinator sees it: each message with its delivery history, and sending
held or failed messages again."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import DeliveryAttempt, OutboxMessage, Panelist, Study, User, utcnow
from app.services import audit
from app.services.errors import Conflict, Invalid, NotFound
from app.services.outbox import FAILED, HELD, KINDS, LINK, QUEUED


@dataclass(slots=True)
class MessageView:
    """A message for the console, with its whole delivery history (oldest first)."""

    message: OutboxMessage
    panelist_code: str | None
    attempts: list[DeliveryAttempt] = field(default_factory=list)

    @property
    def link(self) -> str | None:
        """The personal link in the body (for held messages the coordinator passes on)."""
        found = LINK.search(self.message.body)
        return found.group(0) if found else None  # None once sent: see redact()


def messages_for(session: Session, *, study: Study, limit: int = 200) -> list[MessageView]:
    """The study's newest messages with their histories, in two queries whatever the count."""
    rows = session.execute(
        select(OutboxMessage, Panelist.code)
        .outerjoin(Panelist, Panelist.id == OutboxMessage.panelist_id)
        .where(OutboxMessage.study_id == study.id)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    ).all()
    views = {message.id: MessageView(message, code) for message, code in rows}
    if views:
        for attempt in session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id.in_(views))
            .order_by(DeliveryAttempt.at, DeliveryAttempt.id)
        ):
            views[attempt.message_id].attempts.append(attempt)
    return list(views.values())


def failed_counts(session: Session, *, study: Study) -> dict[str, int]:
    """How many of the study's messages failed, by kind, in the outbox's order of kinds."""
    rows = session.execute(
        select(OutboxMessage.kind, func.count())
        .where(OutboxMessage.study_id == study.id, OutboxMessage.status == FAILED)
        .group_by(OutboxMessage.kind)
    )
    counts = {kind: count for kind, count in rows}
    return {kind: counts[kind] for kind in KINDS if kind in counts}


def get_message(session: Session, *, message_id: int, study: Study | None = None) -> OutboxMessage:
    message = session.get(OutboxMessage, message_id)
    if message is None or (study is not None and message.study_id != study.id):
        raise NotFound(f"Message {message_id} does not exist or is not one of yours.")
    return message


def history(
    session: Session, *, message_id: int, study: Study | None = None
) -> list[DeliveryAttempt]:
    """Every try at delivering the message, oldest first (pass `study` to scope the lookup)."""
    get_message(session, message_id=message_id, study=study)
    return list(
        session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id == message_id)
            .order_by(DeliveryAttempt.at, DeliveryAttempt.id)
        )
    )


def requeue(
    session: Session,
    *,
    actor: User | None,
    message_id: int,
    study: Study | None = None,
    now: datetime | None = None,
) -> OutboxMessage:
    """Put a held or failed message back in the queue (SMTP now configured, address fixed …).

    Its history stays; it gets app.delivery.MAX_ATTEMPTS fresh tries. Sent messages cannot be
    requeued.
    """
    message = get_message(session, message_id=message_id, study=study)
    session.refresh(message, with_for_update=True)
    if message.status not in (HELD, FAILED):
        raise Conflict(f"Message {message_id} is {message.status}; only held or failed ones.")
    message.status = QUEUED
    message.attempts = 0
    message.next_attempt_at = now or utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="outbox.requeue",
        study_id=message.study_id,
        message=message.id,
        kind=message.kind,
    )
    return message


def requeue_held(
    session: Session, *, actor: User | None, study: Study, now: datetime | None = None
) -> int:
    """Queue every held message of the study again (say, once SMTP has been configured)."""
    held = _requeue_where(session, study=study, status=HELD, now=now)
    if held:
        audit.record(
            session, actor=actor, action="outbox.requeue_held", study_id=study.id, count=held
        )
    return held


def requeue_failed(
    session: Session,
    *,
    actor: User | None,
    study: Study,
    kind: str,
    now: datetime | None = None,
) -> int:
    """Queue every failed message of one kind again (say, once a mistyped server is fixed).

    Their delivery histories stay: each new try is added after the failed ones.
    """
    if kind not in KINDS:
        raise Invalid(f"Unknown kind of message '{kind}'; use one of {', '.join(KINDS)}.")
    failed = _requeue_where(session, study=study, status=FAILED, now=now, kind=kind)
    if failed:
        audit.record(
            session,
            actor=actor,
            action="outbox.requeue_failed",
            study_id=study.id,
            kind=kind,
            count=failed,
        )
    return failed


def _requeue_where(
    session: Session, *, study: Study, status: str, now: datetime | None, kind: str | None = None
) -> int:
    """Put the study's messages in `status` (of `kind`, if given) back in the queue; how many."""
    query = select(OutboxMessage).where(
        OutboxMessage.study_id == study.id, OutboxMessage.status == status
    )
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    messages = list(session.scalars(query.order_by(OutboxMessage.id).with_for_update()))
    for message in messages:
        message.status = QUEUED
        message.attempts = 0
        message.next_attempt_at = now or utcnow()
    session.flush()
    return len(messages)
