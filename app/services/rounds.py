"""The round lifecycle: draft → open → closed, with the close computed in one transaction."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, selectinload

from app.models import (
    ResultSnapshot,
    Round,
    RoundItem,
    RoundStatus,
    Statement,
    StatementVersion,
    Study,
    User,
    utcnow,
)
from app.services import audit, locks, stability, tally
from app.services.errors import Conflict, Invalid, NotFound
from app.services.studies import ensure_writable, freeze_rules


def get_round(session: Session, *, round_id: int) -> Round:
    round_ = session.scalar(
        select(Round)
        .where(Round.id == round_id)
        .options(
            selectinload(Round.items)
            .selectinload(RoundItem.statement)
            .selectinload(Statement.versions),
            selectinload(Round.items).selectinload(RoundItem.version),
        )
        .execution_options(populate_existing=True)
    )
    if round_ is None:
        raise NotFound(f"Round {round_id} does not exist or is not one of yours.")
    return round_


def rounds_of(session: Session, *, study: Study) -> list[Round]:
    return list(
        session.scalars(select(Round).where(Round.study_id == study.id).order_by(Round.number))
    )


def item_statement_ids(session: Session, *, round_: Round) -> set[int]:
    """The statements a round asks about, by id (ticked on a draft round's form)."""
    query = select(RoundItem.statement_id).where(RoundItem.round_id == round_.id)
    return set(session.scalars(query))


def carried_forward(session: Session, *, study: Study, after: Round | None) -> list[Statement]:
    """Statements the next round holds by default: no consensus last time, or never rated."""
    statements = list(
        session.scalars(
            select(Statement)
            .where(Statement.study_id == study.id, Statement.dropped_at.is_(None))
            .order_by(Statement.position, Statement.id)
        )
    )
    if after is None:
        return statements
    rated = set(
        session.scalars(
            select(RoundItem.statement_id).join(Round).where(Round.study_id == study.id)
        )
    )
    outcome = dict(
        session.execute(
            select(ResultSnapshot.statement_id, ResultSnapshot.classification).where(
                ResultSnapshot.round_id == after.id
            )
        ).all()
    )
    settled = stable_without_consensus(session, study=study, after=after)
    return [
        s
        for s in statements
        if s.id not in rated or (outcome.get(s.id) == "no_consensus" and s.id not in settled)
    ]


def stable_without_consensus(session: Session, *, study: Study, after: Round) -> set[int]:
    """Statements the pre-registered stability rule stops: more rounds will not move them."""
    rule = stability.rule_of(study)
    if rule is None or not rule.stop_carry_forward:
        return set()
    statistics = stability.statistics_of(session, study=study, round_=after)
    return {
        int(statement_id)
        for statement_id, change in statistics["statements"].items()
        if change.get("stable") is True
    }


def _chosen(session: Session, *, study: Study, statement_ids: Sequence[int]) -> list[Statement]:
    """The study's statements a coordinator picked for a round, in study order; refuse others."""
    wanted = list(dict.fromkeys(statement_ids))
    if not wanted:
        raise Invalid("Choose at least one statement for the round.")
    found = {
        s.id: s
        for s in session.scalars(
            select(Statement).where(Statement.study_id == study.id, Statement.id.in_(wanted))
        )
    }
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise Invalid(f"Statement(s) {', '.join(missing)} are not in this study.")
    dropped = [found[i].key for i in wanted if found[i].dropped_at is not None]
    if dropped:
        raise Invalid(f"Statement(s) {', '.join(dropped)} were dropped from the study.")
    return sorted(found.values(), key=lambda s: (s.position, s.id))


def create_round(
    session: Session,
    *,
    actor: User,
    study: Study,
    statement_ids: Sequence[int] | None = None,
    asks_strength: bool | None = None,
) -> Round:
    """A draft round; with the strength vote on, every round asks it by default."""
    locks.hold_study(session, study=study)  # round numbers are per study
    ensure_writable(study)
    rounds = rounds_of(session, study=study)
    last = rounds[-1] if rounds else None
    number = _next_number(study, last)
    if statement_ids is None:
        chosen = _carried_forward_or_refuse(session, study=study, last=last)
    else:
        chosen = _chosen(session, study=study, statement_ids=statement_ids)
    if asks_strength is None:
        # Each statement's strength comes from the round that settles it, which may be any.
        asks_strength = study.strength_vote
    _check_strength(study, asks_strength)
    round_ = Round(
        study_id=study.id, number=number, status=RoundStatus.draft, asks_strength=asks_strength
    )
    round_.items = [
        RoundItem(statement_id=s.id, position=index) for index, s in enumerate(chosen, start=1)
    ]
    session.add(round_)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="round.create",
        study_id=study.id,
        round=number,
        statements=[s.key for s in chosen],
        asks_strength=asks_strength,
    )
    return round_


