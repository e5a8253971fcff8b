"""The study's records; constraints, not application locks, keep concurrent writers honest.

One module per part of the study (base, accounts, study, rounds, outbox, evidence); every model
is imported from here, so `from app.models import Round` and Alembic's metadata see them all.
"""

from app.models.accounts import ApiToken, AuditEntry, LoginAttempt, User, UserSession
from app.models.base import (
    NAMING_CONVENTION,
    Base,
    Role,
    RoundStatus,
    UTCDateTime,
    enum_type,
    utcnow,
)
from app.models.evidence import EvidenceLink, EvidenceSource, FinalRecommendation, LevelOverride
from app.models.outbox import DeliveryAttempt, OutboxMessage
from app.models.rounds import Ballot, Rating, ResultSnapshot, Round, RoundItem
from app.models.study import (
    Panelist,
    PanelistLink,
    Statement,
    StatementVersion,
    Study,
    StudyMember,
)

__all__ = [
    "NAMING_CONVENTION",
    "ApiToken",
    "AuditEntry",
    "Ballot",
    "Base",
    "DeliveryAttempt",
    "EvidenceLink",
    "EvidenceSource",
    "FinalRecommendation",
    "LevelOverride",
    "LoginAttempt",
    "OutboxMessage",
    "Panelist",
    "PanelistLink",
    "Rating",
    "ResultSnapshot",
    "Role",
    "Round",
    "RoundItem",
    "RoundStatus",
    "Statement",
    "StatementVersion",
    "Study",
    "StudyMember",
    "UTCDateTime",
    "User",
    "UserSession",
    "enum_type",
    "utcnow",
]
