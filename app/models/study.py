"""A study, its panel and its statements (whose wording lives in versions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow


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
    # The ballot shows each statement's evidence; off for studies that rate before seeing it.
    show_evidence_on_ballot: Mapped[bool] = mapped_column(default=True)
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
    # The coordinator's summary of the statement's evidence, per language, shown on the ballot.
    evidence_summary: Mapped[dict[str, Any] | None]
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