def _next_number(study: Study, last: Round | None) -> int:
    """The new round's number, once the last round is closed and the study allows another."""
    if last is not None and last.status != RoundStatus.closed:
        raise Conflict(
            f"Round {last.number} is still {last.status.value}; "
            + ("open or delete it" if last.status == RoundStatus.draft else "close it")
            + " before creating the next round."
        )
    number = (last.number if last else 0) + 1
    if number > study.max_rounds:
        raise Conflict(
            f"The study allows at most {study.max_rounds} rounds (its pre-registered stopping"
            " rule); no further round can be created."
        )
    return number


def _carried_forward_or_refuse(
    session: Session, *, study: Study, last: Round | None
) -> list[Statement]:
    """What the next round puts to the panel by default; nothing left is a conflict."""
    chosen = carried_forward(session, study=study, after=last)
    if not chosen:
        stable = (
            ", was dropped, or is stable without consensus (the pre-registered stability rule)"
            if study.stability_rule
            else " or was dropped"
        )
        raise Conflict(
            f"Nothing is left to rate: every statement reached consensus{stable}."
            if last
            else "Add statements before creating round 1."
        )
    return chosen


def _check_strength(study: Study, asks_strength: bool) -> None:
    if asks_strength and not study.strength_vote:
        raise Invalid(
            "This study does not hold a strength vote; turn it on in the study's rules (before "
            "round 1 opens) to ask panelists for each recommendation's strength."
        )


def ask_strength(
    session: Session, *, actor: User, study: Study, round_: Round, asks_strength: bool
) -> Round:
    """Ask for strength in a draft round, or not: votes count in the round settling a statement."""
    locks.hold_study(session, study=study)
    ensure_writable(study)
    if round_.status != RoundStatus.draft:
        raise Conflict(
            f"Round {round_.number} is {round_.status.value}; only a draft round's questions can "
            "change."
        )
    _check_strength(study, asks_strength)
    round_.asks_strength = asks_strength
    audit.record(
        session,
        actor=actor,
        action="round.ask_strength",
        study_id=study.id,
        round=round_.number,
        asks_strength=asks_strength,
    )
    session.flush()
    return round_


def delete_draft(session: Session, *, actor: User, study: Study, round_: Round) -> None:
    """A draft can be thrown away (to choose other statements); opened rounds are history."""
    locks.hold_study(session, study=study)
    ensure_writable(study)
    session.refresh(round_, ["status"])
    if round_.status != RoundStatus.draft:
        raise Conflict(f"Round {round_.number} has been opened; only a draft can be deleted.")
    number = round_.number
    session.delete(round_)
    session.flush()
    audit.record(session, actor=actor, action="round.delete", study_id=study.id, round=number)


