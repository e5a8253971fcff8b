"""The mail outbox: messages committed with the action that caused them, delivered afterwards.

Enqueuing (`enqueue` and the `enqueue_*` helpers) runs in the caller's write transaction and
only flushes: a message exists exactly when the action that caused it (a round opening, a
panelist added, a reminder falling due) commits, and a rolled-back action leaves no mail behind.
Each message carries a fresh personal link (`panel.issue_link`), rendered into its body from
templates/mail/<kind>.txt in the panelist's language. When reminders fall due is
services.reminders; the console's view of the outbox and sending again is services.deliveries.

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
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import (
    Ballot,
    OutboxMessage,
    Panelist,
    Round,
    RoundStatus,
    Study,
    User,
    utcnow,
)
from app.services import audit, panel
from app.services.errors import Conflict, Invalid
from app.templating import environment, supported

KINDS = ("invitation", "round_opened", "reminder", "closing_soon")

QUEUED, SENDING, SENT, FAILED, HELD = "queued", "sending", "sent", "failed", "held"

LINK = re.compile(r"(https?://\S+/p/)([A-Za-z0-9_\-]+)")
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
    return LINK.sub(lambda found: found.group(1) + REDACTED, body)


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
        for p in active_panelists(session, study_id=round_.study_id)
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
        for p in active_panelists(session, study_id=round_.study_id, where=~submitted)
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


def active_panelists(session: Session, *, study_id: int, where: Any = None) -> list[Panelist]:
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
