"""Writing a saved ballot: its ratings and its ballot row, one statement each, per engine.

PostgreSQL takes the ratings as arrays through unnest() (one short statement it prepares once);
SQLite, and any other engine, takes them as a multi-row VALUES. Both replace an earlier save of
the same rating (ON CONFLICT … DO UPDATE) and run in the caller's transaction, never committing.
"""

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Boolean, Integer, String, Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.models import Ballot
from app.services.ballots.reading import RATINGS, Answer


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


ANSWER_COLUMNS = ("value", "abstain", "comment", "strength")


@cache
def _unnest_upsert() -> Any:
    """PostgreSQL: the ballot as arrays through unnest(), built once.

    A short statement, the same whatever the ballot's size, that psycopg caches and PostgreSQL
    prepares; a multi-row VALUES of 50 ratings is re-parsed on both sides on every save.
    """
    table = RATINGS
    arrays = [
        bindparam(name, type_=ARRAY(type_))
        for name, type_ in (
            ("statement_id", Integer()),
            ("value", Integer()),
            ("abstain", Boolean()),
            ("comment", Text()),
            ("strength", String()),
        )
    ]
    rows = (
        func.unnest(*arrays)
        .table_valued("statement_id", *ANSWER_COLUMNS)
        .render_derived(name="answers")
    )
    now = bindparam("now", type_=table.c.updated_at.type)
    source = select(
        bindparam("round_id", type_=Integer()),
        rows.c.statement_id,
        bindparam("panelist_id", type_=Integer()),
        *(rows.c[name] for name in ANSWER_COLUMNS),
        now,
        now,
    )
    columns = ["round_id", "statement_id", "panelist_id", *ANSWER_COLUMNS]
    return _on_conflict(
        pg_insert(table).from_select([*columns, "created_at", "updated_at"], source)
    )


def upsert_ratings(
    session: Session, *, round_id: int, panelist_id: int, merged: dict[int, Answer], now: datetime
) -> None:
    """The whole ballot in one INSERT … ON CONFLICT, not one statement per rating.

    Rows go in one fixed order, so two saves of the same ballot never deadlock.
    """
    if not merged:
        return
    answers = sorted(merged.items())
    if session.get_bind().dialect.name == "postgresql":
        arrays = {name: [getattr(a, name) for _, a in answers] for name in ANSWER_COLUMNS}
        session.execute(
            _unnest_upsert(),
            {
                "round_id": round_id,
                "panelist_id": panelist_id,
                "now": now,
                "statement_id": [sid for sid, _ in answers],
                **arrays,
            },
        )
        return
    # Elsewhere RETURNING lets SQLAlchemy's "insertmanyvalues" batch the rows into multi-row
    # VALUES from one cached compilation; Core, as the ORM's bulk path adds per-row bookkeeping.
    statement = _on_conflict(sqlite_insert(RATINGS)).returning(RATINGS.c.id)
    session.connection().execute(
        statement,
        [
            {
                "round_id": round_id,
                "statement_id": sid,
                "panelist_id": panelist_id,
                "value": a.value,
                "abstain": a.abstain,
                "comment": a.comment,
                "strength": a.strength,
                "created_at": now,
                "updated_at": now,
            }
            for sid, a in answers
        ],
    )


def _on_conflict(statement: Any) -> Any:
    """A second save of a rating replaces the first (the unique round × statement × panelist)."""
    return statement.on_conflict_do_update(
        index_elements=["round_id", "panelist_id", "statement_id"],
        set_={name: getattr(statement.excluded, name) for name in (*ANSWER_COLUMNS, "updated_at")},
    )


def touch_ballot(
    session: Session, *, round_id: int, panelist_id: int, submit: bool, now: datetime
) -> datetime | None:
    """Record the save (and the submission); returns when the ballot was submitted, if it was."""
    statement = _insert(session)(Ballot).values(
        round_id=round_id,
        panelist_id=panelist_id,
        submitted_at=now if submit else None,
        updated_at=now,
    )
    changes: dict[str, Any] = {"updated_at": statement.excluded.updated_at}
    if submit:
        changes["submitted_at"] = statement.excluded.submitted_at
    submitted_at: datetime | None = session.scalar(
        statement.on_conflict_do_update(
            index_elements=["round_id", "panelist_id"], set_=changes
        ).returning(Ballot.submitted_at)
    )
    return submitted_at
