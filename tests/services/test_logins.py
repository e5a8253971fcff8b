"""Login attempts and signed-in sessions do not pile up: the tick forgets what can't be used."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import LoginAttempt, UserSession, utcnow
from app.scheduler import tick_once
from app.services import accounts, logins
from app.services.errors import Unauthorized

PASSWORD = "correct horse battery"


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
    assert all(at > long_ago for at in kept) and len(kept) == 3  # 1 recent failure, 2 sign-ins
    assert session.scalar(select(func.count()).select_from(UserSession)) == 1
    assert logins.session_user(session, token=expired.token) is None
    assert logins.session_user(session, token=live.token) is not None  # still signed in
