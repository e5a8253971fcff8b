"""Dump every row of every table, to prove a refused request changed nothing."""

from typing import Any

from sqlalchemy import Engine, select

from app.models import Base


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            table.name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
            for table in Base.metadata.sorted_tables
        }
