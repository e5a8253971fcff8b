"""Guessing a coordinator's password: slowed down, never a lockout of the owner (issue #13, 6).

Past 5 failures in a row an account's next try waits, longer each time; the owner's browser that
signed in before carries a signed device cookie and has a count of its own, so a stranger's
failures never hold it back. Concurrent guesses take turns: at most the limit reach argon2.
"""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.main import create_app
from app.models import LoginAttempt, utcnow
from app.services import accounts, logins
from tests.security.world import csrf_of

OWNER = "lead@example.org"
PASSWORD = "a long passphrase"
OWNERS_DESK = "203.0.113.5"
STRANGER = "198.51.100.7"


def browser(address: str) -> TestClient:
    return TestClient(create_app(), follow_redirects=False, client=(address, 40000))


def attempt(web: TestClient | httpx.Client, password: str, email: str = OWNER) -> Response:
    form = web.get("/login")
    return web.post(
        "/login", data={"csrf_token": csrf_of(form.text), "email": email, "password": password}
    )


def owner_with_a_known_browser(session: Session) -> TestClient:
    """The owner signs in once at their desk (the browser keeps its device cookie), then out."""
    accounts.create_user(session, email=OWNER, password=PASSWORD)
    session.commit()
    desk = browser(OWNERS_DESK)
    assert attempt(desk, PASSWORD).status_code == 303
    desk.cookies.delete("delphi_console")
    return desk


def age_attempts(session: Session, by: timedelta) -> None:
    """Move every recorded attempt into the past, as if the guesser had waited."""
    for row in session.scalars(select(LoginAttempt)):
        row.at -= by
    session.commit()


def test_a_strangers_guesses_do_not_lock_the_owners_browser_out(session: Session) -> None:
    desk = owner_with_a_known_browser(session)
    stranger = browser(STRANGER)
    answers = [attempt(stranger, f"guess {n}").status_code for n in range(8)]
    assert answers == [401] * 5 + [429] * 3
    assert attempt(desk, PASSWORD).status_code == 303


def test_a_known_browser_signs_in_from_an_address_full_of_guesses(session: Session) -> None:
    """A hospital shares one address: a guesser there uses up its limit, the owner still gets in."""
    desk = owner_with_a_known_browser(session)
    session.add_all(
        LoginAttempt(email=f"guess{n}@example.org", address=OWNERS_DESK, at=utcnow())
        for n in range(logins.MAX_FAILURES_PER_ADDRESS)
    )
    session.commit()
    guesser = browser(OWNERS_DESK)
    assert attempt(guesser, PASSWORD).status_code == 429  # an unknown browser at that address
    assert attempt(desk, PASSWORD).status_code == 303


def test_past_the_limit_each_try_waits_longer_and_the_right_password_then_works(
    session: Session,
) -> None:
    accounts.create_user(session, email=OWNER, password=PASSWORD)
    session.commit()
    stranger = browser(STRANGER)
    assert [attempt(stranger, "guess").status_code for _ in range(5)] == [401] * 5
    first = attempt(stranger, PASSWORD)  # even the right password: nothing is checked yet
    assert first.status_code == 429
    assert 0 < int(first.headers["retry-after"]) <= 15
    assert "wait 15 seconds" in first.text
    assert "not held back" in first.text
    age_attempts(session, timedelta(seconds=16))
    assert attempt(stranger, "guess").status_code == 401  # the wait is over: checked again
    second = attempt(stranger, PASSWORD)
    assert second.status_code == 429
    assert 15 < int(second.headers["retry-after"]) <= 30
    age_attempts(session, timedelta(seconds=31))
    newcomer = browser("192.0.2.44")  # the owner on a computer they never used
    assert attempt(newcomer, PASSWORD).status_code == 303


def test_a_known_browsers_own_failures_slow_it_but_nobody_else(session: Session) -> None:
    desk = owner_with_a_known_browser(session)
    assert [attempt(desk, "typo").status_code for _ in range(5)] == [401] * 5
    held = attempt(desk, PASSWORD)
    assert held.status_code == 429
    assert "from this browser" in held.text
    assert attempt(browser("192.0.2.44"), PASSWORD).status_code == 303


def test_a_device_cookie_of_another_account_or_forged_counts_as_a_stranger(
    session: Session,
) -> None:
    accounts.create_user(session, email=OWNER, password=PASSWORD)
    accounts.create_user(session, email="stranger@example.org", password="their own password")
    session.commit()
    stranger = browser(STRANGER)
    assert attempt(stranger, "their own password", email="stranger@example.org").status_code == 303
    forger = browser("192.0.2.45")
    forger.cookies.set("delphi_device", "eyJ1IjoxLCJrIjoieCJ9.forged.signature", path="/login")
    for web in (stranger, forger):
        answers = [attempt(web, f"guess {n}").status_code for n in range(6)]
        assert answers[-1] == 429, "a cookie that is not the owner's lifts nothing"
        age_attempts(session, logins.BACKOFF_WINDOW)


def test_the_device_cookie_is_httponly_strict_long_lived_and_sent_only_to_sign_in(
    session: Session,
) -> None:
    accounts.create_user(session, email=OWNER, password=PASSWORD)
    session.commit()
    signed = attempt(browser(OWNERS_DESK), PASSWORD)
    cookies = signed.headers.get_list("set-cookie")
    device = next(c for c in cookies if c.startswith("delphi_device="))
    flags = {part.strip().split("=")[0].lower(): part.strip() for part in device.split(";")}
    assert "httponly" in flags
    assert flags["samesite"].lower() == "samesite=strict"
    assert flags["path"] == "Path=/login"
    assert int(flags["max-age"].split("=")[1]) >= 30 * 24 * 3600
    assert OWNER not in device
    assert PASSWORD not in device


def _concurrent_wrong_sign_ins(live_server: str, emails: list[str]) -> Counter[int]:
    """Each guesser fetches the form, then all post at the same moment."""
    start = threading.Barrier(len(emails))

    def guess(email: str) -> int:
        with httpx.Client(base_url=live_server, timeout=120, follow_redirects=False) as http:
            form = http.get("/login")
            start.wait()
            data = {"csrf_token": csrf_of(form.text), "email": email, "password": "wrong"}
            return http.post("/login", data=data).status_code

    with ThreadPoolExecutor(max_workers=len(emails)) as pool:
        return Counter(pool.map(guess, emails))


def test_of_40_concurrent_guesses_at_one_account_only_5_are_checked(
    session: Session, live_server: str
) -> None:
    accounts.create_user(session, email=OWNER, password=PASSWORD)
    session.commit()
    answers = _concurrent_wrong_sign_ins(live_server, [OWNER] * 40)
    assert answers == {401: 5, 429: 35}
    checked = session.scalar(select(func.count()).where(LoginAttempt.email == OWNER))
    assert checked == logins.MAX_FAILURES_PER_ACCOUNT


def test_of_40_concurrent_guesses_from_one_address_only_20_are_checked(
    session: Session, live_server: str
) -> None:
    emails = [f"guess{n}@example.org" for n in range(40)]
    answers = _concurrent_wrong_sign_ins(live_server, emails)
    assert answers == {401: 20, 429: 20}
    checked = session.scalar(select(func.count()).select_from(LoginAttempt))
    assert checked == logins.MAX_FAILURES_PER_ADDRESS
