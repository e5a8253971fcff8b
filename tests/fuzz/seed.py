"""A seeded database for the fuzz tests: built once through the real API, restored per test."""

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from app.models import Base, Role, User
from app.security import hash_password
from app.services import accounts
from tests.factories import StudyRun, start_study

PASSWORD = "correct horse battery"
Rows = dict[str, list[dict[str, Any]]]


def add_coordinator(
    session: Session, *, email: str, password_hash: str, role: Role = Role.coordinator
) -> str:
    """A coordinator whose password is PASSWORD; returns a fresh API token."""
    user = User(email=email, password_hash=password_hash, role=role)
    session.add(user)
    session.flush()
    token = accounts.create_api_token(session, user=user, label="fuzz")
    session.commit()
    return token


@dataclass
class Seeded:
    """The lead's studies in every state (in round 2 after a closed round 1; being set up, with a
    draft round; with its only round closed; finalized) and another coordinator's study."""

    running: StudyRun
    source: dict[str, Any]
    setup: StudyRun
    closed: StudyRun
    finalized: StudyRun
    other: StudyRun
    round_ids: list[int]  # the running study's closed and open rounds, the draft, the closed ones

    @property
    def draft_round_id(self) -> int:
        """The set-up study's draft round."""
        return self.round_ids[2]

    @property
    def lead_email(self) -> str:
        return "lead@example.org"

    def known_ids(self) -> dict[str, list[int]]:
        """Ids that exist, by path parameter name: the lead's, then the other coordinator's."""
        runs = (self.running, self.setup, self.closed, self.finalized, self.other)
        return {
            "study_id": [r.study["id"] for r in runs],
            "statement_id": [s["id"] for r in runs for s in r.statements],
            "panelist_id": [p["id"] for r in runs for p in r.panelists],
            "round_id": self.round_ids,
            "source_id": [self.source["id"]],
        }


def seed(client: TestClient, session: Session) -> Seeded:
    password_hash = hash_password(PASSWORD)  # argon2 once, for both accounts
    lead = add_coordinator(session, email="lead@example.org", password_hash=password_hash)
    running = start_study(client, lead, panelists=4)
    s1, s2, s3 = (s["id"] for s in running.statements)
    source = running.call(
        "POST",
        f"/api/v1/studies/{running.study['id']}/sources",
        201,
        json={"citation": "Smith 2019", "design": "rct", "pedro": 7, "statement_ids": [s1]},
    )
    round1 = running.new_round()
    running.open_round(round1["id"])
    first_answers: list[list[int | None]] = [[9, 1, 8], [8, 9, 2], [9, 5, 9], [7, 2, None]]
    for index, values in enumerate(first_answers):
        running.rate(index, dict(zip((s1, s2, s3), values, strict=True)), submit=index < 2)
    running.close_round(round1["id"])
    round2 = running.new_round()
    running.open_round(round2["id"])
    setup = start_study(client, lead, statements=3, panelists=2)
    draft_round = setup.new_round()
    (closed, closed_round), (finalized, final_round) = (
        _one_closed_round(client, lead) for _ in range(2)
    )
    finalized.call("POST", f"/api/v1/studies/{finalized.study['id']}/finalize")
    other_token = add_coordinator(session, email="other@example.org", password_hash=password_hash)
    other = start_study(client, other_token, statements=1, panelists=1)
    return Seeded(
        running=running,
        source=source,
        setup=setup,
        closed=closed,
        finalized=finalized,
        other=other,
        round_ids=[
            round1["id"],
            round2["id"],
            draft_round["id"],
            closed_round["id"],
            final_round["id"],
        ],
    )


def _one_closed_round(client: TestClient, token: str) -> tuple[StudyRun, dict[str, Any]]:
    run = start_study(client, token, statements=2, panelists=3)
    round_ = run.new_round()
    run.open_round(round_["id"])
    for index in range(3):
        run.rate(index, {s["id"]: 8 for s in run.statements}, submit=True)
    return run, run.close_round(round_["id"])


def snapshot(engine: Engine) -> Rows:
    with engine.connect() as conn:
        return {
            table.name: [dict(row._mapping) for row in conn.execute(select(table))]
            for table in Base.metadata.sorted_tables
        }


def restore(engine: Engine, rows: Rows) -> None:
    """Put the rows back into an empty database; PostgreSQL's id sequences continue after them."""
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if rows[table.name]:
                conn.execute(table.insert(), rows[table.name])
        if engine.dialect.name == "postgresql":
            for table in Base.metadata.sorted_tables:
                if "id" in table.c and rows[table.name]:
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"(SELECT MAX(id) FROM {table.name}))"
                        )
                    )
