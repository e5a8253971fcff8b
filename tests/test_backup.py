"""`delphi backup` and `delphi restore`, on SQLite or on PostgreSQL (TEST_DATABASE_URL)."""

import sqlite3
import threading
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select, text
from typer.testing import CliRunner

from app.cli import cli
from app.models import Panelist, Rating
from tests.dbstate import dump
from tests.factories import StudyRun, start_study

runner = CliRunner()


def _rated_study(client: TestClient, token: str) -> tuple[StudyRun, int, int]:
    """Round 1 closed (one statement settled, one not), round 2 drafted with what is left."""
    run = start_study(client, token, statements=2, panelists=4)
    first, second = (s["id"] for s in run.statements)
    round_1 = run.new_round()["id"]
    run.open_round(round_1)
    for index, value in enumerate([1, 9, 5, 8]):
        run.rate(index, {first: 8, second: value}, submit=True)
    run.close_round(round_1)
    round_2 = run.new_round()
    assert [s["id"] for s in round_2["statements"]] == [second]
    return run, round_1, round_2["id"]


def test_restore_brings_back_exactly_what_was_backed_up(
    engine: Engine, client: TestClient, coordinator_token: str, tmp_path: Path
) -> None:
    run, round_1, round_2 = _rated_study(client, coordinator_token)
    results = run.results(round_1)
    saved = dump(engine)
    path = tmp_path / "delphi.backup"

    made = runner.invoke(cli, ["backup", str(path)])
    assert made.exit_code == 0, made.output
    assert made.output.startswith("Backed up ")
    assert path.stat().st_size > 0

    # After the backup the study moves on, and then someone deletes every rating.
    run.open_round(round_2)
    run.rate(0, {run.statements[1]["id"]: 7})
    run.close_round(round_2)
    run.call("PUT", f"/api/v1/statements/{run.statements[0]['id']}", json={
        "text": "Reworded after the backup", "rationale": "clarity"})  # fmt: skip
    with engine.begin() as conn:
        conn.execute(delete(Rating))
    assert dump(engine) != saved

    restored = runner.invoke(cli, ["restore", str(path), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert "Restored" in restored.output
    assert "db upgrade" not in restored.output
    assert dump(engine) == saved
    # The app serves the restored study to the same coordinator token, as before.
    assert run.results(round_1) == results
    assert run.call("GET", f"/api/v1/rounds/{round_2}/results", expect=409)


def test_restore_without_yes_refuses_and_changes_nothing(
    engine: Engine, client: TestClient, coordinator_token: str, tmp_path: Path
) -> None:
    _rated_study(client, coordinator_token)
    path = tmp_path / "delphi.backup"
    assert runner.invoke(cli, ["backup", str(path)]).exit_code == 0
    with engine.begin() as conn:
        conn.execute(delete(Rating))
    before = dump(engine)

    refused = runner.invoke(cli, ["restore", str(path)])

    assert refused.exit_code == 1
    assert "add --yes to go ahead. Nothing was changed." in refused.output
    assert dump(engine) == before


def test_restore_refuses_files_that_are_not_delphi_backups(
    engine: Engine, client: TestClient, coordinator_token: str, tmp_path: Path
) -> None:
    start_study(client, coordinator_token, statements=1, panelists=1)
    before = dump(engine)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a backup")
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE things (id INTEGER)")
    sqlite = engine.url.get_backend_name() == "sqlite"

    for path, reason in [
        (tmp_path / "missing.backup", "is not a file"),
        (notes, "not an SQLite database" if sqlite else "not a pg_dump archive"),
        (other, "not a Delphi one" if sqlite else "is an SQLite database, but the database is"),
    ]:
        refused = runner.invoke(cli, ["restore", str(path), "--yes"])
        assert refused.exit_code == 1, refused.output
        assert reason in refused.output, refused.output
        assert "Nothing was changed." in refused.output
    assert dump(engine) == before


def test_backup_never_overwrites_a_file(
    client: TestClient, coordinator_token: str, tmp_path: Path
) -> None:
    start_study(client, coordinator_token, statements=1, panelists=1)
    path = tmp_path / "delphi.backup"
    path.write_text("yesterday's")
    refused = runner.invoke(cli, ["backup", str(path)])
    assert refused.exit_code == 1
    assert "already exists" in refused.output
    assert path.read_text() == "yesterday's"


def test_a_backup_taken_while_panelists_rate_holds_whole_ballots(
    engine: Engine, live_server: str, coordinator_token: str, client: TestClient, tmp_path: Path
) -> None:
    """Every ballot is saved in one transaction, so a consistent copy has all of one or none."""
    statements, panelists = 8, 24
    run = start_study(client, coordinator_token, statements=statements, panelists=panelists)
    run.open_round(run.new_round()["id"])
    ballot = {"ratings": [{"statement_id": s["id"], "value": 5} for s in run.statements]}
    failures: list[int] = []

    def vote() -> None:
        with httpx.Client(base_url=live_server, timeout=60) as http:
            for panelist in run.panelists:
                auth = {"Authorization": f"Bearer {panelist['token']}"}
                response = http.put("/api/v1/ballot", json=ballot, headers=auth)
                if response.status_code != 200:
                    failures.append(response.status_code)

    def saved_ratings() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(Rating)).scalar_one()

    voters = threading.Thread(target=vote)
    voters.start()
    deadline = time.monotonic() + 60
    while saved_ratings() < 3 * statements and time.monotonic() < deadline:
        time.sleep(0.01)
    path = tmp_path / "during.backup"
    made = runner.invoke(cli, ["backup", str(path)])
    voters.join()
    assert made.exit_code == 0, made.output
    assert not failures
    assert saved_ratings() == statements * panelists

    assert runner.invoke(cli, ["restore", str(path), "--yes"]).exit_code == 0
    with engine.connect() as conn:
        per_panelist = conn.execute(
            select(Panelist.id, func.count(Rating.id))
            .outerjoin(Rating, Rating.panelist_id == Panelist.id)
            .group_by(Panelist.id)
        ).all()
        assert conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    counts = [count for _, count in per_panelist]
    assert len(counts) == panelists
    assert sum(counts) > 0
    assert set(counts) <= {0, statements}, counts
