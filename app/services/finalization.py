"""Finalization: freeze each recommendation's text, figures, level and grade under SHA-256."""

import hashlib
import json
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

from app.models import (
    FinalRecommendation,
    Round,
    RoundStatus,
    Statement,
    Study,
    User,
    utcnow,
)
from app.services import audit, evidence, locks
from app.services.errors import Conflict
from app.services.studies import ensure_writable


def _sha256(content: Any) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def preview(session: Session, *, study: Study) -> list[dict[str, Any]]:
    """Every statement's content as finalization would freeze it (nothing is written)."""
    recommendations = {r.statement_id: r for r in evidence.recommendations(session, study=study)}
    out = []
    for statement in session.scalars(
        select(Statement)
        .where(Statement.study_id == study.id, Statement.dropped_at.is_(None))
        .order_by(Statement.position)
        .options(selectinload(Statement.versions))
    ):
        rec = recommendations[statement.id]
        snapshot = rec.snapshot
        version = next(
            (v for v in statement.versions if snapshot and v.id == snapshot.version_id),
            statement.current,
        )
        out.append(
            {
                "statement_id": statement.id,
                "key": statement.key,
                "version": version.version,
                "text": version.text,
                "translations": version.translations,
                "round": rec.round,
                "classification": rec.classification,
                "figures": snapshot.figures if snapshot else None,
                "level": {
                    "scheme": rec.level.scheme,
                    "code": rec.level.code,
                    "label": rec.level.label,
                    "reasons": rec.level.reasons,
                    "overridden_from": rec.level.overridden_from,
                },
                "grade": rec.grade.code if rec.grade else "no_recommendation",
                "grade_label": rec.grade.label if rec.grade else "No recommendation (not rated)",
                "grade_reason": rec.grade.reason if rec.grade else None,
            }
        )
        if study.strength_vote:  # only then, so studies without a vote hash as they always did
            out[-1]["strength_votes"] = snapshot.figures.get("strength_votes") if snapshot else None
            out[-1]["panel_strength"] = snapshot.figures.get("panel_strength") if snapshot else None
    return out


def finalize(session: Session, *, actor: User, study: Study) -> str:
    """Freeze the study: one hash per statement, one for the study; afterwards it is read-only."""
    locks.hold_study(session, study=study)
    ensure_writable(study)
    statuses = set(session.scalars(select(Round.status).where(Round.study_id == study.id)))
    if statuses - {RoundStatus.closed}:
        raise Conflict("A round is still open or in draft; close or delete it before finalizing.")
    if RoundStatus.closed not in statuses:
        raise Conflict("Close at least one round before finalizing; there are no results yet.")
    contents = preview(session, study=study)
    hashes = [_sha256(content) for content in contents]
    now = utcnow()
    session.execute(
        insert(FinalRecommendation),
        [
            {
                "study_id": study.id,
                "statement_id": content["statement_id"],
                "position": position,
                "content": content,
                "content_hash": digest,
                "created_at": now,
            }
            for position, (content, digest) in enumerate(zip(contents, hashes, strict=True))
        ],
    )
    study.content_hash = _sha256({"study": study.id, "recommendations": hashes})
    study.finalized_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="study.finalize",
        study_id=study.id,
        content_hash=study.content_hash,
        statements=len(contents),
    )
    return study.content_hash


def finals(session: Session, *, study: Study) -> list[FinalRecommendation]:
    query = (
        select(FinalRecommendation)
        .where(FinalRecommendation.study_id == study.id)
        .order_by(FinalRecommendation.position)
    )
    return list(session.scalars(query))
