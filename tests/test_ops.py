"""Operating the app: health probes, structured logs without secrets, refusing unsafe production."""

import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app import db
from app.db import make_engine
from app.logs import configure_logging
from app.main import create_app
from app.settings import DEV_SECRET, ROOT, Settings, get_settings
from tests.conftest import QueryCounter
from tests.factories import start_study

BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery"  # tests.factories.coordinator's


# --- /healthz and /readyz -------------------------------------------------------------------


def test_healthz_answers_without_touching_the_database(
    client: TestClient, queries: QueryCounter
) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert queries.count == 0


def test_readyz_is_ok_on_a_migrated_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_an_unreachable_database_fails_readyz_but_not_healthz(engine: Engine) -> None:
    app = create_app()
    db.set_engine(make_engine("postgresql://nobody@127.0.0.1:9/nowhere"))
    try:
        with TestClient(app) as web:
            assert web.get("/healthz").status_code == 200
            ready = web.get("/readyz")
    finally:
        db.set_engine(engine)
    assert ready.status_code == 503
    assert ready.json()["detail"].startswith("The database cannot be reached")
    assert "nobody" not in ready.text  # the connection string is not shown


def test_readyz_says_run_db_upgrade_when_the_schema_is_behind(
    client: TestClient, engine: Engine
) -> None:
    script = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    head = script.get_current_head()
    assert head is not None
    previous = script.get_revision(head).down_revision
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": previous})
    try:
        response = client.get("/readyz")
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert response.status_code == 503
    assert response.json()["detail"] == (
        f"The database schema is at revision {previous}, not {head}; run `delphi db upgrade`."
    )
    assert client.get("/readyz").status_code == 200


def test_readyz_says_when_a_newer_release_migrated_the_database(
    client: TestClient, engine: Engine
) -> None:
    head = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head()
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    try:
        response = client.get("/readyz")
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert response.status_code == 503
    assert "from_the_future, which this version of the app does not know" in response.text


def test_readyz_says_run_db_upgrade_on_an_empty_database(engine: Engine, tmp_path: Path) -> None:
    app = create_app()
    db.set_engine(make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}"))
    try:
        with TestClient(app) as web:
            response = web.get("/readyz")
    finally:
        db.set_engine(engine)
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "detail": "The database has no schema yet; run `delphi db upgrade`.",
    }


def test_probes_are_operational_endpoints_outside_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/healthz" not in paths
    assert "/readyz" not in paths


