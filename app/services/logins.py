"""Coordinator sign-in (argon2, server-side sessions); guesses throttled in the database.

Throttling slows a guesser without locking the owner out. Past a few failures in a row, an
account's next try waits, twice as long each time up to a few minutes, and only a try that did
not have to wait is checked against the password. A browser that signed in to the account before
(it holds a signed device cookie) has a count of its own, so a stranger's failures never hold it
back. An address that fails across many accounts waits too. Each account's (and address's)
sign-ins take turns, so concurrent guesses cannot all slip under the limit.
"""

import hashlib
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.models import LoginAttempt, User, UserSession, utcnow
from app.security import hash_password, token_hash, verify_password
from app.services.errors import Throttled, Unauthorized

WINDOW = timedelta(minutes=15)
# Failures in a row of one account (from browsers it does not know, or from one it does) that are
# answered at once; after them each try waits FIRST_WAIT, then twice as long, up to LONGEST_WAIT.
MAX_FAILURES_PER_ACCOUNT = 5
FIRST_WAIT = timedelta(seconds=15)
LONGEST_WAIT = timedelta(minutes=5)
# An account's failures older than this no longer make it wait (a guesser gets ~12 tries an hour).
BACKOFF_WINDOW = timedelta(hours=1)
# Failed sign-ins per WINDOW from one address, across accounts: then the address waits.
MAX_FAILURES_PER_ADDRESS = 20
SESSION_IDLE = timedelta(hours=8)
SESSION_MAX = timedelta(days=7)
WRONG = "The e-mail address or the password is not right."  # one answer for both cases
# Verifying against this keeps an unknown e-mail as slow as a wrong password.
_DUMMY_HASH = hash_password("not a real password, only for timing")


@dataclass(frozen=True, slots=True)
class Device:
    """A browser that signed in to an account before, as its signed cookie says."""

    user_id: int
    key: str  # random; attempts store only its keyed hash

    @classmethod
    def new(cls, user_id: int) -> "Device":
        return cls(user_id, secrets.token_urlsafe(24))


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    token: str  # the cookie value; only its keyed hash is stored
    csrf: str
    device: Device  # for the browser's device cookie: its own, or a new one


def address_key(address: str) -> str:
    """How an address is counted: in one spelling, and IPv6 by its /64 (one site's usual share)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip), 64), strict=False))
    return str(ip)


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
    address = address_key(address)
    tried = _failures(session, since=now - WINDOW, email=PERSONAL_LINK, address=address)
    if tried >= MAX_UNKNOWN_LINKS_PER_ADDRESS:
        raise Throttled(
            "Too many links that open nothing came from your address; wait 15 minutes and "
            "open the link from your invitation again.",
            retry_after=int(WINDOW.total_seconds()),
        )


def record_unknown_link(session: Session, *, address: str, now: datetime | None = None) -> None:
    session.add(LoginAttempt(email=PERSONAL_LINK, address=address_key(address), at=now or utcnow()))
    session.flush()


ACCOUNT_LOCKS = 0x44454C41  # "DELA": one account's sign-ins take turns
ADDRESS_LOCKS = 0x44454C49  # "DELI": one address's sign-ins take turns


def _lock_key(value: str) -> int:
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:4], "big", signed=True)


def _take_turns(session: Session, *, email: str, address: str | None) -> None:
    """Serialise sign-ins per account (and address) until commit, so each counts those before.

    PostgreSQL: transaction-level advisory locks, always the account's first (no deadlock).
    SQLite: the request's write transaction already holds the database lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    locks = [func.pg_advisory_xact_lock(ACCOUNT_LOCKS, _lock_key(email))]
    if address is not None:
        locks.append(func.pg_advisory_xact_lock(ADDRESS_LOCKS, _lock_key(address)))
    session.execute(select(*locks))


def wait_after(failures: int) -> timedelta:
    """How long the next try waits after so many failures in a row."""
    if failures < MAX_FAILURES_PER_ACCOUNT:
        return timedelta(0)
    doublings = min(failures - MAX_FAILURES_PER_ACCOUNT, 10)
    return min(LONGEST_WAIT, FIRST_WAIT * 2**doublings)


# Enough of the latest attempts to reach LONGEST_WAIT.
_RECENT = MAX_FAILURES_PER_ACCOUNT + math.ceil(math.log2(LONGEST_WAIT / FIRST_WAIT)) + 1


def _seconds_to_wait(session: Session, *, email: str, device: str, now: datetime) -> int:
    """Seconds before this account, tried from these browsers, may be tried again (0: now)."""
    latest = session.execute(
        select(LoginAttempt.at, LoginAttempt.succeeded)
        .where(
            LoginAttempt.email == email,
            LoginAttempt.device == device,
            LoginAttempt.at >= now - BACKOFF_WINDOW,
        )
        .order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc())
        .limit(_RECENT)
    ).all()
    failures = 0
    for _at, succeeded in latest:
        if succeeded:
            break
        failures += 1
    wait = wait_after(failures)
    if not wait:
        return 0
    left = min(wait, latest[0].at + wait - now)  # never longer than the wait itself (clock skew)
    return max(0, math.ceil(left.total_seconds()))


def _in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


def sign_in(
    session: Session,
    *,
    email: str,
    password: str,
    address: str,
    device: Device | None = None,
    now: datetime | None = None,
) -> SignedIn:
    """Check the password unless the account, browser or address must wait; record the verdict."""
    email = email.strip().lower()
    address = address_key(address)
    user = session.scalar(select(User).where(User.email == email))
    trusted = device is not None and user is not None and device.user_id == user.id
    known = device if trusted else None
    # A browser the account knows is held back by its own failures only, wherever it is.
    _take_turns(session, email=email, address=None if known else address)
    now = now or utcnow()  # after waiting our turn: attempts are recorded in the order decided
    if (
        known is None
        and _failures(session, since=now - WINDOW, address=address) >= MAX_FAILURES_PER_ADDRESS
    ):
        raise Throttled(
            "Too many failed sign-ins came from your address; wait 15 minutes and try again.",
            retry_after=int(WINDOW.total_seconds()),
        )
    hashed_device = token_hash(known.key) if known else ""
    wait = _seconds_to_wait(session, email=email, device=hashed_device, now=now)
    if wait:
        raise Throttled(
            f"Too many failed sign-ins from this browser; wait {_in_words(wait)} and try again."
            if known
            else f"Too many failed sign-ins for this e-mail address; wait {_in_words(wait)} and "
            "try again. A browser that signed in to this account before is not held back.",
            retry_after=wait,
        )
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    session.add(
        LoginAttempt(email=email, address=address, at=now, succeeded=ok, device=hashed_device)
    )
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
    return SignedIn(user, token, csrf, known or Device.new(user.id))


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
