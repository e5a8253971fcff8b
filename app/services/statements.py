"""Statements and their versions: a revision keeps the lineage and the reason for it."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from app.models import (
    EvidenceLink,
    LevelOverride,
    Round,
    RoundItem,
    RoundStatus,
    Statement,
    StatementVersion,
    Study,
    User,
)
from app.services import audit, locks
from app.services.errors import Conflict, Invalid, NotFound
from app.services.studies import ensure_writable, owner_of
from app.services.text import checked

MAX_TEXT = 5_000
MAX_KEY = 40  # the widths of the columns in app.models
MAX_TOPIC = 200


@dataclass(frozen=True, slots=True)
class NewStatement:
    text: str
    topic: str | None = None
    key: str | None = None
    translations: dict[str, str] = field(default_factory=dict)


def _clean_text(text: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise Invalid(f"{what} is empty; write the statement's wording.")
    if len(text) > MAX_TEXT:
        raise Invalid(f"{what} has {len(text)} characters; the limit is {MAX_TEXT}.")
    return checked(text, what=what, limit=MAX_TEXT)


def _clean_translations(translations: dict[str, str], what: str) -> dict[str, str]:
    return {
        language: checked(wording.strip(), what=f"{what} ({language})", limit=MAX_TEXT)
        for language, wording in translations.items()
        if wording.strip()
    }


def add_statements(
    session: Session, *, actor: User, study: Study, items: Sequence[NewStatement]
) -> list[Statement]:
    locks.hold_study(session, study=study)  # keys and positions are numbered per study
    ensure_writable(study)
    if not items:
        raise Invalid("Send at least one statement.")
    existing = set(session.scalars(select(Statement.key).where(Statement.study_id == study.id)))
    position = session.scalar(
        select(func.coalesce(func.max(Statement.position), 0)).where(Statement.study_id == study.id)
    )
    assert position is not None
    created: list[Statement] = []
    for index, item in enumerate(items, start=1):
        text = _clean_text(item.text, f"Statement {index}")
        key = (item.key or "").strip() or _next_key(existing)
        checked(key, what=f"Statement {index}'s key", limit=MAX_KEY)
        if item.topic:
            checked(item.topic, what=f"Statement {index}'s topic", limit=MAX_TOPIC)
        translations = _clean_translations(item.translations, f"Statement {index}")
        if key in existing:
            raise Conflict(f"The study already has a statement with key '{key}'.")
        existing.add(key)
        position += 1
        statement = Statement(study_id=study.id, key=key, topic=item.topic, position=position)
        version = StatementVersion(
            version=1,
            text=text,
            translations=translations,
            created_by_id=actor.id,
        )
        statement.versions = [version]
        session.add(statement)
        created.append(statement)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="statements.add",
        study_id=study.id,
        keys=[s.key for s in created],
    )
    return created


def _next_key(existing: set[str]) -> str:
    number = len(existing) + 1
    while f"S{number:02d}" in existing:
        number += 1
    return f"S{number:02d}"


def statements_of(session: Session, *, study: Study) -> list[Statement]:
    """The study's statements in their order, each with every version it has had."""
    query = (
        select(Statement)
        .where(Statement.study_id == study.id)
        .order_by(Statement.position)
        .options(selectinload(Statement.versions))
    )
    return list(session.scalars(query))


def statement_for(
    session: Session, *, user: User, statement_id: int, write: bool = False
) -> tuple[Statement, Study]:
    """The statement and its study, if that is one of the user's; else one 404 for both cases."""
    statement = session.get(Statement, statement_id)
    label = f"Statement {statement_id}"
    study = owner_of(session, user=user, record=statement, label=label, write=write)
    assert statement is not None  # owner_of refused a missing one
    return statement, study


def get_statement(session: Session, *, statement_id: int) -> Statement:
    statement = session.scalar(
        select(Statement)
        .where(Statement.id == statement_id)
        .options(selectinload(Statement.versions))
    )
    if statement is None:
        raise NotFound(f"Statement {statement_id} does not exist or is not one of yours.")
    return statement


