"""The mail delivery worker: sends what the outbox queued, in transactions it opens itself.

It lives here, beside app.scheduler (which runs it every tick) and the `delphi` command, and not
in app/services, because it commits: each claim and each recorded reply is its own short
transaction (app.db.transaction), so that no database lock is held while an SMTP server is
talking. Services only flush inside the caller's transaction; enqueuing a message is
app.services.outbox, which also names the message states used here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app import mail
from app.db import transaction
from app.models import DeliveryAttempt, OutboxMessage, utcnow
from app.services.outbox import FAILED, HELD, QUEUED, SENDING, SENT, redact
from app.settings import get_settings

log = logging.getLogger("delphi.outbox")  # its name from before the split, so log filters hold

# DeliveryAttempt.outcome values.
OUTCOME_SENT, OUTCOME_RETRY, OUTCOME_FAILED, OUTCOME_HELD = "sent", "retry", "failed", "held"

MAX_ATTEMPTS = 5
# Wait after the 1st, 2nd, 3rd and 4th temporary failure; the 5th gives up.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
# How long a worker may hold a claimed message; far beyond mail.TIMEOUT for each SMTP command.
LEASE = timedelta(minutes=15)

NO_SMTP = (
    "held: no SMTP server configured (set DELPHI_SMTP_HOST to send); the message is kept here "
    "with its personal link"
)
INTERRUPTED = (
    "interrupted: the worker stopped while handing this message to the SMTP server, so it may "
    "or may not have arrived; it is not retried automatically so that it is never sent twice"
)


@dataclass(slots=True)
class DeliveryReport:
    """What one deliver_due call did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0
    interrupted: int = 0  # found stuck in "sending" past their lease, marked failed

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.held


@dataclass(frozen=True, slots=True)
class _Outcome:
    outcome: str
    detail: str
    status: str
    retry_in: timedelta | None = None


def deliver_due(*, now: datetime | None = None, limit: int = 100) -> DeliveryReport:
    """Send up to `limit` due messages (queued, next_attempt_at <= now), one at a time.

    Needs no session: it opens its own short transactions (app.db.transaction), so call it after
    the caller's transaction has committed, never inside one. For each message:

    1. Claim (one transaction): pick the oldest due message — on PostgreSQL with
       SELECT … FOR UPDATE SKIP LOCKED, so concurrent workers take different messages without
       waiting; on SQLite the write lock (BEGIN IMMEDIATE) serialises claims — and mark it
       "sending" with a lease. Other workers only pick "queued" messages, so no two workers
       ever send the same one.
    2. Send over SMTP with no transaction open, so a slow server never holds a database lock
       (on SQLite that would block every rating being saved).
    3. Record (one transaction, right after the server's reply): a DeliveryAttempt, and the new
       state — sent; queued again with backoff after a temporary failure (up to MAX_ATTEMPTS
       tries); failed after a permanent one.

    Never twice: a message leaves "sending" only through step 3. The window is the moment
    between the SMTP server accepting the message and step 3 committing: if the process dies
    or the database is unreachable right then, the message stays "sending", and once its lease
    has passed a later run marks it failed ("interrupted", see INTERRUPTED) instead of sending
    it again. At most once, then; the coordinator sees the interruption in the history and can
    requeue it. (The same interruption before the server accepted it is indistinguishable, and
    is treated the same way.)

    Without settings.smtp_host nothing is sent: due messages become "held", each with one
    "held" attempt, and stay visible with their links in the console.
    """
    report = DeliveryReport()
    report.interrupted = _recover_interrupted(now or utcnow())
    while report.handled < limit:
        at = now or utcnow()
        if not get_settings().smtp_host:
            held = _hold_due(at, limit=limit - report.handled)
            if held:
                log.info("held %d message(s): no SMTP server configured", held)
            report.held += held
            break
        message = _claim(at)
        if message is None:
            break
        result = _send(message)
        _record(message, result, at=now or utcnow())
        if result.outcome == OUTCOME_SENT:
            report.sent += 1
        elif result.outcome == OUTCOME_RETRY:
            report.retried += 1
        elif result.outcome == OUTCOME_HELD:
            report.held += 1
        else:
            report.failed += 1
    return report


def _due(at: datetime, *, limit: int) -> Any:
    """The oldest due messages, locked; on PostgreSQL rows another worker holds are skipped."""
    return (
        select(OutboxMessage)
        .where(OutboxMessage.status == QUEUED, OutboxMessage.next_attempt_at <= at)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def _claim(at: datetime) -> OutboxMessage | None:
    with transaction() as session:
        message: OutboxMessage | None = session.scalar(_due(at, limit=1))
        if message is None:
            return None
        message.status = SENDING
        message.attempts += 1
        message.next_attempt_at = at + LEASE
        session.flush()
    return message  # detached, with its fields loaded (expire_on_commit=False)


def _send(message: OutboxMessage) -> _Outcome:
    try:
        reply = mail.send(message)
    except mail.NotConfigured:  # the settings changed since the claim
        return _Outcome(OUTCOME_HELD, NO_SMTP, HELD)
    except mail.TemporaryFailure as error:
        if message.attempts >= MAX_ATTEMPTS:
            detail = f"{error} (gave up after {message.attempts} attempts)"
            return _Outcome(OUTCOME_FAILED, detail, FAILED)
        return _Outcome(OUTCOME_RETRY, str(error), QUEUED, BACKOFF[message.attempts - 1])
    except mail.MailError as error:
        return _Outcome(OUTCOME_FAILED, str(error), FAILED)
    except Exception as error:  # a bug, not the server: do not retry blindly, keep the trace
        log.exception("sending outbox message %s failed", message.id)
        return _Outcome(OUTCOME_FAILED, f"{type(error).__name__}: {error}", FAILED)
    return _Outcome(OUTCOME_SENT, reply, SENT)


def _record(message: OutboxMessage, result: _Outcome, *, at: datetime) -> None:
    with transaction() as session:
        row = session.get(OutboxMessage, message.id, with_for_update=True)
        if row is None:
            return  # deleted with its study meanwhile
        session.add(
            DeliveryAttempt(message_id=row.id, at=at, outcome=result.outcome, detail=result.detail)
        )
        row.status = result.status
        if result.status == SENT:
            row.sent_at = at
            row.body = redact(row.body)
        if result.retry_in is not None:
            row.next_attempt_at = at + result.retry_in


def _hold_due(at: datetime, *, limit: int) -> int:
    with transaction() as session:
        messages: list[OutboxMessage] = list(session.scalars(_due(at, limit=limit)))
        for message in messages:
            message.status = HELD
            session.add(
                DeliveryAttempt(message_id=message.id, at=at, outcome=OUTCOME_HELD, detail=NO_SMTP)
            )
    return len(messages)


def _recover_interrupted(at: datetime) -> int:
    with transaction() as session:
        stuck = list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status == SENDING, OutboxMessage.next_attempt_at <= at)
                .with_for_update(skip_locked=True)
            )
        )
        for message in stuck:
            message.status = FAILED
            session.add(
                DeliveryAttempt(
                    message_id=message.id, at=at, outcome=OUTCOME_FAILED, detail=INTERRUPTED
                )
            )
    if stuck:
        log.warning("%d outbox message(s) were interrupted mid-send; marked failed", len(stuck))
    return len(stuck)
