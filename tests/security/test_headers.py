"""Security headers on answers the access matrix does not reach, and when cookies are Secure.

Every answer of every route is checked in test_access_matrix.py; here: static files, errors
raised before any route (unknown path, wrong method, oversized body), and https.
"""

import os
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.main import create_app
from app.models import Role
from app.services import accounts
from app.settings import get_settings
from tests.conftest import serving
from tests.factories import start_study
from tests.security.world import csrf_of

PASSWORD = "a long passphrase"


def assert_protected(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "path", ["/static/app.css", "/static/ballot.js", "/static/console.css", "/static/favicon.svg"]
)
def test_static_files_carry_the_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert_protected(response)


def test_errors_before_any_route_carry_the_headers(client: TestClient) -> None:
    unknown = client.get("/no/such/page")
    wrong_method = client.delete("/ballot")
    too_large = client.post(
        "/api/v1/studies",
        content=b"x" * (get_settings().max_body_bytes + 1),
        headers={"content-type": "application/json"},
    )
    assert (unknown.status_code, wrong_method.status_code, too_large.status_code) == (
        404,
        405,
        413,
    )
    for response in (unknown, wrong_method, too_large):
        assert_protected(response)


def set_cookies(response: object) -> list[str]:
    return [v.lower() for k, v in response.headers.multi_items() if k == "set-cookie"]  # type: ignore[attr-defined]


def cookies_of_a_visit(web: TestClient, session: Session, coordinator_token: str) -> list[str]:
    """Every Set-Cookie of a sign-in, a console form, a sign-out and a panelist's visit."""
    accounts.create_user(session, email="lead@example.org", password=PASSWORD, role=Role.admin)
    session.commit()
    seen: list[str] = []
    login = web.get("/login")
    seen += set_cookies(login)
    signed = web.post(
        "/login",
        data={"csrf_token": csrf_of(login.text), "email": "lead@example.org", "password": PASSWORD},
    )
    assert signed.status_code == 303, signed.text
    seen += set_cookies(signed)
    tokens = web.get("/console/tokens")
    revoke = web.post("/console/tokens/999/revoke", data={"csrf_token": csrf_of(tokens.text)})
    seen += set_cookies(revoke)
    created = web.post(
        "/console/accounts",
        data={
            "csrf_token": csrf_of(tokens.text),
            "email": "second@example.org",
            "password": PASSWORD,
            "role": "observer",
        },
    )
    assert created.status_code == 303
    seen += set_cookies(created)  # the one-time message
    shown = web.get("/console/accounts")
    seen += set_cookies(shown)  # the message, cleared
    seen += set_cookies(web.post("/logout", data={"csrf_token": csrf_of(shown.text)}))
    run = start_study(TestClient(create_app()), coordinator_token, statements=1, panelists=1)
    run.open_round(run.new_round()["id"])
    seen += set_cookies(web.get(f"/p/{run.panelists[0]['token']}"))
    ballot = web.get("/ballot")
    saved = web.post("/language", data={"csrf_token": csrf_of(ballot.text), "language": "en"})
    seen += set_cookies(saved)
    names = {c.split("=", 1)[0] for c in seen}
    assert {"delphi_login_csrf", "delphi_console", "delphi_flash", "delphi_panel"} <= names
    return seen


def test_cookies_over_https_are_secure(session: Session, coordinator_token: str) -> None:
    web = TestClient(create_app(), base_url="https://testserver", follow_redirects=False)
    for cookie in cookies_of_a_visit(web, session, coordinator_token):
        assert "secure" in cookie, cookie
        assert "httponly" in cookie, cookie
        assert "samesite=" in cookie, cookie


@pytest.fixture
def https_site() -> Iterator[None]:
    """The public address is https, but TLS ends at a proxy that forwards plain http."""
    wanted = {
        "DELPHI_BASE_URL": "https://delphi.example.org",
        "DELPHI_SECRET_KEY": "a-test-secret-that-is-long-and-random-enough-0123456789",
    }
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


@pytest.mark.usefixtures("https_site")
def test_cookies_behind_a_tls_proxy_are_secure(session: Session, coordinator_token: str) -> None:
    """The browser speaks https to the proxy, so it sends the cookies back; the app sees http."""
    accounts.create_user(session, email="lead@example.org", password=PASSWORD)
    session.commit()
    web = TestClient(create_app(), follow_redirects=False)
    login = web.get("/login")
    csrf = csrf_of(login.text)
    signed = web.post(
        "/login",
        data={"csrf_token": csrf, "email": "lead@example.org", "password": PASSWORD},
        headers={"cookie": f"delphi_login_csrf={csrf}"},
    )
    assert signed.status_code == 303, signed.text
    run = start_study(TestClient(create_app()), coordinator_token, statements=1, panelists=1)
    opened = web.get(f"/p/{run.panelists[0]['token']}")
    seen = set_cookies(login) + set_cookies(signed) + set_cookies(opened)
    names = {c.split("=", 1)[0] for c in seen}
    assert names == {"delphi_login_csrf", "delphi_console", "delphi_device", "delphi_panel"}
    for cookie in seen:
        assert "secure" in cookie, cookie
        assert "httponly" in cookie, cookie


def test_plain_http_cookies_still_work_for_a_local_install(
    session: Session, coordinator_token: str
) -> None:
    """Without https anywhere (make run on a laptop), Secure cookies would never come back."""
    web = TestClient(create_app(), follow_redirects=False)
    for cookie in cookies_of_a_visit(web, session, coordinator_token):
        assert "secure" not in cookie.replace("samesite", ""), cookie
        assert "httponly" in cookie, cookie


@pytest.mark.usefixtures("engine")
@pytest.mark.parametrize("path", ["/crash", "/api/v1/crash"])
def test_an_unexpected_error_answers_500_with_the_headers(path: str) -> None:
    """A bug's 500 is still framed, sniff- and script-protected, and says what to do next."""
    app = create_app()

    @app.get(path)
    def crash() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(path)
    assert response.status_code == 500
    assert_protected(response)
    if path.startswith("/api/"):
        assert "Try again" in response.json()["detail"]
    else:
        assert response.headers["content-type"].startswith("text/html")
        assert "tell the study's coordinator" in response.text
        assert "a bug" not in response.text


def test_after_any_error_answer_the_same_connection_serves_the_next_request(
    coordinator_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A proxy keeps connections open: the request after a 500 (or any refusal) must not be reset.

    The 500 was answered, then the error re-raised to the server, which closed the connection
    under an answer that had promised to keep it; the next request on it was reset.
    """
    app = create_app()

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("a bug")

    bearer = {"Authorization": f"Bearer {coordinator_token}"}
    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as http:

        def on_one_connection(method: str, path: str, **kwargs: object) -> tuple[int, object]:
            response = http.request(method, path, **kwargs)  # type: ignore[arg-type]
            stream = response.extensions["network_stream"]
            return response.status_code, stream.get_extra_info("client_addr")

        answers = [
            on_one_connection("GET", "/crash"),
            on_one_connection("GET", "/api/v1/crash-free/nowhere"),
            on_one_connection("GET", "/api/v1/studies"),
            on_one_connection("POST", "/api/v1/studies", headers=bearer, json={"title": ""}),
            on_one_connection("GET", "/crash"),
            on_one_connection("GET", "/healthz"),
        ]
    assert [status for status, _ in answers] == [500, 404, 401, 422, 500, 200]
    assert len({address for _, address in answers}) == 1, answers
    crashes = [r for r in caplog.records if r.exc_info and "a bug" in str(r.exc_info[1])]
    assert len(crashes) == 2, "each unexpected error is still logged, with its traceback"
