"""The mail outbox: messages committed with the action that caused them, delivered afterwards.

Enqueuing (`enqueue` and the `enqueue_*` helpers) runs in the caller's write transaction and
only flushes: a message exists exactly when the action that caused it (a round opening, a
panelist added, a reminder falling due) commits, and a rolled-back action leaves no mail behind.
Each message carries a fresh personal link (`panel.issue_link`), rendered into its body from
templates/mail/<kind>.txt in the panelist's language.

Delivery (`deliver_due`) runs outside any request, in its own short transactions, and keeps
every try as a DeliveryAttempt, so the console can show a message's whole history.

Message states (OutboxMessage.status):
    queued   waiting for next_attempt_at
    sending  claimed by a worker that is talking to the SMTP server (next_attempt_at is then
             the end of its lease)
    sent     accepted by the SMTP server; its body no longer holds the link (see redact)
    failed   refused for good (5xx), out of retries, or interrupted mid-send (see deliver_due)
    held     no SMTP server is configured; kept, with its link, for the coordinator to pass on
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import mail
from app.db import transaction
from app.models import (
    Ballot,
    DeliveryAttempt,
    OutboxMessage,
    Panelist,
    Rating,
    Round,
    RoundStatus,
    Study,
    User,
    utcnow,
)
from app.services import audit, panel
from app.services.errors import Conflict, Invalid, NotFound
from app.settings import get_settings
from app.web.templating import environment, supported

log = logging.getLogger("delphi.outbox")

KINDS = ("invitation", "round_opened", "reminder", "closing_soon")

QUEUED, SENDING, SENT, FAILED, HELD = "queued", "sending", "sent", "failed", "held"
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

_LINK = re.compile(r"(https?://\S+/p/)([A-Za-z0-9_\-]+)")
REDACTED = "[personal link removed after delivery]"


# --- Rendering ------------------------------------------------------------------------------


def render(kind: str, *, language: str, **context: Any) -> tuple[str, str]:
    """Subject and plain-text body of templates/mail/<kind>.txt (its "subject" and "body" blocks).

    Context: name, title, link, round_number, deadline (already formatted, or None) and
    allow_abstain; `language` is the template environment's own.
    """
    if kind not in KINDS:
        raise Invalid(f"Unknown kind of message '{kind}'; use one of {', '.join(KINDS)}.")
    template = environment(supported(language)).get_template(f"mail/{kind}.txt")
    ctx = template.new_context(context)
    subject = " ".join("".join(template.blocks["subject"](ctx)).split())
    body = "".join(template.blocks["body"](ctx))
    return subject, _tidy(body)


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def redact(body: str) -> str:
    """The body without its personal link: once delivered, the token lives only in the inbox.

    Personal links are otherwise stored only as keyed hashes (DESIGN 2.6); an unsent message has
    to keep its link (a held one is passed on by hand), a sent one does not.
    """
    return _LINK.sub(lambda found: found.group(1) + REDACTED, body)


# --- Enqueuing (caller's transaction; flush only) -----------------------------------------------


def enqueue(
    session: Session,
    *,
    kind: str,
    panelist: Panelist,
    round_: Round | None = None,
    dedupe_key: str | None = None,
    now: datetime | None = None,
) -> OutboxMessage | None:
    """Queue one message to a panelist, with a fresh personal link; None when nothing is queued.

    Nothing is queued for a panelist without an e-mail address or who has withdrawn, nor when a
    message with the same `dedupe_key` exists. The key is unique in the database, so this holds
    across processes: the insert runs in a SAVEPOINT and a unique violation (another process
    enqueued it first; on PostgreSQL we wait for that process to commit) just rolls the
    savepoint back, link included. Run it in a write transaction (app.db.begin_write).
    """
    if kind not in KINDS:
        raise Invalid(f"Unknown kind of message '{kind}'; use one of {', '.join(KINDS)}.")
    if round_ is None and kind != "invitation":
        raise Invalid(f"A '{kind}' message is about a round; say which.")
    if round_ is not None and round_.study_id != panelist.study_id:
        raise Invalid(f"Round {round_.number} is not a round of the panelist's study.")
    if not panelist.email or panelist.withdrawn_at is not None:
        return None
    if dedupe_key is not None and _enqueued(session, dedupe_key):
        return None  # the cheap check; the unique constraint below is the real guarantee
    now = now or utcnow()
    study = session.get_one(Study, panelist.study_id)
    language = supported(panelist.language)
    try:
        with session.begin_nested():
            token = panel.issue_link(session, panelist=panelist)
            subject, body = render(
                kind,
                language=language,
                name=panelist.name,
                title=study.text_in(language, "title"),
                link=panel.invite_url(token),
                round_number=round_.number if round_ is not None else None,
                deadline=_deadline(round_, panelist, language),
                allow_abstain=study.allow_abstain,
            )
            message = OutboxMessage(
                study_id=study.id,
                panelist_id=panelist.id,
                round_id=round_.id if round_ is not None else None,
                kind=kind,
                to_address=panelist.email,
                language=language,
                subject=subject,
                body=body,
                dedupe_key=dedupe_key,
                status=QUEUED,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            session.add(message)
            session.flush()
    except IntegrityError:
        if dedupe_key is None or not _enqueued(session, dedupe_key):
            raise
        return None
    return message


def _enqueued(session: Session, dedupe_key: str) -> bool:
    query = select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
    return session.scalar(query) is not None


def _deadline(round_: Round | None, panelist: Panelist, language: str) -> str | None:
    if round_ is None or round_.closes_at is None:
        return None
    fmt_datetime = cast(Callable[..., str], environment(language).globals["fmt_datetime"])
    return fmt_datetime(round_.closes_at, panelist.timezone or "UTC")


def enqueue_invitations(
    session: Session, *, study: Study, panelists: Iterable[Panelist], now: datetime | None = None
) -> list[OutboxMessage]:
    """Invite panelists (each with e-mail, not withdrawn); names the open round, if one is.

    Not deduplicated: inviting again (say, after a bounce was fixed) sends a new message.
    """
    round_ = _open_round(session, study_id=study.id)
    queued = (
        enqueue(session, kind="invitation", panelist=p, round_=round_, now=now)
        for p in panelists
        if p.study_id == study.id
    )
    return [m for m in queued if m is not None]


def enqueue_round_opened(
    session: Session, *, round_: Round, now: datetime | None = None
) -> list[OutboxMessage]:
    """Tell every active panelist with e-mail that the round is open (once per round each)."""
    return [
        m
        for p in _active(session, study_id=round_.study_id)
        if (
            m := enqueue(
                session,
                kind="round_opened",
                panelist=p,
                round_=round_,
                dedupe_key=f"round_opened:{round_.id}:{p.id}",
                now=now,
            )
        )
        is not None
    ]


def enqueue_closing_soon(
    session: Session, *, round_: Round, now: datetime | None = None
) -> list[OutboxMessage]:
    """A last call to active panelists who have not submitted their ballot (once per round each).

    Non-responders get the automatic reminders as well; this one is for a coordinator to send.
    """
    if round_.status != RoundStatus.open:
        raise Conflict(f"Round {round_.number} is {round_.status.value}, not open.")
    submitted = exists().where(
        Ballot.round_id == round_.id,
        Ballot.panelist_id == Panelist.id,
        Ballot.submitted_at.is_not(None),
    )
    return [
        m
        for p in _active(session, study_id=round_.study_id, where=~submitted)
        if (
            m := enqueue(
                session,
                kind="closing_soon",
                panelist=p,
                round_=round_,
                dedupe_key=f"closing_soon:{round_.id}:{p.id}",
                now=now,
            )
        )
        is not None
    ]


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
    for p in _active(session, study_id=round_.study_id, where=~responded):
        key = f"{prefix}{p.id}:{hours:g}"
        if key in done:
            continue
        queued = enqueue(
            session, kind="reminder", panelist=p, round_=round_, dedupe_key=key, now=now
        )
        count += queued is not None
    return count


def _active(session: Session, *, study_id: int, where: Any = None) -> list[Panelist]:
    """Panelists who can be written to, in id order (one lock order for every process)."""
    query = select(Panelist).where(
        Panelist.study_id == study_id,
        Panelist.withdrawn_at.is_(None),
        Panelist.email.is_not(None),
    )
    if where is not None:
        query = query.where(where)
    return list(session.scalars(query.order_by(Panelist.id)))


def _open_round(session: Session, *, study_id: int) -> Round | None:
    return session.scalar(
        select(Round).where(Round.study_id == study_id, Round.status == RoundStatus.open)
    )


# --- Delivery (own short transactions) ----------------------------------------------------------


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


# --- The console ---------------------------------------------------------------------------------


@dataclass(slots=True)
class MessageView:
    """A message for the console, with its whole delivery history (oldest first)."""

    message: OutboxMessage
    panelist_code: str | None
    attempts: list[DeliveryAttempt] = field(default_factory=list)

    @property
    def link(self) -> str | None:
        """The personal link in the body (for held messages the coordinator passes on)."""
        found = _LINK.search(self.message.body)
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

    Its history stays; it gets MAX_ATTEMPTS fresh tries. Sent messages cannot be requeued.
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
    held = list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.study_id == study.id, OutboxMessage.status == HELD)
            .order_by(OutboxMessage.id)
            .with_for_update()
        )
    )
    for message in held:
        message.status = QUEUED
        message.attempts = 0
        message.next_attempt_at = now or utcnow()
    session.flush()
    if held:
        audit.record(
            session, actor=actor, action="outbox.requeue_held", study_id=study.id, count=len(held)
        )
    return len(held)