# --- structured logs --------------------------------------------------------------------------


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_logs_are_json_lines_without_tokens_passwords_cookies_or_emails(
    client: TestClient, coordinator_token: str
) -> None:
    run = start_study(client, coordinator_token, statements=2, panelists=2)
    run.open_round(run.new_round()["id"])
    panelist_token = run.panelists[0]["token"]
    captured = io.StringIO()
    configure_logging("INFO", stream=captured)
    try:
        link = client.get(f"/p/{panelist_token}?lang=zh_Hans", follow_redirects=False)
        assert link.status_code == 303
        assert client.get("/ballot").status_code == 200  # sends the panel session cookie
        ballot = client.get("/api/v1/ballot", headers=run.as_panelist(1))
        assert ballot.status_code == 200
        assert client.get("/api/v1/studies", headers=run.auth).status_code == 200
        form = client.get("/login").text
        wrong = client.post(
            "/login",
            data={"csrf_token": _csrf(form), "email": "coord@example.org", "password": "hunter2!"},
        )
        assert wrong.status_code == 401
        form = client.get("/login").text
        signed_in = client.post(
            "/login",
            data={"csrf_token": _csrf(form), "email": "coord@example.org", "password": PASSWORD},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        assert client.get("/p/dp_not-a-real-token-at-all").status_code == 404
    finally:
        configure_logging("INFO")
    output = captured.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    requests = [line for line in lines if line["logger"] == "delphi.access"]
    seen = {(r["method"], r["path"], r["status"]) for r in requests}
    assert ("GET", "/p/[redacted]", 303) in seen
    assert ("GET", "/p/[redacted]", 404) in seen
    assert ("GET", "/api/v1/ballot", 200) in seen
    assert ("POST", "/login", 401) in seen
    assert ("POST", "/login", 303) in seen
    assert all(isinstance(r["duration_ms"], float) for r in requests)
    assert not any("?" in r["path"] or "lang=" in r["message"] for r in requests)
    secrets = [
        panelist_token,
        run.panelists[1]["token"],
        coordinator_token,
        "dp_not-a-real-token-at-all",
        PASSWORD,
        "hunter2!",
        "coord@example.org",
        "expert0@example.org",
        *(value for value in client.cookies.values() if len(value) > 8),
    ]
    assert len(secrets) > 8  # the console and panel session cookies were among them
    for secret in secrets:
        assert secret not in output, secret


@pytest.mark.usefixtures("engine")
def test_the_log_level_comes_from_delphi_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELPHI_LOG_LEVEL", "debug")
    get_settings.cache_clear()
    captured = io.StringIO()
    try:
        app = create_app()
        configure_logging(get_settings().log_level, stream=captured)
        with TestClient(app) as web:
            web.get("/healthz")
        assert '"path": "/healthz"' in captured.getvalue()  # probes log at DEBUG only
        monkeypatch.setenv("DELPHI_LOG_LEVEL", "WARNING")
        get_settings.cache_clear()
        configure_logging(get_settings().log_level, stream=captured)
        with TestClient(create_app()) as web:
            web.get("/api/v1/ballot")
        assert "/api/v1/ballot" not in captured.getvalue()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        configure_logging(get_settings().log_level)


# --- production settings ----------------------------------------------------------------------


def _clean_environment(**variables: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DELPHI_") and k not in ("DATABASE_URL", "TEST_DATABASE_URL")
    }
    return {**env, **variables}


def _start(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Build the app in a fresh process, as uvicorn or gunicorn would at startup."""
    return subprocess.run(
        [sys.executable, "-c", "from app.main import create_app; create_app()"],
        cwd=tmp_path,  # no .env file here
        env=_clean_environment(**variables),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_with_the_default_secret_refuses_to_start_in_one_line(tmp_path: Path) -> None:
    started = _start(tmp_path, DELPHI_ENVIRONMENT="production")
    assert started.returncode != 0
    assert started.stderr.count("\n") == 1
    assert "Traceback" not in started.stderr
    assert started.stderr.startswith("Refusing to start in production")
    assert "set DELPHI_SECRET_KEY" in started.stderr
    assert DEV_SECRET not in started.stderr


def test_cli_refuses_before_touching_the_database_in_production(tmp_path: Path) -> None:
    database = tmp_path / "prod.sqlite3"
    upgraded = subprocess.run(
        [str(BIN / "delphi"), "db", "upgrade"],
        cwd=tmp_path,
        env=_clean_environment(
            DELPHI_BASE_URL="https://delphi.example.org", DATABASE_URL=f"sqlite:///{database}"
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upgraded.returncode != 0
    assert not database.exists()
    assert upgraded.stderr.strip() == (
        "Refusing to start in production (DELPHI_BASE_URL is https://delphi.example.org) with "
        "the development secret: set DELPHI_SECRET_KEY to a long random value, e.g. the output "
        "of `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`."
    )


def test_production_starts_with_a_long_secret_and_development_with_nothing(tmp_path: Path) -> None:
    secret = "k" * 48
    assert (
        _start(tmp_path, DELPHI_ENVIRONMENT="production", DELPHI_SECRET_KEY=secret).returncode == 0
    )
    development = _start(tmp_path)  # what `make run` relies on
    assert development.returncode == 0, development.stderr


@pytest.mark.parametrize(
    ("variables", "refused"),
    [
        ({"environment": "production"}, True),
        ({"environment": "Production", "secret_key": "too-short"}, True),
        ({"base_url": "https://delphi.example.org"}, True),
        ({"base_url": "https://delphi.example.org", "secret_key": "s" * 32}, False),
        ({"base_url": "https://localhost:8443"}, False),
        ({"base_url": "http://delphi.example.org"}, False),
        ({}, False),
    ],
)
def test_what_counts_as_production(variables: dict[str, Any], refused: bool) -> None:
    assert (Settings(**variables).refusal() is not None) == refused


# --- the container's server command -----------------------------------------------------------


def test_compose_file_wires_the_app_to_postgres_with_a_required_secret() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    app, database = compose["services"]["app"], compose["services"]["db"]
    assert database["image"] == "postgres:15"
    assert "healthcheck" in database
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    environment = app["environment"]
    assert environment["DELPHI_SECRET_KEY"].startswith("${DELPHI_SECRET_KEY:?")
    assert environment["DELPHI_DATABASE_URL"].startswith("postgresql://")
    assert environment["DELPHI_ENVIRONMENT"] == "production"
    readable = set(Settings.model_fields) | {"database_url"}
    for name in environment:
        if name.startswith("DELPHI_"):
            assert name.removeprefix("DELPHI_").lower() in readable, name


def test_gunicorn_as_in_the_dockerfile_serves_probes_with_json_logs(
    engine: Engine, tmp_path: Path
) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "delphi db upgrade && exec gunicorn" in dockerfile
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = engine.url.render_as_string(hide_password=False)
    stderr = tmp_path / "gunicorn.log"
    with stderr.open("w") as log:
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")],
            cwd=ROOT,
            env=_clean_environment(
                DATABASE_URL=url,
                DELPHI_TICK_SECONDS="0",
                GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port} --workers 1",
            ),
            stderr=log,
            stdout=log,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, stderr.read_text()
                assert time.monotonic() < deadline, stderr.read_text()
                time.sleep(0.2)
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/p/dp_secret-link-token").status_code == 404
    finally:
        server.terminate()
        server.wait(timeout=30)
    lines = [json.loads(line) for line in stderr.read_text().splitlines()]
    assert any(line["logger"] == "gunicorn.error" for line in lines)  # the master's lines too
    assert any(line.get("path") == "/p/[redacted]" and line["status"] == 404 for line in lines)
    assert "dp_secret-link-token" not in stderr.read_text()
