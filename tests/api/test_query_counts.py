"""Pages and endpoints issue a number of queries that does not grow with the study's size."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import QueryCounter
from tests.factories import StudyRun, coordinator, start_study


def _two_rounds(
    client: TestClient, token: str, statements: int, panelists: int
) -> tuple[StudyRun, dict[str, Any]]:
    run = start_study(client, token, statements=statements, panelists=panelists)
    round1 = run.new_round()
    run.open_round(round1["id"])
    for i in range(panelists):
        run.rate(i, {s["id"]: 1 + (i * 3 + j) % 9 for j, s in enumerate(run.statements)})
    return run, round1


def _measure(queries: QueryCounter, call: Callable[[], object]) -> int:
    queries.reset()
    call()
    return queries.count


def _counts(client: TestClient, token: str, queries: QueryCounter, size: int) -> dict[str, int]:
    run, round1 = _two_rounds(client, token, statements=size, panelists=6 if size == 5 else 12)
    comment = {"ratings": [{"statement_id": run.statements[0]["id"], "comment": "why"}]}
    run.call("PUT", "/api/v1/ballot", headers=run.as_panelist(0), json=comment)
    counts = {
        "results_open": _measure(queries, lambda: run.results(round1["id"])),
        "close": _measure(queries, lambda: run.close_round(round1["id"])),
        "results_closed": _measure(queries, lambda: run.results(round1["id"])),
    }
    round2 = run.new_round(statement_ids=[s["id"] for s in run.statements])
    run.open_round(round2["id"])
    counts["ballot_with_feedback"] = _measure(
        queries, lambda: run.call("GET", "/api/v1/ballot", headers=run.as_panelist(1))
    )
    values = {s["id"]: 5 for s in run.statements}
    counts["ballot_put"] = _measure(queries, lambda: run.rate(1, values, submit=True))
    return counts


@pytest.fixture
def sizes(
    client: TestClient, coordinator_token: str, session: Session, queries: QueryCounter
) -> dict[int, dict[str, int]]:
    """Query counts of the same calls on a 5-statement and a 200-statement study."""
    big = coordinator(session, email="big@example.org")[1]
    return {
        5: _counts(client, coordinator_token, queries, 5),
        200: _counts(client, big, queries, 200),
    }


@pytest.mark.parametrize(
    "call", ["results_open", "close", "results_closed", "ballot_with_feedback", "ballot_put"]
)
def test_query_count_does_not_grow_with_statements_or_panelists(
    sizes: dict[int, dict[str, int]], call: str
) -> None:
    assert sizes[5][call] == sizes[200][call], (call, sizes[5][call], sizes[200][call])


def test_saving_a_ballot_writes_all_its_ratings_in_one_statement(
    client: TestClient, coordinator_token: str, queries: QueryCounter
) -> None:
    """A burst of panelists saving 200 ratings each costs one INSERT per ballot, not 200."""
    run = start_study(client, coordinator_token, statements=200, panelists=2)
    round1 = run.new_round()
    run.open_round(round1["id"])
    queries.reset()
    run.rate(0, {s["id"]: 1 + j % 9 for j, s in enumerate(run.statements)}, submit=True)
    writes = [
        executions
        for statement, executions in zip(queries.statements, queries.executions, strict=True)
        if statement.startswith("INSERT INTO ratings")
    ]
    assert writes == [1], writes
    # Authenticate, find and lock the open round, read the ballot and the answers, write both
    # tables, look for the previous round's feedback: the saved answers are not read back.
    assert queries.count <= 10, queries.statements