def open_round(
    session: Session,
    *,
    actor: User,
    study: Study,
    round_: Round,
    closes_at: datetime | None = None,
    now: datetime | None = None,
) -> Round:
    locks.hold_study(session, study=study)  # opening freezes the rules: no PATCH slips past
    session.refresh(round_, ["status"])  # a concurrent opener may have won while we waited
    ensure_writable(study)
    now = now or utcnow()
    if round_.status != RoundStatus.draft:
        raise Conflict(f"Round {round_.number} is already {round_.status.value}.")
    round_.asks_strength = round_.asks_strength and study.strength_vote  # the vote may be off now
    if closes_at is not None:
        if closes_at.tzinfo is None:
            raise Invalid("Give the deadline with its time-zone offset, e.g. +00:00.")
        if closes_at <= now:
            raise Invalid("The deadline must be in the future.")
    other = session.scalar(
        select(Round.number).where(Round.study_id == study.id, Round.status == RoundStatus.open)
    )
    if other is not None:
        raise Conflict(f"Round {other} is open; close it before opening another.")
    if not tally.invited_count(session, study_id=study.id, at=now):
        raise Conflict("Add panelists before opening a round.")
    items = list(session.scalars(select(RoundItem).where(RoundItem.round_id == round_.id)))
    current = dict(
        session.execute(
            select(StatementVersion.statement_id, StatementVersion.id)
            .where(StatementVersion.statement_id.in_([i.statement_id for i in items]))
            .order_by(StatementVersion.version)
        ).all()
    )  # later versions overwrite earlier ones: the newest wording of each statement
    for item in items:
        item.version_id = current[item.statement_id]  # the wording panelists rate, frozen
    round_.status = RoundStatus.open
    round_.opens_at = now
    round_.closes_at = closes_at
    round_.opened_by_id = actor.id
    freeze_rules(study)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="round.open",
        study_id=study.id,
        round=round_.number,
        closes_at=closes_at.isoformat() if closes_at else None,
    )
    return round_


def close_round(
    session: Session, *, round_id: int, actor: User | None, now: datetime | None = None
) -> Round:
    """Close and snapshot in one transaction; a conditional update lets exactly one closer win.

    The exclusive ratings lock (app.services.locks) waits for ratings being written and holds
    back new ones until we commit, so every rating is either counted or refused with 409.
    """
    now = now or utcnow()
    study_id = session.scalar(select(Round.study_id).where(Round.id == round_id))
    if study_id is None:
        raise NotFound(f"Round {round_id} does not exist or is not one of yours.")
    locks.hold_ratings(session, study_id=study_id, exclusive=True)
    round_ = _claim_close(session, round_id=round_id, actor=actor, now=now)
    study = session.get_one(Study, round_.study_id)
    # Closed by the tick after its deadline: the panel is the one invited at the deadline.
    at = tally.counted_at(round_, now)  # closed_at is now: a late tick counts at the deadline
    results = tally.compute(session, study=study, round_=round_, at=at)
    round_.rule_snapshot = results.rule
    round_.invited = results.invited
    round_.responded = results.responded
    # Stability, Kendall's W and attrition are frozen just after (stability.freeze): they need
    # per-panelist ranks, which would hold the ratings' lock far longer than the snapshots do.
    session.execute(
        insert(ResultSnapshot),
        [
            {
                "round_id": round_.id,
                "statement_id": row.statement_id,
                "version_id": row.version_id,
                "classification": row.outcome.classification,
                "figures": row.figures(),
                "created_at": now,
            }
            for row in results.statements
        ],
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="round.close",
        study_id=study.id,
        round=round_.number,
        reason="manual" if actor else "deadline",
        responded=results.responded,
        invited=results.invited,
    )
    return round_


