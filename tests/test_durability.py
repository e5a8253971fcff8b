"""A real server killed mid-burst loses nothing it acknowledged; two servers close a round once.

SQLite runs in WAL mode with synchronous=FULL (app/db.py), so a 200 means the rating is on disk
before the answer leaves; PostgreSQL commits before the response is sent (app/http/deps.py).
"""

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from app.models import Rating, ResultSnapshot
from bench.load import Server, start_server
from tests.factories import start_study

PANELISTS = 12
STATEMENTS = 40


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()  # the whole process group: no worker may outlive the test


def test_every_acknowledged_rating_survives_a_sigkill(
    client: TestClient, coordinator_token: str, engine: Engine, servers: list[Server]
) -> None:
    run = start_study(client, coordinator_token, statements=STATEMENTS, panelists=PANELISTS)
    round_ = run.new_round()
    run.open_round(round_["id"])
    engine.dispose()  # the server process owns the database from here
    server = start_server(_url(engine), workers=2, factory="app.main:create_app")
    servers.append(server)
    acknowledged: list[tuple[int, int, int]] = []  # (panelist index, statement id, value)
    lock = threading.Lock()
    stop = threading.Event()

    def panelist(index: int) -> None:
        token = run.panelists[index]["token"]
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for j, statement in enumerate(run.statements):
                if stop.is_set():
                    return
                value = 1 + (index + j) % 9
                try:
                    response = http.put(
                        "/api/v1/ballot",
                        headers={"Authorization": f"Bearer {token}"},
                        json={"ratings": [{"statement_id": statement["id"], "value": value}]},
                    )
                except httpx.HTTPError:
                    return  # the server died under us: this answer was never acknowledged
                if response.status_code == 200:
                    with lock:
                        acknowledged.append((index, statement["id"], value))

    threads = [threading.Thread(target=panelist, args=(i,)) for i in range(PANELISTS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < PANELISTS * STATEMENTS // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # mid-burst, master and workers at once: no shutdown, no flush
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert 0 < len(acknowledged) < PANELISTS * STATEMENTS, "the kill must land mid-burst"

    restarted = start_server(_url(engine), workers=1, factory="app.main:create_app")
    servers.append(restarted)
    ids = {p["id"]: i for i, p in enumerate(run.panelists)}
    with engine.connect() as conn:
        stored = {
            (ids[panelist_id], statement_id): (value, copies)
            for panelist_id, statement_id, value, copies in conn.execute(
                select(Rating.panelist_id, Rating.statement_id, Rating.value, func.count())
                .where(Rating.round_id == round_["id"])
                .group_by(Rating.panelist_id, Rating.statement_id, Rating.value)
            )
        }
    lost = [a for a in acknowledged if stored.get((a[0], a[1])) != (a[2], 1)]
    assert lost == [], f"{len(lost)} acknowledged ratings missing or duplicated after the kill"
    # and the restarted server serves them
    with httpx.Client(base_url=restarted.url, timeout=10) as http:
        index, statement_id, value = acknowledged[0]
        ballot = http.get(
            "/api/v1/ballot",
            headers={"Authorization": f"Bearer {run.panelists[index]['token']}"},
        ).json()
    saved = {item["statement_id"]: item["value"] for item in ballot["items"]}
    assert saved[statement_id] == value


def test_two_servers_closing_the_same_round_close_it_once(
    client: TestClient, coordinator_token: str, engine: Engine, servers: list[Server]
) -> None:
    run = start_study(client, coordinator_token, statements=5, panelists=4)
    round_ = run.new_round()
    run.open_round(round_["id"])
    for i in range(4):
        run.rate(i, {s["id"]: 5 + i for s in run.statements})
    engine.dispose()
    first = start_server(_url(engine), workers=1, factory="app.main:create_app")
    second = start_server(_url(engine), workers=1, factory="app.main:create_app")
    servers.extend([first, second])
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def close(server: Server) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            barrier.wait()
            response = http.post(f"/api/v1/rounds/{round_['id']}/close", headers=run.auth)
            statuses.append(response.status_code)

    threads = [threading.Thread(target=close, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200, 409]
    with engine.connect() as conn:
        snapshots = conn.scalar(select(func.count()).where(ResultSnapshot.round_id == round_["id"]))
    assert snapshots == 5, "one snapshot per statement, from the one close that won"
