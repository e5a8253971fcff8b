"""The evidence library, levels overridden by hand, and the recommendations as finalized."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    Boolean,
    ForeignKey,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


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

    @property
    def url(self) -> str | None:
        """Where a reader finds it: the DOI's resolver, else its PubMed page, else nowhere."""
        doi = (self.doi or "").strip()
        for prefix in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:"):
            doi = doi.removeprefix(prefix)
        if doi:
            return f"https://doi.org/{quote(doi, safe='/')}"
        if self.pmid and self.pmid.strip():
            return f"https://pubmed.ncbi.nlm.nih.gov/{quote(self.pmid.strip(), safe='')}/"
        return None


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