def revise_statement(
    session: Session,
    *,
    actor: User,
    study: Study,
    statement: Statement,
    text: str,
    rationale: str,
    translations: dict[str, str] | None = None,
) -> StatementVersion:
    """Add a new wording; rounds already opened keep the version they froze."""
    locks.hold_study(session, study=study)
    ensure_writable(study)
    text = _clean_text(text, "The revised text")
    rationale = checked(rationale.strip(), what="The rationale", limit=MAX_TEXT)
    if not rationale:
        raise Invalid("Say why the statement is revised (the rationale is reported).")
    for language, wording in (translations or {}).items():
        checked(wording, what=f"The revised text ({language})", limit=MAX_TEXT)
    current = statement.current
    if text == current.text and (translations is None or translations == current.translations):
        raise Invalid("The new wording is the same as the current one; change it or cancel.")
    version = StatementVersion(
        statement_id=statement.id,
        version=current.version + 1,
        text=text,
        # Unless new ones are given, translations carry over: no panelist loses their language.
        translations=translations if translations is not None else dict(current.translations),
        rationale=rationale,
        parent_id=current.id,
        created_by_id=actor.id,
    )
    session.add(version)
    session.flush()
    session.expire(statement, ["versions"])
    audit.record(
        session,
        actor=actor,
        action="statement.revise",
        study_id=study.id,
        statement_id=statement.id,
        key=statement.key,
        version=version.version,
        rationale=rationale,
    )
    return version


@dataclass(frozen=True, slots=True)
class Deleted:
    """What went with a deleted statement: the draft rounds it was on, its evidence links."""

    key: str
    draft_rounds: list[int]
    emptied_drafts: list[int]  # drafts left with no statement, deleted with it
    sources: list[int]


def delete_statement(
    session: Session, *, actor: User, study: Study, statement: Statement
) -> Deleted:
    """Delete a statement while no round has opened; a draft round holding it lets it go."""
    locks.hold_study(session, study=study)  # no round opens while it goes
    ensure_writable(study)
    statement_id, key, text = statement.id, statement.key, statement.current.text
    _refuse_once_a_round_opened(session, study=study, key=key)
    drafts = dict(
        session.execute(
            select(Round.id, Round.number)
            .join(RoundItem, RoundItem.round_id == Round.id)
            .where(RoundItem.statement_id == statement.id)
        ).all()
    )
    sources = sorted(
        session.scalars(
            select(EvidenceLink.source_id).where(EvidenceLink.statement_id == statement.id)
        )
    )
    session.execute(delete(RoundItem).where(RoundItem.statement_id == statement_id))
    emptied = [
        round_id
        for round_id in drafts
        if session.scalar(select(func.count()).where(RoundItem.round_id == round_id)) == 0
    ]
    if emptied:
        session.execute(delete(Round).where(Round.id.in_(emptied)))
    session.execute(delete(EvidenceLink).where(EvidenceLink.statement_id == statement_id))
    session.execute(delete(LevelOverride).where(LevelOverride.statement_id == statement_id))
    session.execute(delete(StatementVersion).where(StatementVersion.statement_id == statement_id))
    session.execute(delete(Statement).where(Statement.id == statement_id))
    session.expunge(statement)
    deleted = Deleted(
        key=key,
        draft_rounds=sorted(drafts.values()),
        emptied_drafts=sorted(drafts[i] for i in emptied),
        sources=sources,
    )
    audit.record(
        session,
        actor=actor,
        action="statement.delete",
        study_id=study.id,
        statement_id=statement_id,
        key=key,
        text=text,
        removed_from_draft_rounds=deleted.draft_rounds,
        deleted_empty_drafts=deleted.emptied_drafts,
        unlinked_sources=sources,
    )
    session.flush()
    return deleted


def _refuse_once_a_round_opened(session: Session, *, study: Study, key: str | None) -> None:
    """A statement a panel has seen belongs to the study's record: 409 once any round opened."""
    opened = session.scalar(
        select(func.min(Round.number)).where(
            Round.study_id == study.id, Round.status != RoundStatus.draft
        )
    )
    if opened is not None:
        raise Conflict(
            f"Round {opened} has been opened, so {key} is part of the study's record "
            "and cannot be deleted; leave it out of the next round instead."
        )
