"""The `delphi` command as a newcomer and an operator use it."""

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import cli
from app.models import Round, RoundStatus, utcnow
from tests.factories import start_study

runner = CliRunner()


def test_create_coordinator_prints_a_working_api_token_last(client: TestClient) -> None:
    result = runner.invoke(
        cli,
        [
            "create-coordinator",
            "--email",
            "lead@example.org",
            "--password",
            "a long one",
            "--print-token",
        ],
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    response = client.get("/api/v1/studies", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.usefixtures("engine")
def test_create_coordinator_refuses_a_duplicate_email() -> None:
    args = ["create-coordinator", "--email", "lead@example.org", "--password", "a long one"]
    assert runner.invoke(cli, args).exit_code == 0
    again = runner.invoke(cli, args)
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_tick_closes_a_round_whose_deadline_passed(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    run = start_study(client, coordinator_token, statements=1, panelists=2)
    round_id = run.new_round()["id"]
    run.open_round(round_id, closes_at=utcnow() + timedelta(minutes=1))
    round_ = session.get_one(Round, round_id)
    round_.closes_at = utcnow() - timedelta(seconds=1)
    session.commit()
    result = runner.invoke(cli, ["tick"])
    assert result.exit_code == 0
    assert "Closed 1 round" in result.output
    assert run.results(round_id)["round"]["status"] == RoundStatus.closed.value
    idle = runner.invoke(cli, ["tick"])
    assert idle.exit_code == 0, idle.output
    assert "Nothing due" in idle.output


def test_demo_seeds_once_and_prints_links_that_open_a_ballot(client: TestClient) -> None:
    first = runner.invoke(cli, ["demo"])
    assert first.exit_code == 0, first.output
    assert "Demo study created" in first.output
    links = [line.split()[-1] for line in first.output.splitlines() if "Panelist P0" in line]
    assert len(links) == 3
    token = links[0].rsplit("/", 1)[1]
    ballot = client.get("/api/v1/ballot", headers={"Authorization": f"Bearer {token}"}).json()
    assert ballot["round"]["number"] == 2
    assert ballot["items"][0]["feedback"]["histogram"]
    second = runner.invoke(cli, ["demo"])
    assert second.exit_code == 0, second.output
    assert "Demo study ready" in second.output  # not seeded twice
    stale = client.get("/api/v1/ballot", headers={"Authorization": f"Bearer {token}"})
    assert stale.status_code == 401  # links were re-issued


def test_simulate_prints_consensus_per_round() -> None:
    result = runner.invoke(
        cli, ["simulate", "--panelists", "12", "--statements", "6", "--rounds", "3", "--seed", "7"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Simulated Delphi (12 panelists, 6 statements, seed 7)")
    round_lines = [line for line in lines if line.startswith("Round ")]
    assert round_lines[0].startswith("Round 1: 6 statements rated")
    assert "of 6 statements reached consensus" in lines[-1]


def test_simulate_is_reproducible_with_a_seed() -> None:
    args = ["simulate", "--panelists", "10", "--statements", "5", "--seed", "3"]
    first, second = runner.invoke(cli, args), runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert first.output.startswith("Simulated Delphi (10 panelists, 5 statements, seed 3)")
    assert second.output == first.output


def test_commands_on_an_empty_database_say_to_migrate_first(tmp_path: Path) -> None:
    from app import db
    from app.db import make_engine

    db.set_engine(make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}"))
    for command in (
        ["demo"],
        ["tick"],
        ["create-coordinator", "--email", "a@b.org", "--password", "long enough"],
    ):
        result = runner.invoke(cli, command)
        assert result.exit_code == 1
        assert "run `delphi db upgrade` first" in result.output


def test_simulate_refuses_a_scale_it_does_not_know() -> None:
    result = runner.invoke(cli, ["simulate", "--scale", "7"])
    assert result.exit_code == 2
    assert "--scale takes 9" in result.output


def test_simulate_can_grade_and_finalize_reproducibly() -> None:
    args = ["simulate", "--panelists", "15", "--statements", "4", "--seed", "5", "--finalize"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    grades = [line for line in first.output.splitlines() if line.startswith("  S0")]
    assert len(grades) == 4
    assert all("→" in line for line in grades)
    assert any("no recommendation" in line or "Grade" in line for line in grades)
    digest = first.output.strip().splitlines()[-1].rsplit(" ", 1)[1]
    assert len(digest) == 64
    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert again.output == first.output  # same seed, same hash
