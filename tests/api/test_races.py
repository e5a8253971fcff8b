"""Concurrent writers: a close racing ballots loses nothing that got a 200 and counts no 409."""

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

from app.db import begin_write
from app.models import Rating, ResultSnapshot
from app.services import rounds
from app.services.errors import Conflict
from tests.factories import start_study

PANEL = 50


def test_ballots_racing_a_close_are_either_counted_or_refused(
    client: TestClient, coordinator_token: str, live_server: str, engine: Engine
) -> None:
    """50 panelists keep re-saving while the round closes: the last 200 each got is what counts."""
    run = start_study(client, coordinator_token, statements=2, panelists=PANEL)
    s1, s2 = (s["id"] for s in run.statements)
    round_id = run.new_round()["id"]
    run.open_round(round_id)
    acknowledged: dict[int, int] = {}  # panelist -> value of their last 200
    statuses: Counter[int] = Counter()
    start = threading.Barrier(PANEL + 1)

    def keep_voting(i: int) -> None:
        with httpx.Client(base_url=live_server, timeout=60) as http:
            start.wait()
            for attempt in range(500):
                value = 1 + (i + attempt) % 9
                body = {
                    "ratings": [
                        {"statement_id": s1, "value": value},
                        {"statement_id": s2, "value": value},
                    ]
                }
                status = http.put("/api/v1/ballot", json=body, headers=run.as_panelist(i))
                statuses[status.status_code] += 1
                if status.status_code == 200:
                    acknowledged[i] = value
                else:
                    assert status.status_code == 409, status.text
                    assert "No round is open" in status.json()["detail"]
                    return

    def close() -> None:
        with httpx.Client(base_url=live_server, timeout=60) as http:
            start.wait()
            # Let the ballots get going (by count, not by clock: CI machines differ in speed).
            deadline = time.monotonic() + 60
            while statuses[200] < 2 * PANEL and time.monotonic() < deadline:
                time.sleep(0.01)
            response = http.post(f"/api/v1/rounds/{round_id}/close", headers=run.auth)
            assert response.status_code == 200, response.text

    with ThreadPoolExecutor(max_workers=PANEL + 1) as pool:
        futures = [pool.submit(keep_voting, i) for i in range(PANEL)] + [pool.submit(close)]
        for future in futures:
            future.result()

    assert statuses[409] == PANEL  # every panelist was eventually refused …
    assert statuses[200] > PANEL  # … after saving several times while the close approached
    expected = Counter(str(v) for v in acknowledged.values())
    results = run.results(round_id)
    for statement in results["statements"]:
        assert statement["n"] == len(acknowledged)
        assert {k: v for k, v in statement["histogram"].items() if v} == dict(expected)
    with engine.connect() as conn:
        stored = conn.execute(
            select(Rating.panelist_id, Rating.statement_id, Rating.value).where(
                Rating.round_id == round_id
            )
        ).all()
    ids = {p["id"]: i for i, p in enumerate(run.panelists)}
    assert sorted((ids[p], s, v) for p, s, v in stored) == sorted(
        (i, s, v) for i, v in acknowledged.items() for s in (s1, s2)
    )


def test_exactly_one_of_several_concurrent_closers_wins(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run = start_study(client, coordinator_token, statements=3, panelists=4)
    round_id = run.new_round()["id"]
    run.open_round(round_id)
    for i in range(4):
        run.rate(i, {s["id"]: 8 for s in run.statements})
    closers = 6
    start = threading.Barrier(closers)
    make_session = sessionmaker(engine, expire_on_commit=False)

    def close() -> str:
        with make_session() as session:
            start.wait()
            begin_write(session)
            try:
                rounds.close_round(session, round_id=round_id, actor=None)
                session.commit()
                return "won"
            except Conflict:
                session.rollback()
                return "refused"

    with ThreadPoolExecutor(max_workers=closers) as pool:
        verdicts = Counter(pool.map(lambda _: close(), range(closers)))
    assert verdicts == {"won": 1, "refused": closers - 1}
    with engine.connect() as conn:
        snapshots = conn.scalar(
            select(func.count())
            .select_from(ResultSnapshot)
            .where(ResultSnapshot.round_id == round_id)
        )
    assert snapshots == 3
