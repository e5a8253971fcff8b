"""What a study's exports hold: pseudonymised, read in one snapshot, ratings fetched in batches.

An export's body streams after the request's session has closed, so each export reads in a
transaction of its own (`reading`). Ratings come from the database in batches (`rating_rows`),
so memory stays flat however many a study holds; everything else (`gather`) is small: it grows
with statements, rounds and actions, never with ratings. Panelists appear by code (P01 …) only:
names and e-mail addresses are not even selected, except by the separate `identities`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, exists, func, or_, select, type_coerce
from sqlalchemy.orm import Session, selectinload

from app.consensus import grading
from app.consensus.levels import Level
from app.consensus.results import RoundResults
from app.db import new_session
from app.models import (
    AuditEntry,
    EvidenceSource,
    Panelist,
    Rating,
    Role,
    Round,
    RoundItem,
    RoundStatus,
    Statement,
    StatementVersion,
    Study,
    User,
    utcnow,
)
from app.services import audit, evidence, finalization, results, rules, stability, studies, tally
from app.services.errors import Forbidden

SCHEMA_VERSION = "1.0"
BATCH = 5_000  # rows per fetch from the database
NO_GROUP = "(no group)"
# OWASP "CSV injection": a cell that starts with one of these is run as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

RATING_COLUMNS = (
    "round",
    "round_status",
    "statement_key",
    "statement_id",
    "version",
    "panelist",
    "group",
    "value",
    "abstained",
    "strength",
    "comment",
    "created_at",
    "updated_at",
)
IDENTITY_COLUMNS = ("code", "name", "email", "group", "language", "joined_at", "withdrawn_at")


def inert(text: str) -> str:
    """The text as a spreadsheet shows it, never runs it: a leading formula character is quoted."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def filename(study: Study, what: str, extension: str, *, on: datetime) -> str:
    """A download's name: the study, what it holds and the day, in safe ASCII."""
    slug = re.sub(r"[^a-z0-9]+", "-", study.title.lower()).strip("-")[:50].strip("-")
    parts = ["delphi-study", str(study.id), slug, what, on.strftime("%Y-%m-%d")]
    return "-".join(p for p in parts if p) + "." + extension


@contextmanager
def reading() -> Iterator[Session]:
    """A read-only transaction of the export's own, so every sheet shows the same moment."""
    session = new_session()
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(
                execution_options={
                    "isolation_level": "REPEATABLE READ",
                    "postgresql_readonly": True,
                }
            )
        yield session  # SQLite (WAL): a read transaction keeps its snapshot until it ends
    finally:
        session.rollback()
        session.close()


@dataclass(frozen=True, slots=True)
class Member:
    """A panelist as exports show them: code and group, never name or e-mail."""

    id: int
    code: str
    group: str | None
    language: str
    joined_at: datetime
    withdrawn_at: datetime | None


def members(session: Session, *, study_id: int) -> list[Member]:
    rows = session.execute(
        select(
            Panelist.id,
            Panelist.code,
            Panelist.group,
            Panelist.language,
            Panelist.created_at,
            Panelist.withdrawn_at,
        )
        .where(Panelist.study_id == study_id)
        .order_by(Panelist.id)
    )
    return [Member(*row) for row in rows]


def identities(session: Session, *, study_id: int) -> Iterator[tuple[Any, ...]]:
    """Who each code stands for (IDENTITY_COLUMNS): only for the coordinators' panel export."""
    query = (
        select(
            Panelist.code,
            Panelist.name,
            Panelist.email,
            Panelist.group,
            Panelist.language,
            Panelist.created_at,
            Panelist.withdrawn_at,
        )
        .where(Panelist.study_id == study_id)
        .order_by(Panelist.id)
        .execution_options(yield_per=BATCH)
    )
    yield from (tuple(row) for row in session.execute(query))


def as_is(value: str) -> str:
    return value


