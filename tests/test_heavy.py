"""Heavy work cannot starve the panel: reports and workbooks take turns in slots of their own."""

import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import heavy
from app.db import new_session
from app.models import AuditEntry
from app.settings import get_settings
from tests.factories import StudyRun, start_study

PASSWORD = "correct horse battery"  # tests.factories.coordinator


@pytest.fixture
def two_slots_three_seconds(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Two heavy slots, three seconds in line, and only four request slots per process."""
    monkeypatch.setenv("DELPHI_HEAVY_SLOTS", "2")
    monkeypatch.setenv("DELPHI_HEAVY_WAIT_SECONDS", "3")
    monkeypatch.setenv("DELPHI_MAX_INFLIGHT_REQUESTS", "4")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def in_second_round(client: TestClient, token: str) -> StudyRun:
    """Round 1 closed (what the report shows), round 2 open (what the panel is answering)."""
    run = start_study(client, token, statements=3, panelists=4)
    ids = [s["id"] for s in run.statements]
    first = run.new_round()["id"]
    run.open_round(first)
    for panelist in range(4):
        run.rate(panelist, {sid: 2 + (panelist + k) % 7 for k, sid in enumerate(ids)})
    run.close_round(first)
    second = run.new_round()["id"]
    run.open_round(second)
    return run


def console(base: str) -> httpx.Client:
    web = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text)
    assert token
    form = {"csrf_token": token.group(1), "email": "coord@example.org", "password": PASSWORD}
    assert web.post("/login", data={**form, "next": "/console"}).status_code == 303
    return web


def taken() -> Counter[str]:
    with new_session() as session:
        return Counter(
            session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("export.%")))
        )


def test_a_ballot_is_answered_while_every_report_slot_is_busy(
    two_slots_three_seconds, client, coordinator_token, live_server
):
    """Other processes hold both slots; reports wait in line, the panel does not; then 429."""
    run = in_second_round(client, coordinator_token)
    study = run.study["id"]
    statement_ids = [s["id"] for s in run.statements]
    web = console(live_server)
    api_paths = [f"/api/v1/studies/{study}/report.pdf"] * 3 + [
        f"/api/v1/studies/{study}/export.xlsx",
        f"/api/v1/studies/{study}/report.html?lang=zh_Hans",
    ]

    def api(path: str) -> httpx.Response:
        return httpx.get(live_server + path, headers=run.auth, timeout=60)

    slots = heavy.Slots.here()
    with ExitStack() as rendering_elsewhere, ThreadPoolExecutor(8) as pool:
        for _ in range(2):  # as two other workers' renders would
            rendering_elsewhere.enter_context(slots.render(deadline=time.monotonic()))
        waiting = [pool.submit(api, path) for path in api_paths]
        waiting.append(pool.submit(web.get, f"/console/studies/{study}/report.pdf"))
        time.sleep(0.5)  # all six are in, more than the process's four request slots

        with httpx.Client(base_url=live_server, headers=run.as_panelist(0), timeout=60) as me:
            started = time.monotonic()
            ballot = me.get("/api/v1/ballot")
            fetched = time.monotonic() - started
            started = time.monotonic()
            body = {"ratings": [{"statement_id": sid, "value": 5} for sid in statement_ids]}
            saved = me.put("/api/v1/ballot", json=body)
            saving = time.monotonic() - started
        answers = [future.result() for future in waiting]

    assert ballot.status_code == 200 and saved.status_code == 200, (ballot.text, saved.text)
    assert fetched < 2 and saving < 2, (fetched, saving)
    assert [a.status_code for a in answers] == [429] * 6, [a.text[:200] for a in answers]
    for answer in answers:
        assert int(answer.headers["Retry-After"]) > 0
    assert "try again in" in answers[0].json()["detail"].lower()
    page = answers[-1].text
    assert "try again in about 15 seconds" in page and "请在约 15 秒后重试" in page, page
    assert taken() == Counter(), "a refused report is not recorded as taken"

    free = httpx.get(
        f"{live_server}/api/v1/studies/{study}/report.pdf", headers=run.auth, timeout=120
    )
    assert free.status_code == 200 and free.content.startswith(b"%PDF")
    assert taken() == Counter({"export.report": 1})
    web.close()


def test_sixteen_report_pdfs_at_once_are_made_once_and_each_taken_is_audited(
    client, coordinator_token, live_server, caplog
):
    """One observer's burst of sixteen: one render; each 200 carries the same PDF, and is logged."""
    caplog.set_level(logging.INFO, logger="delphi.renders")
    run = in_second_round(client, coordinator_token)
    url = f"{live_server}/api/v1/studies/{run.study['id']}/report.pdf"

    def fetch(_: int) -> httpx.Response:
        return httpx.get(url, headers=run.auth, timeout=120)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(fetch, range(16)))

    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {200, 429} and statuses[200] > 0, statuses
    pdfs = {a.content for a in answers if a.status_code == 200}
    assert len(pdfs) == 1 and next(iter(pdfs)).startswith(b"%PDF")
    made = [r for r in caplog.records if r.name == "delphi.renders"]
    assert len(made) == 1, [r.getMessage() for r in made]
    assert taken() == Counter({"export.report": statuses[200]})
