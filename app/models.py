"""The study's records; constraints, not application locks, keep concurrent writers honest."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine (SQLite keeps no offset: store UTC, add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: times must carry an offset")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Role(enum.StrEnum):
    admin = "admin"
    coordinator = "coordinator"
    observer = "observer"


class RoundStatus(enum.StrEnum):
    draft = "draft"
    open = "open"
    closed = "closed"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=20, validate_strings=True)


class User(Base):
    """A coordinator-side account (admin, coordinator or observer)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), default=Role.coordinator)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="raise")


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    instructions: Mapped[str] = mapped_column(Text, default="")
    scale_min: Mapped[int] = mapped_column(default=1)
    scale_max: Mapped[int] = mapped_column(default=9)
    scale_labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The pre-registered consensus rule, as the JSON of app.consensus.rules.ConsensusRule.
    rule: Mapped[dict[str, Any]]
    quantile_method: Mapped[str] = mapped_column(String(10), default="type7")
    max_rounds: Mapped[int] = mapped_column(default=3)
    allow_abstain: Mapped[bool] = mapped_column(default=True)
    hide_feedback_until_rated: Mapped[bool] = mapped_column(default=False)
    languages: Mapped[list[Any]] = mapped_column(default=lambda: ["en"])
    # Per language: {"title", "instructions", "labels": {point: label}} shown to panelists.
    translations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Declared stakeholder groups; empty means any group name is accepted.
    groups: Mapped[list[Any]] = mapped_column(default=list)
    # Reminders to non-responders, in hours before a round's deadline.
    reminder_hours: Mapped[list[Any]] = mapped_column(default=lambda: [72, 24])
    # Evidence-level scheme (app.consensus.levels) and grading table (app.consensus.grading);
    # frozen with the rule.
    evidence_scheme: Mapped[str] = mapped_column(String(20), default="pedro_scire")
    grading_table: Mapped[dict[str, Any] | None]
    # Panelists also choose each recommendation's strength in the final round (DESIGN §2.5).
    strength_vote: Mapped[bool] = mapped_column(default=False)
    # Stability between rounds (app.consensus.stability.StabilityRule); None: reported only.
    stability_rule: Mapped[dict[str, Any] | None]
    # Panelists' feedback shows each stakeholder group's answers beside the whole panel's.
    feedback_by_group: Mapped[bool] = mapped_column(default=False)
    rules_frozen_at: Mapped[datetime | None]
    finalized_at: Mapped[datetime | None]
    content_hash: Mapped[str | None] = mapped_column(String(64))  # SHA-256 at finalization
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def text_in(self, language: str, field: str) -> str:
        translated = (self.translations.get(language) or {}).get(field)
        return str(translated or getattr(self, field))

    def labels_in(self, language: str) -> dict[str, str]:
        translated = (self.translations.get(language) or {}).get("labels") or {}
        return {**self.scale_labels, **translated}

    __table_args__ = (
        CheckConstraint("scale_min < scale_max", name="scale_order"),
        CheckConstraint("max_rounds >= 1", name="max_rounds_positive"),
    )


class StudyMember(Base):
    """Which accounts may see and run a study."""

    __tablename__ = "study_members"

    study_id: Mapped[int] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class Panelist(Base):
    __tablename__ = "panelists"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(10))  # pseudonym P01, P02 …
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    group: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(10), default="en")
    timezone: Mapped[str | None] = mapped_column(String(64))  # IANA name, for deadlines
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]

    study: Mapped[Study] = relationship(lazy="raise")

    __table_args__ = (
        UniqueConstraint("study_id", "code"),
        Index(
            "uq_panelists_study_id_email",
            "study_id",
            "email",
            unique=True,
            sqlite_where=text("email IS NOT NULL"),
            postgresql_where=text("email IS NOT NULL"),
        ),
    )


class PanelistLink(Base):
    """An extra personal link (one per e-mail sent), valid until the panelist's links are revoked.

    Only the keyed hash is stored; the panelist's first link lives in Panelist.token_hash.
    """

    __tablename__ = "panelist_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    panelist_id: Mapped[int] = mapped_column(
        ForeignKey("panelists.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Statement(Base):
    """A statement's identity across rounds; its wording lives in versions."""

    __tablename__ = "statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    topic: Mapped[str | None] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(default=0)
    dropped_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[StatementVersion]] = relationship(
        back_populates="statement",
        lazy="raise",
        order_by="StatementVersion.version.desc()",
    )

    __table_args__ = (UniqueConstraint("study_id", "key"),)

    @property
    def current(self) -> StatementVersion:
        return self.versions[0]


