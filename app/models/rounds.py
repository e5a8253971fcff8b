"""Rounds, their ballots and ratings, and the results frozen when a round closes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, RoundStatus, enum_type, utcnow
from app.models.study import Statement, StatementVersion, Study


class Round(Base):
    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    number: Mapped[int]
    status: Mapped[RoundStatus] = mapped_column(
        enum_type(RoundStatus, "round_status"), default=RoundStatus.draft
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