def iso_utc(column: Any, dialect: str) -> Any:
    """A time as ISO 8601 text with offset, written by the database: no Python per row."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
    # SQLite holds UTC as 'YYYY-MM-DD HH:MM:SS.ffffff' (app.models.UTCDateTime).
    return func.replace(type_coerce(column, String), " ", "T", type_=String).concat("+00:00")


def rating_batches(
    session: Session,
    *,
    study_id: int,
    text: Callable[[str], str] = as_is,
    flags: tuple[Any, Any] = (False, True),
) -> Iterator[list[tuple[Any, ...]]]:
    """Every saved rating (RATING_COLUMNS), round by round, a batch of rows at a time.

    One query per round, in the order of the ratings' unique index, so neither engine sorts;
    codes, keys and versions come from small lookups made first. Text goes through `text`
    (spreadsheets: `inert`), abstained is flags[0] or flags[1], times are ISO 8601 strings.
    A panelist who did not answer a statement has no row; one who only commented has a row
    without value.
    """
    rounds = session.execute(
        select(Round.id, Round.number, Round.status)
        .where(Round.study_id == study_id, Round.status != RoundStatus.draft)
        .order_by(Round.number)
    ).all()
    versions = _versions(session, study_id=study_id)
    keys: dict[int, str] = {
        sid: text(key)
        for sid, key in session.execute(
            select(Statement.id, Statement.key).where(Statement.study_id == study_id)
        )
    }
    who = {
        m.id: (m.code, text(m.group) if m.group else None)
        for m in members(session, study_id=study_id)
    }
    connection = session.connection()  # Core rows: no ORM bookkeeping per rating
    dialect = connection.dialect.name
    for round_id, number, status in rounds:
        state, version_of = status.value, versions[round_id]
        for batch in connection.execute(_round_ratings(round_id, dialect)).partitions():
            yield [
                (
                    number,
                    state,
                    keys[sid],
                    sid,
                    version_of.get(sid),
                    *who[pid],
                    value,
                    flags[abstain],
                    strength,
                    text(comment) if comment else comment,
                    created,
                    updated,
                )
                for sid, pid, value, abstain, strength, comment, created, updated in batch
            ]


def _versions(session: Session, *, study_id: int) -> dict[int, dict[int, int]]:
    """Round → statement → the version number its ballot showed."""
    versions: dict[int, dict[int, int]] = defaultdict(dict)
    for round_id, statement_id, version in session.execute(
        select(RoundItem.round_id, RoundItem.statement_id, StatementVersion.version)
        .join(StatementVersion, StatementVersion.id == RoundItem.version_id)
        .join(Round, Round.id == RoundItem.round_id)
        .where(Round.study_id == study_id)
    ):
        versions[round_id][statement_id] = version
    return versions


def _round_ratings(round_id: int, dialect: str) -> Select[tuple[Any, ...]]:
    """A round's ratings in the order of their unique index, read in batches."""
    return (
        select(
            Rating.statement_id,
            Rating.panelist_id,
            Rating.value,
            Rating.abstain,
            Rating.strength,
            Rating.comment,
            iso_utc(Rating.created_at, dialect),
            iso_utc(Rating.updated_at, dialect),
        )
        .where(Rating.round_id == round_id)
        .order_by(Rating.statement_id, Rating.panelist_id)
        .execution_options(yield_per=BATCH)
    )


def rating_rows(
    session: Session, *, study_id: int, text: Callable[[str], str] = as_is
) -> Iterator[tuple[Any, ...]]:
    """The ratings one row at a time (see `rating_batches`)."""
    for batch in rating_batches(session, study_id=study_id, text=text):
        yield from batch


@dataclass(frozen=True, slots=True)
class Flow:
    """Participant flow of one stakeholder group in one round (a CONSORT-style diagram's box).

    invited = the previous round's invited + joined − withdrew; responded = saved at least one
    rating or abstention in the round (docs/method.md §5).
    """

    round: int
    group: str
    joined: int
    withdrew: int
    invited: int
    responded: int


