"""The fuzz tests share one seeded database, built once per session and restored per test."""

import shutil
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from app import db
from app.db import make_engine
from app.main import create_app
from app.models import Base
from tests.fuzz.forms import csrf
from tests.fuzz.seed import PASSWORD, Rows, Seeded, restore, seed, snapshot

_APP = create_app()  # the app keeps no state of its own: the database is the test's


@dataclass
class Fixture:
    seeded: Seeded
    rows: Rows


@pytest.fixture(scope="session")
def seed_fixture(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    """Seed through the API once (about a second), then keep the rows."""
    if database_url.startswith("sqlite"):
        copy = tmp_path_factory.mktemp("fuzz") / "seed.sqlite3"
        shutil.copy(database_url.split("///", 1)[1], copy)
        engine = make_engine(f"sqlite:///{copy}")
    else:
        engine = make_engine(database_url)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.set_engine(engine)
    try:
        with sessionmaker(engine, expire_on_commit=False)() as session:
            seeded = seed(TestClient(_APP), session)
        return Fixture(seeded, snapshot(engine))
    finally:
        engine.dispose()


@pytest.fixture
def seeded(engine: Engine, seed_fixture: Fixture) -> Seeded:
    """This test's clean database, holding the seeded studies."""
    restore(engine, seed_fixture.rows)
    db.set_engine(engine)
    return seed_fixture.seeded


@pytest.fixture
def console(seeded: Seeded) -> TestClient:
    """The lead coordinator signed in to the console."""
    web = TestClient(_APP, follow_redirects=False)
    login = web.get("/login").text
    response = web.post(
        "/login",
        data={"csrf_token": csrf(login), "email": seeded.lead_email, "password": PASSWORD},
    )
    assert response.status_code == 303, response.text
    return web


@pytest.fixture
def panelist(seeded: Seeded) -> TestClient:
    """A panelist of the study in its second round, signed in by their personal link."""
    web = TestClient(_APP, follow_redirects=False)
    assert web.get(f"/p/{seeded.running.panelists[0]['token']}").status_code == 303
    return web
