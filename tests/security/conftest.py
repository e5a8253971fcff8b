"""A database that lives for a whole test module, for checks that share one built world."""

import shutil
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from app import db
from app.db import make_engine
from app.models import Base


@pytest.fixture(scope="module")
def module_engine(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Like conftest's `engine`, but built once per module (the world takes seconds to make)."""
    if database_url.startswith("sqlite"):
        copy = tmp_path_factory.mktemp("world") / "world.sqlite3"
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
