"""The append-only audit log of coordinator actions."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEntry, User


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    study_id: int | None = None,
    **detail: Any,
) -> AuditEntry:
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        actor_label=actor.email if actor else "system",
        study_id=study_id,
        action=action,
        detail=detail,
    )
    session.add(entry)
    return entry


def entries(session: Session, *, study_id: int, newest_first: bool = True) -> list[AuditEntry]:
    """The study's audit log: newest first as the console lists it, oldest first for a file."""
    order = AuditEntry.id.desc() if newest_first else AuditEntry.id
    return list(
        session.scalars(select(AuditEntry).where(AuditEntry.study_id == study_id).order_by(order))
    )
