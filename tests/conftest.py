"""Each test gets a freshly migrated database: SQLite, or PostgreSQL with TEST_DATABASE_URL."""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, ExecutionContext, make_url
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.orm import Session, sessionmaker

from app import db
from app.db import make_engine
from app.main import create_app
from app.models import Base
from app.settings import ROOT, get_settings, normalise_database_url
from tests.mailing import Recorder, mail_settings, running_smtp_server


def pytest_configure() -> None:
    """Tests tick by hand (scheduler.tick_once): an app's background tick, 30 s into a slow test
    on a loaded machine, would run its queries inside that test's query count."""
    os.environ.setdefault("DELPHI_TICK_SECONDS", "0")
    get_settings.cache_clear()


PG_URL = os.environ.get("TEST_DATABASE_URL")
# Separate names let two suites run at once (e.g. DELPHI_PG_TEST_DB=delphi_test_b).
PG_TEST_DB = os.environ.get("DELPHI_PG_TEST_DB", "delphi_test")


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False
    return config


def _recreate_pg_database(url: str) -> str:
    admin = create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_TEST_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {PG_TEST_DB}"))
    admin.dispose()
    return (
        make_url(normalise_database_url(url))
        .set(database=PG_TEST_DB)
        .render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated template: `alembic upgrade head` runs once per test session."""
    if PG_URL:
        url = _recreate_pg_database(PG_URL)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'template.sqlite3'}"
    command.upgrade(alembic_config(url), "head")
    return url


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    """A clean database per test: a copy of the SQLite template, or emptied PostgreSQL tables."""
    if database_url.startswith("sqlite"):
        copy = tmp_path / "test.sqlite3"
        shutil.copy(database_url.split("///", 1)[1], copy)
        engine = make_engine(f"sqlite:///{copy}")
    else:
        engine = make_engine(database_url)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.set_engine(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session for arranging and inspecting; tests commit what the app must see."""
    with sessionmaker(engine, expire_on_commit=False)() as s:
        yield s


class QueryCounter:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.statements: list[str] = []
        # Executions each event stands for: an executemany sends its statement once per row.
        self.executions: list[int] = []
        event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(
        self,
        conn: Connection,  # noqa: ARG002 (SQLAlchemy's before_cursor_execute signature)
        cursor: DBAPICursor,  # noqa: ARG002
        statement: str,
        parameters: Any,
        context: ExecutionContext | None,  # noqa: ARG002
        executemany: bool,
    ) -> None:
        if statement.startswith(("BEGIN", "PRAGMA", "SAVEPOINT", "RELEASE")):
            return
        self.count += 1
        self.statements.append(statement)
        sets = executemany and isinstance(parameters, list | tuple) and parameters
        self.executions.append(
            len(parameters) if sets and isinstance(parameters[0], dict | list | tuple) else 1
        )

    def reset(self) -> None:
        self.count = 0
        self.statements.clear()
        self.executions.clear()


@pytest.fixture
def queries(engine: Engine) -> QueryCounter:
    return QueryCounter(engine)


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:  # noqa: ARG001 (the app runs on this test's database)
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def coordinator_token(session: Session) -> str:
    from tests.factories import coordinator

    return coordinator(session)[1]


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` under a real uvicorn on a free loopback port, in a thread; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(engine: Engine) -> Iterator[str]:  # noqa: ARG001 (the app runs on this test's database)
    """The app under a real uvicorn on a free loopback port, in a thread, on the test database."""
    with serving(create_app()) as url:
        yield url


@pytest.fixture
def smtp() -> Iterator[Recorder]:
    """A real SMTP server (aiosmtpd) the app sends to, recording what arrives."""
    with running_smtp_server() as recorder:
        yield recorder


@pytest.fixture
def no_smtp() -> Iterator[None]:
    """No SMTP server configured: mail is held for the coordinator to pass on."""
    with mail_settings(smtp_host=None):
        yield
