"""Coordinator sign-in (argon2, server-side sessions); guesses throttled in the database."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.models import LoginAttempt, User, UserSession, utcnow
from app.security import hash_password, token_hash, verify_password
from app.services.errors import Throttled, Unauthorized

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
SESSION_IDLE = timedelta(hours=8)
SESSION_MAX = timedelta(days=7)
WRONG = "The e-mail address or the password is not right."  # one answer for both cases
# Verifying against this keeps an unknown e-mail as slow as a wrong password.
_DUMMY_HASH = hash_password("not a real password, only for timing")


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    token: str  # the cookie value; only its keyed hash is stored
    csrf: str


# Personal links that open nothing, per address: a guesser is stopped, a mistyped link is not.
MAX_UNKNOWN_LINKS_PER_ADDRESS = 30
# The e-mail of an attempt on a personal link: none (the sign-in form always sends one).
PERSONAL_LINK = ""


def _failures(session: Session, *, since: datetime, **match: str) -> int:
    query = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False))
    )
    if "email" not in match:  # sign-ins and personal links are throttled apart
        query = query.where(LoginAttempt.email != PERSONAL_LINK)
    for column, value in match.items():
        query = query.where(getattr(LoginAttempt, column) == value)
    return session.scalar(query) or 0


def check_link_attempts(session: Session, *, address: str, now: datetime | None = None) -> None:
    """Refuse an address that tried too many unknown personal links (kept in the database)."""
    now = now or utcnow()
    tried = _failures(session, since=now - WINDOW, email=PERSONAL_LINK, address=address)
    if tried >= MAX_UNKNOWN_LINKS_PER_ADDRESS:
        raise Throttled(
            "Too many links that open nothing came from your address; wait 15 minutes and "
            "open the link from your invitation again.",
            retry_after=int(WINDOW.total_seconds()),
        )


def record_unknown_link(session: Session, *, address: str, now: datetime | None = None) -> None:
    session.add(LoginAttempt(email=PERSONAL_LINK, address=address, at=now or utcnow()))
    session.flush()


def sign_in(
    session: Session, *, email: str, password: str, address: str, now: datetime | None = None
) -> SignedIn:
    now = now or utcnow()
    email = email.strip().lower()
    since = now - WINDOW
    if (
        _failures(session, since=since, email=email) >= MAX_FAILURES_PER_ACCOUNT
        or _failures(session, since=since, address=address) >= MAX_FAILURES_PER_ADDRESS
    ):
        raise Throttled(
            "Too many failed sign-ins; wait 15 minutes and try again.",
            retry_after=int(WINDOW.total_seconds()),
        )
    user = session.scalar(select(User).where(User.email == email))
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    session.add(LoginAttempt(email=email, address=address, at=now, succeeded=ok))
    session.flush()
    if not ok or user is None:
        raise Unauthorized(WRONG)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=token_hash(token),
            csrf=csrf,
            created_at=now,
            expires_at=now + SESSION_MAX,
            last_seen_at=now,
        )
    )
    session.flush()
    return SignedIn(user, token, csrf)


def session_user(
    session: Session, *, token: str, now: datetime | None = None
) -> tuple[User, UserSession] | None:
    """The signed-in user, or None when the session is unknown, idle too long or too old."""
    now = now or utcnow()
    row = session.execute(
        select(User, UserSession)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.token_hash == token_hash(token))
    ).first()
    if row is None:
        return None
    user, user_session = row
    if user_session.expires_at <= now or user_session.last_seen_at + SESSION_IDLE <= now:
        return None
    return user, user_session


def sign_out(session: Session, *, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == token_hash(token)))


def needs_touch(user_session: UserSession, *, now: datetime | None = None) -> bool:
    """A session's last-seen time is written at most once a minute, not on every page."""
    return (now or utcnow()) - user_session.last_seen_at > timedelta(minutes=1)


def touch(user_session: UserSession, *, now: datetime | None = None) -> None:
    """Keep an active session alive."""
    now = now or utcnow()
    if needs_touch(user_session, now=now):
        user_session.last_seen_at = now


# Long enough to look into a run of failed logins afterwards, short enough not to keep addresses.
ATTEMPTS_KEPT = timedelta(days=30)


def prune(session: Session, *, now: datetime | None = None) -> tuple[int, int]:
    """Forget login attempts past ATTEMPTS_KEPT and sessions that can no longer be used.

    Run by the tick; returns how many attempts and sessions were deleted.
    """
    now = now or utcnow()
    attempts = session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - ATTEMPTS_KEPT))
    sessions = session.execute(
        delete(UserSession).where(
            (UserSession.expires_at <= now) | (UserSession.last_seen_at <= now - SESSION_IDLE)
        )
    )
    return attempts.rowcount, sessions.rowcount  # type: ignore[attr-defined]
