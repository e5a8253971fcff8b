"""A world built once through the API and put back for each test that reads it.

Building a multi-round study over HTTP takes seconds; tests that only read it (or write and must
not see each other's writes) share one build: its rows are kept (the fuzz suite's snapshot,
tests/fuzz/seed.py) and restored into each test's empty database. Build it in a session-scoped
fixture, so pytest makes it before the test's own `engine`; restore it in a function-scoped one.
"""

import copy
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from app import db
from app.db import make_engine
from app.main import create_app
from app.models import Base
from tests.fuzz.seed import Rows, restore, snapshot

World = TypeVar("World")


@dataclass(frozen=True)
class Prebuilt(Generic[World]):
    world: World
    client: TestClient  # the client the world's runs were built with, swapped for each test's
    rows: Rows


def build_once(
    database_url: str, folder: Path, build: Callable[[TestClient, Session], World]
) -> Prebuilt[World]:
    """Build in an empty database of its own (SQLite) or the test database emptied (PostgreSQL)."""
    if database_url.startswith("sqlite"):
        copied = folder / "world.sqlite3"
        shutil.copy(database_url.split("///", 1)[1], copied)
        engine = make_engine(f"sqlite:///{copied}")
    else:
        engine = make_engine(database_url)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.set_engine(engine)
    try:
        client = TestClient(create_app())
        with sessionmaker(engine, expire_on_commit=False)() as session:
            world = build(client, session)
        return Prebuilt(world, client, snapshot(engine))
    finally:
        engine.dispose()


def restored(prebuilt: Prebuilt[World], engine: Engine, client: TestClient) -> World:
    """The world's rows in this test's empty database; a copy of its handles that use `client`."""
    restore(engine, prebuilt.rows)
    db.set_engine(engine)
    return copy.deepcopy(prebuilt.world, {id(prebuilt.client): client})
