"""Guessing personal links: 30 unknown ones per address per 15 minutes, then 429, kept in the DB."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.main import create_app
from app.models import LoginAttempt, utcnow
from app.services import accounts
from app.services.logins import MAX_UNKNOWN_LINKS_PER_ADDRESS, PERSONAL_LINK, WINDOW
from tests.factories import start_study
from tests.security.world import csrf_of

GUESSER = ("198.51.100.7", 40000)


def browser(address: tuple[str, int] = GUESSER) -> TestClient:
    return TestClient(create_app(), follow_redirects=False, client=address)


def guess(web: TestClient, times: int) -> list[int]:
    return [web.get(f"/p/dp_guess{n:04d}").status_code for n in range(times)]


@pytest.mark.usefixtures("engine")
def test_thirty_unknown_links_then_429_with_retry_after() -> None:
    web = browser()
    assert guess(web, MAX_UNKNOWN_LINKS_PER_ADDRESS) == [404] * MAX_UNKNOWN_LINKS_PER_ADDRESS
    refused = web.get("/p/dp_one-more-guess")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= WINDOW.total_seconds()
    assert "Too many links that open nothing" in refused.text
    assert "frame-ancestors 'none'" in refused.headers["content-security-policy"]
    assert "set-cookie" not in refused.headers
    assert "链接尝试过多" in web.get("/p/dp_guess?lang=zh-Hans").text


def test_a_throttled_address_is_refused_even_a_real_link(coordinator_token: str) -> None:
    """Otherwise a guesser would still learn which guess was right (303 instead of 429)."""
    run = start_study(TestClient(create_app()), coordinator_token, statements=1, panelists=1)
    web = browser()
    guess(web, MAX_UNKNOWN_LINKS_PER_ADDRESS)
    assert web.get(f"/p/{run.panelists[0]['token']}").status_code == 429
    elsewhere = browser(("203.0.113.20", 40000))
    assert elsewhere.get(f"/p/{run.panelists[0]['token']}").status_code == 303


def test_valid_links_are_not_counted(coordinator_token: str, session: Session) -> None:
    run = start_study(TestClient(create_app()), coordinator_token, statements=1, panelists=1)
    web = browser()
    token = run.panelists[0]["token"]
    opened = [web.get(f"/p/{token}").status_code for _ in range(MAX_UNKNOWN_LINKS_PER_ADDRESS + 5)]
    assert opened == [303] * (MAX_UNKNOWN_LINKS_PER_ADDRESS + 5)
    assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 0
    assert web.get("/p/dp_a-typo").status_code == 404


@pytest.mark.usefixtures("engine")
def test_the_limit_is_per_address() -> None:
    guess(browser(), MAX_UNKNOWN_LINKS_PER_ADDRESS)
    assert browser().get("/p/dp_again").status_code == 429
    assert browser(("203.0.113.20", 40000)).get("/p/dp_again").status_code == 404


def test_the_limit_holds_across_app_instances_and_processes(engine: Engine) -> None:
    """Two apps in this process and one in another process all count into the same rows."""
    third = MAX_UNKNOWN_LINKS_PER_ADDRESS // 3
    assert set(guess(browser(), third)) == {404}
    assert set(guess(browser(), third)) == {404}
    child = (
        "from fastapi.testclient import TestClient\n"
        "from app.main import create_app\n"
        f"web = TestClient(create_app(), client={GUESSER!r})\n"
        f"codes = {{web.get(f'/p/dp_child{{n}}').status_code for n in range({third})}}\n"
        "assert codes == {404}, codes\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "DELPHI_TICK_SECONDS": "0",
    }
    done = subprocess.run(
        [sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert browser().get("/p/dp_last-straw").status_code == 429


def test_old_guesses_expire_after_the_window(session: Session) -> None:
    long_ago = utcnow() - WINDOW - timedelta(seconds=5)
    session.add_all(
        LoginAttempt(email=PERSONAL_LINK, address=GUESSER[0], at=long_ago, succeeded=False)
        for _ in range(MAX_UNKNOWN_LINKS_PER_ADDRESS)
    )
    session.commit()
    assert browser().get("/p/dp_fresh-guess").status_code == 404


def test_link_guesses_and_failed_sign_ins_are_throttled_apart(session: Session) -> None:
    """A panel's guessed links do not lock a coordinator out, nor the other way round."""
    accounts.create_user(session, email="lead@example.org", password="a long passphrase")
    session.add_all(  # 20 failed sign-ins from the address: its sign-in limit
        LoginAttempt(email="lead@example.org", address=GUESSER[0], at=utcnow(), succeeded=False)
        for _ in range(20)
    )
    session.commit()
    assert browser().get("/p/dp_not-blocked-by-sign-ins").status_code == 404
    session.query(LoginAttempt).delete()
    session.commit()
    web = browser()
    guess(web, MAX_UNKNOWN_LINKS_PER_ADDRESS)
    form = web.get("/login")
    signed = web.post(
        "/login",
        data={
            "csrf_token": csrf_of(form.text),
            "email": "lead@example.org",
            "password": "a long passphrase",
        },
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/console"