def _claim_close(session: Session, *, round_id: int, actor: User | None, now: datetime) -> Round:
    """Mark the round closed if it is still open: of two closers, the conditional update lets
    exactly one through; the other learns why it lost."""
    won = session.execute(  # type: ignore[attr-defined]
        update(Round)
        .where(Round.id == round_id, Round.status == RoundStatus.open)
        .values(
            status=RoundStatus.closed,
            closed_at=now,
            closed_by_id=actor.id if actor else None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    round_ = session.get(Round, round_id, populate_existing=True)
    if round_ is None:
        raise NotFound(f"Round {round_id} does not exist or is not one of yours.")
    if not won:
        if round_.status == RoundStatus.draft:
            raise Conflict(f"Round {round_.number} has not opened yet, so it cannot be closed.")
        raise Conflict(f"Round {round_.number} is already closed.")
    return round_


def close_due_rounds(session: Session, *, now: datetime | None = None) -> list[int]:
    """Close every open round whose deadline passed (the tick); returns the ids it closed."""
    now = now or utcnow()
    due = list(
        session.scalars(
            select(Round.id)
            .where(
                Round.status == RoundStatus.open,
                Round.closes_at.is_not(None),
                Round.closes_at <= now,
            )
            .order_by(Round.study_id)  # one order: two tickers' study locks never deadlock
        )
    )
    closed = []
    for round_id in due:
        try:
            with session.begin_nested():
                close_round(session, round_id=round_id, actor=None, now=now)
            closed.append(round_id)
        except Conflict:
            continue  # another process closed it first
    return closed


def set_items(
    session: Session, *, actor: User, study: Study, round_: Round, statement_ids: Sequence[int]
) -> Round:
    """Drop or add statements on a draft round."""
    locks.hold_study(session, study=study)
    ensure_writable(study)
    session.refresh(round_, ["status"])
    if round_.status != RoundStatus.draft:
        raise Conflict(f"Round {round_.number} has been opened; its statements are frozen.")
    chosen = _chosen(session, study=study, statement_ids=statement_ids)
    session.execute(delete(RoundItem).where(RoundItem.round_id == round_.id))
    session.add_all(
        RoundItem(round_id=round_.id, statement_id=s.id, position=i)
        for i, s in enumerate(chosen, start=1)
    )
    session.flush()
    session.expire(round_, ["items"])
    audit.record(
        session,
        actor=actor,
        action="round.set_items",
        study_id=study.id,
        round=round_.number,
        statements=[s.key for s in chosen],
    )
    return round_


def extend_deadline(
    session: Session,
    *,
    actor: User,
    study: Study,
    round_: Round,
    closes_at: datetime,
    now: datetime | None = None,
) -> Round:
    now = now or utcnow()
    locks.hold_study(session, study=study)
    session.refresh(round_, ["status", "closes_at"])
    if round_.status != RoundStatus.open:
        raise Conflict(
            f"Round {round_.number} is {round_.status.value}; only an open round's "
            "deadline can change."
        )
    if closes_at.tzinfo is None:
        raise Invalid("Give the deadline with its time-zone offset, e.g. +00:00.")
    if closes_at <= now:
        raise Invalid("The new deadline must be in the future.")
    before = round_.closes_at
    round_.closes_at = closes_at
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="round.extend",
        study_id=study.id,
        round=round_.number,
        before=before.isoformat() if before else None,
        after=closes_at.isoformat(),
    )
    return round_


def carry_forward_reasons(
    session: Session, *, study: Study, after: Round | None
) -> list[tuple[Statement, str]]:
    """What the next round would hold by default, each with the reason, for the console."""
    chosen = carried_forward(session, study=study, after=after)
    if after is None:
        return [(s, "round 1 rates every statement") for s in chosen]
    rated = set(
        session.scalars(select(RoundItem.statement_id).where(RoundItem.round_id == after.id))
    )
    return [
        (s, f"no consensus in round {after.number}" if s.id in rated else "new, not yet rated")
        for s in chosen
    ]


def held_back(session: Session, *, study: Study, after: Round) -> list[Statement]:
    """No consensus yet not carried forward, because stable: the console says so."""
    settled = stable_without_consensus(session, study=study, after=after)
    if not settled:
        return []
    return list(
        session.scalars(
            select(Statement)
            .join(ResultSnapshot, ResultSnapshot.statement_id == Statement.id)
            .where(
                ResultSnapshot.round_id == after.id,
                ResultSnapshot.classification == "no_consensus",
                Statement.id.in_(settled),
                Statement.dropped_at.is_(None),
            )
            .order_by(Statement.position)
        )
    )