def panel_flow(
    session: Session, *, study: Study, panel: list[Member], rounds: list[Round], now: datetime
) -> list[Flow]:
    """Joined, withdrew, invited and responded per round and group, as the round counted them."""
    opened = [r for r in rounds if r.status != RoundStatus.draft]
    answered = exists().where(
        Rating.panelist_id == Panelist.id,
        Rating.round_id == Round.id,
        or_(Rating.value.is_not(None), Rating.abstain),
    )
    responded: dict[tuple[int, str], int] = defaultdict(int)
    if opened:
        for round_id, group, count in session.execute(
            select(Round.id, Panelist.group, func.count())
            .select_from(Round)
            .join(Panelist, Panelist.study_id == Round.study_id)
            .where(Round.id.in_([r.id for r in opened]), answered)
            .group_by(Round.id, Panelist.group)
        ):
            responded[(round_id, group or NO_GROUP)] += count
    seen = [*study.groups, *sorted({m.group for m in panel if m.group} - set(study.groups))]
    groups = seen + ([NO_GROUP] if any(m.group is None for m in panel) else [])
    flow: list[Flow] = []
    since: datetime | None = None
    for round_ in opened:
        at = tally.counted_at(round_, now) if round_.status == RoundStatus.closed else now
        for group in groups:
            mine = [m for m in panel if (m.group or NO_GROUP) == group and m.joined_at <= at]
            left = [m.withdrawn_at for m in mine if m.withdrawn_at and m.withdrawn_at <= at]
            flow.append(
                Flow(
                    round=round_.number,
                    group=group,
                    joined=sum(since is None or m.joined_at > since for m in mine),
                    withdrew=sum(since is None or when > since for when in left),
                    invited=len(mine) - len(left),
                    responded=responded[(round_.id, group)],
                )
            )
        since = at
    return flow


@dataclass(slots=True)
class StudyExport:
    """Everything an export holds except the ratings, which stream (see `rating_rows`)."""

    study: Study
    exported_at: datetime
    rule_words: str
    stopping_words: str  # the stability (stopping) rule, or that it is only reported
    fingerprint: str
    grading_table: dict[str, Any]
    grading_words: list[str]
    rounds: list[Round]
    results: dict[int, RoundResults]  # round id -> app.services.results.round_results
    statements: list[Statement]  # with every version, newest first
    panel: list[Member]
    flow: list[Flow]
    sources: list[tuple[EvidenceSource, list[int]]]
    levels: dict[int, Level]
    recommendations: list[dict[str, Any]]  # frozen (finalized) or as finalization would freeze
    audit: list[AuditEntry]

    @property
    def finalized(self) -> bool:
        return self.study.finalized_at is not None

    @property
    def keys(self) -> dict[int, str]:
        return {s.id: s.key for s in self.statements}

    @property
    def version_numbers(self) -> dict[int, int]:
        return {v.id: v.version for s in self.statements for v in s.versions}


def gather(session: Session, *, study: Study) -> StudyExport:
    """The study's method, panel flow, results, lineage, evidence, grades and audit log."""
    now = utcnow()
    rounds = list(
        session.scalars(select(Round).where(Round.study_id == study.id).order_by(Round.number))
    )
    round_results = {
        r.id: results.round_results(session, study=study, round_=r)
        for r in rounds
        if r.status != RoundStatus.draft
    }
    statements = list(
        session.scalars(
            select(Statement)
            .where(Statement.study_id == study.id)
            .order_by(Statement.position, Statement.id)
            .options(selectinload(Statement.versions))
        )
    )
    panel = members(session, study_id=study.id)
    if study.finalized_at is not None:
        recommendations = [
            {**f.content, "content_hash": f.content_hash}
            for f in finalization.finals(session, study=study)
        ]
    else:
        recommendations = finalization.preview(session, study=study)
    table = evidence.table_of(study)
    return StudyExport(
        study=study,
        exported_at=now,
        rule_words=rules.rule_words(study),
        stopping_words=stability.rule_in_words(study),
        fingerprint=studies.rules_fingerprint(study),
        grading_table=table.model_dump(mode="json"),
        grading_words=grading.describe_table(table),
        rounds=rounds,
        results=round_results,
        statements=statements,
        panel=panel,
        flow=panel_flow(session, study=study, panel=panel, rounds=rounds, now=now),
        sources=evidence.sources_of(session, study=study),
        levels=evidence.levels(session, study=study),
        recommendations=recommendations,
        audit=list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.study_id == study.id).order_by(AuditEntry.id)
            )
        ),
    )


def record_export(session: Session, *, actor: User, study: Study, kind: str, via: str) -> None:
    """Audit an export before it leaves (docs/method.md §10); identities go to coordinators only."""
    if kind == "panel" and actor.role == Role.observer:
        raise Forbidden(
            "Observers cannot export panelists' names and e-mail addresses; the data exports "
            "show panelists by code only."
        )
    audit.record(session, actor=actor, action=f"export.{kind}", study_id=study.id, via=via)
