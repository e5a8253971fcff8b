"""The mail outbox: messages committed with the action that caused them, delivered afterwards.

Enqueuing (`enqueue` and the `enqueue_*` helpers) runs in the caller's write transaction and
only flushes: a message exists exactly when the action that caused it (a round opening, a
panelist added, a reminder falling due) commits, and a rolled-back action leaves no mail behind.
Each message carries a fresh personal link (`panel.issue_link`), rendered into its body from
templates/mail/<kind>.txt in the panelist's language. The console reads the outbox here too
(`messages_for`, `history`) and puts held or failed messages back in the queue (`requeue`).

Delivery is app.delivery: it runs outside any request, in transactions of its own, and keeps
every try as a DeliveryAttempt, so the console can show a message's whole history.

Message states (OutboxMessage.status):
    queued   waiting for next_attempt_at
    sending  claimed by a worker that is talking to the SMTP server (next_attempt_at is then
             the end of its lease)
    sent     accepted by the SMTP server; its body no longer holds the link (see redact)
    failed   refused for good (5xx), out of retries, or interrupted mid-send (see
             app.delivery.deliver_due)
    held     no SMTP server is configured; kept, with its link, for the coordinator to pass on
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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
from app.templating import environment, supported

KINDS = ("invitation", "round_opened", "reminder", "closing_soon")

QUEUED, SENDING, SENT, FAILED, HELD = "queued", "sending", "sent", "failed", "held"

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
    try:
        with session.begin_nested():
            message = _compose(
                session,
                kind=kind,
                study=study,
                panelist=panelist,
                round_=round_,
                dedupe_key=dedupe_key,
                now=now,
            )
            session.add(message)
            session.flush()
    except IntegrityError:
        if dedupe_key is None or not _enqueued(session, dedupe_key):
            raise
        return None
    return message


def _compose(
    session: Session,
    *,
    kind: str,
    study: Study,
    panelist: Panelist,
    round_: Round | None,
    dedupe_key: str | None,
    now: datetime,
) -> OutboxMessage:
    """The queued message, its body holding a fresh personal link; run in enqueue's savepoint."""
    language = supported(panelist.language)
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
    return OutboxMessage(
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


def invite_uninvited(session: Session, *, actor: User, study: Study) -> list[OutboxMessage]:
    """Invite every panelist who has not had an invitation yet (the console's button), audited."""
    invited = select(OutboxMessage.panelist_id).where(
        OutboxMessage.study_id == study.id, OutboxMessage.kind == "invitation"
    )
    waiting = session.scalars(
        select(Panelist)
        .where(Panelist.study_id == study.id, Panelist.id.not_in(invited))
        .order_by(Panelist.id)
    )
    queued = enqueue_invitations(session, study=study, panelists=list(waiting))
    audit.record(session, actor=actor, action="mail.invite", study_id=study.id, queued=len(queued))
    return queued


def closing_soon_now(session: Session, *, actor: User, study: Study) -> list[OutboxMessage] | None:
    """The coordinator's last call for the open round, audited; None when no round is open."""
    current = _open_round(session, study_id=study.id)
    if current is None:
        return None
    queued = enqueue_closing_soon(session, round_=current)
    audit.record(
        session,
        actor=actor,
        action="mail.closing_soon",
        study_id=study.id,
        round=current.number,
        queued=len(queued),
    )
    return queued


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
