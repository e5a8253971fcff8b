"""A client's address behind a reverse proxy cannot be forged (issue #13, point 7).

Only DELPHI_TRUSTED_PROXIES' X-Forwarded-For is believed, and the address is its right-most entry
that is not a trusted proxy, so a client that writes its own X-Forwarded-For (a proxy appends to
it) cannot escape the per-address limits on sign-ins and personal links.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.main import create_app
from app.services.logins import MAX_FAILURES_PER_ADDRESS, MAX_UNKNOWN_LINKS_PER_ADDRESS
from app.settings import ROOT, Settings, get_settings
from tests.security.world import csrf_of

BIN = Path(sys.executable).parent
PROXY = "172.29.86.1"  # compose.yaml's gateway: the host's reverse proxy as the app sees it
CLIENT = "198.51.100.7"


def wrong_sign_ins(
    web: TestClient | httpx.Client, times: int, *, forwarded_for: str, first: int = 0
) -> list[int]:
    """Sign-ins at different unknown e-mails, each with a new forged left-most entry."""
    answers = []
    for n in range(first, first + times):
        headers = {"X-Forwarded-For": f"203.0.113.{n}, {forwarded_for}"}
        form = web.get("/login", headers=headers)
        data = {"csrf_token": csrf_of(form.text), "email": f"guess{n}@example.org", "password": "x"}
        answers.append(web.post("/login", data=data, headers=headers).status_code)
    return answers


def _environment(**variables: str) -> dict[str, str]:
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DELPHI_") and k not in ("DATABASE_URL", "TEST_DATABASE_URL")
    }
    return {**kept, **variables}


@pytest.fixture(params=["delphi serve", "gunicorn"])
def served(request: pytest.FixtureRequest, engine: Engine, tmp_path: Path) -> Iterator[str]:
    """The app as deployed, with FORWARDED_ALLOW_IPS=* left over (compose used to set it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    if request.param == "gunicorn":
        command = [str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")]
    else:
        command = [str(BIN / "delphi"), "serve", "--port", str(port)]
    env = _environment(
        DATABASE_URL=engine.url.render_as_string(hide_password=False),
        DELPHI_TICK_SECONDS="0",
        FORWARDED_ALLOW_IPS="*",
        GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port} --workers 1",
    )
    log = tmp_path / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_forged_x_forwarded_for_does_not_escape_the_address_limit(served: str) -> None:
    """The proxy on loopback (trusted by default) appends the real client after a forged entry."""
    with httpx.Client(base_url=served, timeout=60) as web:
        answers = wrong_sign_ins(web, MAX_FAILURES_PER_ADDRESS + 2, forwarded_for=CLIENT)
    assert answers == [401] * MAX_FAILURES_PER_ADDRESS + [429, 429]


@pytest.fixture
def behind_proxy() -> Iterator[None]:
    """The app trusts compose.yaml's proxy address only."""
    before = os.environ.get("DELPHI_TRUSTED_PROXIES")
    os.environ["DELPHI_TRUSTED_PROXIES"] = PROXY
    get_settings.cache_clear()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DELPHI_TRUSTED_PROXIES", None)
        else:
            os.environ["DELPHI_TRUSTED_PROXIES"] = before
        get_settings.cache_clear()


def through_proxy() -> TestClient:
    return TestClient(create_app(), follow_redirects=False, client=(PROXY, 40000))


@pytest.mark.usefixtures("behind_proxy", "engine")
def test_clients_behind_one_proxy_are_limited_apart() -> None:
    proxy = through_proxy()
    assert set(wrong_sign_ins(proxy, MAX_FAILURES_PER_ADDRESS, forwarded_for=CLIENT)) == {401}
    assert wrong_sign_ins(proxy, 1, forwarded_for=CLIENT, first=100) == [429]
    assert wrong_sign_ins(proxy, 1, forwarded_for="192.0.2.60", first=200) == [401]  # another
    links = [
        proxy.get(f"/p/dp_guess{n}", headers={"X-Forwarded-For": f"10.9.9.{n}, {CLIENT}"})
        for n in range(MAX_UNKNOWN_LINKS_PER_ADDRESS + 1)
    ]
    assert [r.status_code for r in links] == [404] * MAX_UNKNOWN_LINKS_PER_ADDRESS + [429]
    other = proxy.get("/p/dp_typo", headers={"X-Forwarded-For": "192.0.2.60"})
    assert other.status_code == 404


@pytest.mark.usefixtures("behind_proxy", "engine")
def test_a_header_from_a_client_that_is_not_the_proxy_is_ignored() -> None:
    direct = TestClient(create_app(), follow_redirects=False, client=(CLIENT, 40000))
    answers = wrong_sign_ins(direct, MAX_FAILURES_PER_ADDRESS + 1, forwarded_for="192.0.2.60")
    assert answers == [401] * MAX_FAILURES_PER_ADDRESS + [429]


@pytest.mark.parametrize("value", ["*", "proxy.internal", "127.0.0.1, *"])
def test_trusting_every_proxy_or_a_name_refuses_to_start_in_one_line(value: str) -> None:
    refusal = Settings(trusted_proxies=value).refusal()
    assert refusal is not None
    assert refusal.startswith("Refusing to start")
    assert "DELPHI_TRUSTED_PROXIES" in refusal
    assert "\n" not in refusal


def test_compose_believes_only_the_proxy_and_says_why() -> None:
    text = (ROOT / "compose.yaml").read_text()
    compose = yaml.safe_load(text)
    environment = compose["services"]["app"]["environment"]
    assert "FORWARDED_ALLOW_IPS" not in environment
    gateway = compose["networks"]["default"]["ipam"]["config"][0]["gateway"]
    assert environment["DELPHI_TRUSTED_PROXIES"] == f"${{DELPHI_TRUSTED_PROXIES:-{gateway}}}"
    assert "right-most" in text
    readme = (ROOT / "README.md").read_text()
    assert "DELPHI_TRUSTED_PROXIES" in readme
    assert "right-most" in readme
