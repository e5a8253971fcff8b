"""Login attempts and signed-in sessions do not pile up: the tick forgets what can't be used."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import LoginAttempt, UserSession, utcnow
from app.scheduler import tick_once
from app.services import accounts, logins
from app.services.errors import Throttled, Unauthorized

PASSWORD = "correct horse battery"
HERE = "192.0.2.1"
LEAD = "lead@example.org"


def test_the_tick_forgets_old_login_attempts_and_dead_sessions(session: Session) -> None:
    accounts.create_user(session, email="lead@example.org", password=PASSWORD)
    now = utcnow()
    long_ago = now - logins.ATTEMPTS_KEPT - timedelta(minutes=1)
    for at in (long_ago, now - timedelta(days=1)):
        with pytest.raises(Unauthorized):
            logins.sign_in(
                session, email="lead@example.org", password="wrong", address="192.0.2.1", now=at
            )
    expired = logins.sign_in(
        session, email="lead@example.org", password=PASSWORD, address="203.0.113.7",
        now=now - logins.SESSION_MAX - timedelta(minutes=1),
    )  # fmt: skip
    live = logins.sign_in(
        session, email="lead@example.org", password=PASSWORD, address="203.0.113.7", now=now
    )
    session.commit()
    assert logins.session_user(session, token=live.token) is not None

    session.commit()  # end this read, so what follows sees the tick's work
    tick_once()

    kept = sorted(session.scalars(select(LoginAttempt.at)))
    assert all(at > long_ago for at in kept)
    assert len(kept) == 3
    assert session.scalar(select(func.count()).select_from(UserSession)) == 1
    assert logins.session_user(session, token=expired.token) is None
    assert logins.session_user(session, token=live.token) is not None  # still signed in


def test_past_five_failures_each_wait_doubles_up_to_five_minutes(session: Session) -> None:
    """A guesser who always waits long enough gets 15 s, 30 s … then one try every 5 minutes."""
    accounts.create_user(session, email=LEAD, password=PASSWORD)
    at = utcnow()

    def guess() -> None:
        with pytest.raises(Unauthorized):
            logins.sign_in(session, email=LEAD, password="guess", address=HERE, now=at)

    def wait() -> int:
        with pytest.raises(Throttled) as held:
            logins.sign_in(session, email=LEAD, password=PASSWORD, address=HERE, now=at)
        return held.value.retry_after

    for _ in range(logins.MAX_FAILURES_PER_ACCOUNT):
        guess()
    waits = []
    for _ in range(8):
        waits.append(wait())
        at += timedelta(seconds=waits[-1])
        guess()
    assert waits == [15, 30, 60, 120, 240, 300, 300, 300]
    at += logins.LONGEST_WAIT
    signed = logins.sign_in(session, email=LEAD, password=PASSWORD, address=HERE, now=at)
    assert signed.user.email == LEAD


def test_an_ipv6_guesser_is_counted_by_its_slash_64(session: Session) -> None:
    """A host holds a whole /64: 20 of its addresses are one address to the limit."""
    for n in range(logins.MAX_FAILURES_PER_ADDRESS):
        with pytest.raises(Unauthorized):
            logins.sign_in(
                session, email=f"guess{n}@example.org", password="x", address=f"2001:db8::{n:x}"
            )
    with pytest.raises(Throttled):
        logins.sign_in(session, email="one@example.org", password="x", address="2001:db8::beef")
    with pytest.raises(Unauthorized):
        logins.sign_in(session, email="one@example.org", password="x", address="2001:db8:0:1::1")


def test_login_is_throttled_per_address_across_accounts(session: Session) -> None:
    for i in range(logins.MAX_FAILURES_PER_ADDRESS):
        with pytest.raises(Unauthorized):
            logins.sign_in(
                session, email=f"guess{i}@example.org", password="x", address="203.0.113.7"
            )
    accounts.create_user(session, email="lead@example.org", password=PASSWORD)
    with pytest.raises(Throttled):
        logins.sign_in(session, email="lead@example.org", password=PASSWORD, address="203.0.113.7")
    assert (
        logins.sign_in(
            session, email="lead@example.org", password=PASSWORD, address="198.51.100.1"
        ).user.email
        == "lead@example.org"
    )
