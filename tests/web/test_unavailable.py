"""A database outage answers 503 with Retry-After and a sentence, and the app recovers alone."""

import os
import sqlite3
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from app import db
from app.db import make_engine
from app.models import Rating
from app.settings import get_settings
from tests.factories import StudyRun, start_study
from tests.netfault import TcpProxy

PG = os.environ.get("TEST_DATABASE_URL")


def _open_study(client: TestClient, token: str) -> tuple[StudyRun, int]:
    run = start_study(client, token, statements=1, panelists=1)
    run.open_round(run.new_round()["id"])
    return run, run.statements[0]["id"]


def _save(http: httpx.Client, run: StudyRun, statement_id: int, value: int) -> httpx.Response:
    body = {"ratings": [{"statement_id": statement_id, "value": value}]}
    return http.put("/api/v1/ballot", json=body, headers=run.as_panelist(0))


def _assert_unavailable(response: httpx.Response, *, says: str) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["cache-control"] == "no-store"
    assert says in response.text


@pytest.fixture
def proxied(engine: Engine) -> Iterator[TcpProxy]:
    """The app reaches PostgreSQL through a hop the test can cut."""
    url = make_url(str(engine.url.render_as_string(hide_password=False)))
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    through = make_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
    db.set_engine(through)
    yield proxy
    proxy.close()
    through.dispose()
    db.set_engine(engine)


@pytest.mark.skipif(not PG, reason="a PostgreSQL outage needs PostgreSQL")
def test_a_postgresql_outage_answers_503_and_passes_without_a_restart(
    client: TestClient, coordinator_token: str, live_server: str, proxied: TcpProxy, engine: Engine
) -> None:
    run, statement_id = _open_study(client, coordinator_token)
    acknowledged: list[int] = []
    with httpx.Client(base_url=live_server, timeout=30) as http:  # one kept-alive connection
        assert _save(http, run, statement_id, 3).status_code == 200
        acknowledged.append(3)
        proxied.cut()
        _assert_unavailable(_save(http, run, statement_id, 4), says="database is not answering")
        _assert_unavailable(
            http.get("/api/v1/ballot", headers=run.as_panelist(0)), says="database is not answering"
        )
        link = f"/p/{run.panelists[0]['token']}"
        _assert_unavailable(http.get(link), says="Please try again in a moment")
        _assert_unavailable(http.get(link, headers={"accept-language": "zh-CN"}), says="请稍后再试")
        proxied.mend()
        saved = _save(http, run, statement_id, 5)
        assert saved.status_code == 200, saved.text
        acknowledged.append(5)
        assert http.get("/api/v1/ballot", headers=run.as_panelist(0)).status_code == 200
    with engine.connect() as conn:
        assert conn.scalar(select(Rating.value)) == acknowledged[-1]


@pytest.fixture
def short_busy_timeout(engine: Engine) -> Iterator[Engine]:
    """SQLite that waits 300 ms for a lock instead of 30 s, on the test's database file."""
    os.environ["DELPHI_SQLITE_BUSY_TIMEOUT_MS"] = "300"
    get_settings.cache_clear()
    impatient = make_engine(engine.url.render_as_string(False))
    db.set_engine(impatient)
    try:
        yield impatient
    finally:
        os.environ.pop("DELPHI_SQLITE_BUSY_TIMEOUT_MS")
        get_settings.cache_clear()
        impatient.dispose()
        db.set_engine(engine)


@pytest.mark.usefixtures("short_busy_timeout")
@pytest.mark.skipif(bool(PG), reason="SQLite's own lock")
def test_a_sqlite_file_held_locked_answers_503_then_saves_again(
    client: TestClient,
    coordinator_token: str,
    live_server: str,
    engine: Engine,
) -> None:
    """A backup or another program holding the file's write lock past the busy timeout."""
    run, statement_id = _open_study(client, coordinator_token)
    database = engine.url.database
    assert database is not None
    holder = sqlite3.connect(database, isolation_level=None)
    with httpx.Client(base_url=live_server, timeout=30) as http:
        holder.execute("BEGIN IMMEDIATE")
        _assert_unavailable(_save(http, run, statement_id, 4), says="database is not answering")
        form = http.get(f"/p/{run.panelists[0]['token']}", follow_redirects=True)
        assert form.status_code == 200  # reading still works while the lock is held
        holder.execute("ROLLBACK")
        assert _save(http, run, statement_id, 5).status_code == 200
    holder.close()
    with engine.connect() as conn:
        assert conn.scalar(select(Rating.value)) == 5


@pytest.mark.skipif(bool(PG), reason="a table dropped from the shared PostgreSQL test database")
def test_a_missing_table_is_a_logged_500_not_an_outage(
    client: TestClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A deployment fault (no migration run) must not hide behind "try again in a moment"."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE login_attempts")
    with caplog.at_level("ERROR", logger="delphi.errors"):
        response = client.get("/p/dp_no_such_link", follow_redirects=False)
    assert response.status_code == 500
    assert "retry-after" not in response.headers
    assert any("no such table" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