class StatementVersion(Base):
    """One wording of a statement; a revision adds a version and keeps the lineage and why."""

    __tablename__ = "statement_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id", ondelete="CASCADE"))
    version: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    translations: Mapped[dict[str, Any]] = mapped_column(default=dict)  # language -> text
    rationale: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("statement_versions.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    statement: Mapped[Statement] = relationship(back_populates="versions", lazy="raise")

    __table_args__ = (UniqueConstraint("statement_id", "version"),)

    def text_in(self, language: str) -> str:
        return str(self.translations.get(language) or self.text)


class Round(Base):
    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    number: Mapped[int]
    status: Mapped[RoundStatus] = mapped_column(
        _enum(RoundStatus, "round_status"), default=RoundStatus.draft
    )
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Frozen at close: the rule as applied and the panel's size, so results never drift.
    rule_snapshot: Mapped[dict[str, Any] | None]
    invited: Mapped[int | None]
    responded: Mapped[int | None]
    # The ballot also asks each recommendation's strength (a study's final round, by default).
    asks_strength: Mapped[bool] = mapped_column(default=False)
    # Frozen at close: Kendall's W and attrition (app.services.stability), like the snapshots.
    statistics: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    study: Mapped[Study] = relationship(lazy="raise")
    items: Mapped[list[RoundItem]] = relationship(
        lazy="raise", order_by="RoundItem.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("study_id", "number"),
        # At most one open round per study, whatever races the application loses.
        Index(
            "uq_rounds_one_open_per_study",
            "study_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )


class RoundItem(Base):
    """A statement on a round's ballot; the version is frozen when the round opens."""

    __tablename__ = "round_items"

    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True
    )
    statement_id: Mapped[int] = mapped_column(
        ForeignKey("statements.id", ondelete="CASCADE"), primary_key=True
    )
    version_id: Mapped[int | None] = mapped_column(ForeignKey("statement_versions.id"))
    position: Mapped[int] = mapped_column(default=0)

    statement: Mapped[Statement] = relationship(lazy="raise")
    version: Mapped[StatementVersion | None] = relationship(lazy="raise")


class Rating(Base):
    """A panelist's answer to one statement in one round: a value, an abstention, or a comment."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id", ondelete="CASCADE"))
    panelist_id: Mapped[int] = mapped_column(
        ForeignKey("panelists.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[int | None]
    abstain: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str | None] = mapped_column(Text)
    # The strength vote (app.consensus.strength), in rounds that ask for it.
    strength: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        # Round, then panelist: one index serves a round's tally, a ballot and the upsert.
        UniqueConstraint("round_id", "panelist_id", "statement_id"),
        CheckConstraint("NOT (abstain AND value IS NOT NULL)", name="value_or_abstain"),
        CheckConstraint(
            "strength IS NULL OR (NOT abstain AND strength IN "
            "('strong_for', 'conditional_for', 'conditional_against', 'strong_against'))",
            name="strength_choice",
        ),
    )


class Ballot(Base):
    """A panelist's participation in a round: when they declared their ballot complete."""

    __tablename__ = "ballots"

    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True
    )
    panelist_id: Mapped[int] = mapped_column(
        ForeignKey("panelists.id", ondelete="CASCADE"), primary_key=True
    )
    submitted_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ResultSnapshot(Base):
    """A statement's figures and classification at a round's close; never updated."""

    __tablename__ = "result_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("statement_versions.id"))
    classification: Mapped[str] = mapped_column(String(20))
    figures: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("round_id", "statement_id"),)


class AuditEntry(Base):
    """Append-only record of coordinator actions."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(320), default="")
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class UserSession(Base):
    """A coordinator's signed-in browser; only the keyed hash of its cookie value is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginAttempt(Base):
    """Failed and successful logins, kept in the database so throttling holds across processes."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    # The keyed hash of the browser's device id when it signed in to this account before, else
    # empty: failures of such a browser are counted apart, so a stranger cannot hold it back.
    device: Mapped[str] = mapped_column(String(64), default="")


class OutboxMessage(Base):
    """An e-mail committed with the action that caused it and sent afterwards, with retries."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), index=True
    )
    panelist_id: Mapped[int | None] = mapped_column(
        ForeignKey("panelists.id", ondelete="CASCADE"), index=True
    )
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(
        String(30)
    )  # invitation, reminder, round_opened, closing_soon
    to_address: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(10), default="en")
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # Makes "exactly one reminder" hold across processes: a second insert of the same key fails.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued, sent, failed, held
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryAttempt(Base):
    """Every try at sending a message, kept: the full delivery history, not only the last status."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(30))  # sent, retry, failed, held
    detail: Mapped[str] = mapped_column(Text, default="")


class EvidenceSource(Base):
    """A study in the evidence library, with its appraisal (PEDro for trials, AMSTAR reviews)."""

    __tablename__ = "evidence_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    citation: Mapped[str] = mapped_column(Text)
    doi: Mapped[str | None] = mapped_column(String(200))
    pmid: Mapped[str | None] = mapped_column(String(20))
    design: Mapped[str] = mapped_column(String(30))
    pedro: Mapped[int | None]
    pedro_items: Mapped[list[Any] | None]
    amstar2: Mapped[str | None] = mapped_column(String(20))
    amstar_score: Mapped[int | None]
    pooled_levels: Mapped[list[Any]] = mapped_column(default=list)
    illustrative: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EvidenceLink(Base):
    """Which statements a source supports."""

    __tablename__ = "evidence_links"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("evidence_sources.id", ondelete="CASCADE"), primary_key=True
    )
    statement_id: Mapped[int] = mapped_column(
        ForeignKey("statements.id", ondelete="CASCADE"), primary_key=True
    )


class LevelOverride(Base):
    """A coordinator's override of a statement's computed evidence level, with the reason."""

    __tablename__ = "level_overrides"

    statement_id: Mapped[int] = mapped_column(
        ForeignKey("statements.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(20))
    justification: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FinalRecommendation(Base):
    """A statement as finalized: text, figures, evidence level and grade, frozen with a hash."""

    __tablename__ = "final_recommendations"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    statement_id: Mapped[int] = mapped_column(
        ForeignKey("statements.id", ondelete="CASCADE"), unique=True
    )
    position: Mapped[int] = mapped_column(default=0)
    # The frozen content; content_hash is the SHA-256 of its canonical JSON.
    content: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
