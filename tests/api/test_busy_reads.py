"""Reading while others write: exports, reports and console pages never fail on a busy study."""

import csv
import io
import json
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from app.db import ReadRequestWrote, new_session, transaction, write_now
from app.models import AuditEntry, UserSession, utcnow
from app.scheduler import tick_once
from app.services import audit
from app.settings import get_settings
from tests.factories import start_study

PASSWORD = "correct horse battery"  # tests.factories.coordinator

# What one observer's burst asks for, all at once: the exports, the reports, console pages.
BURST = (
    ["/api/v1/studies/{id}/export.csv"] * 3
    + ["/api/v1/studies/{id}/export.json"] * 3
    + ["/api/v1/studies/{id}/export.xlsx"] * 3
    + ["/api/v1/studies/{id}/report.html"] * 3
    + ["/api/v1/studies/{id}/report.pdf"] * 2
    + ["/console/studies/{id}"] * 2
)


def _complete(path: str, response: httpx.Response) -> None:
    """The body is the whole file, not a truncated stream."""
    if path.endswith(".csv"):
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert rows
        assert rows[0]["panelist"].startswith("P")
    elif path.endswith(".json"):
        assert json.loads(response.text)["schema_version"]
    elif path.endswith(".xlsx"):
        assert openpyxl.load_workbook(io.BytesIO(response.content), read_only=True).sheetnames
    elif path.endswith(".pdf"):
        assert response.content.startswith(b"%PDF")
        assert b"%%EOF" in response.content[-64:]
    elif path.endswith(".html"):
        assert response.text.rstrip().endswith("</html>")
    else:
        assert "<h1" in response.text


def _console(base: str) -> httpx.Client:
    web = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    form = web.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    signed = web.post(
        "/login",
        data={
            "csrf_token": token.group(1),
            "email": "coord@example.org",
            "password": PASSWORD,
            "next": "/console",
        },
    )
    assert signed.status_code == 303, signed.text
    return web


@pytest.fixture
def patient_heavy_line() -> Iterator[None]:
    """Eight reports and workbooks share two slots on a loaded machine: none may get a 429 here."""
    before = os.environ.get("DELPHI_HEAVY_WAIT_SECONDS")
    os.environ["DELPHI_HEAVY_WAIT_SECONDS"] = "600"
    get_settings.cache_clear()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DELPHI_HEAVY_WAIT_SECONDS", None)
        else:
            os.environ["DELPHI_HEAVY_WAIT_SECONDS"] = before
        get_settings.cache_clear()


@pytest.mark.usefixtures("patient_heavy_line")
def test_exports_reports_and_pages_complete_while_a_panelist_saves(
    client: TestClient,
    coordinator_token: str,
    live_server: str,
) -> None:
    """A panelist saving in a loop, the tick running and a burst of reads: no 500, each audited."""
    run = start_study(client, coordinator_token, statements=3, panelists=6)
    first = run.new_round()["id"]
    run.open_round(first)
    statement_ids = [s["id"] for s in run.statements]
    for i in range(6):
        run.rate(i, {sid: 1 + (i * 3 + k) % 9 for k, sid in enumerate(statement_ids)})
    run.close_round(first)
    second = run.new_round()["id"]
    run.open_round(second)
    study_id = run.study["id"]

    stop = threading.Event()
    saves: Counter[int] = Counter()

    def keep_saving() -> None:
        with httpx.Client(base_url=live_server, timeout=60) as http:
            value = 0
            while not stop.is_set():
                value = value % 9 + 1
                body = {"ratings": [{"statement_id": sid, "value": value} for sid in statement_ids]}
                saves[
                    http.put("/api/v1/ballot", json=body, headers=run.as_panelist(0)).status_code
                ] += 1

    def keep_ticking() -> None:
        while not stop.is_set():
            tick_once()
            stop.wait(0.2)  # the server's tick runs every 30 s; a tight loop only adds load

    console = _console(live_server)
    with transaction() as session:  # the console session is due its once-a-minute touch
        session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=2)))

    def fetch(path: str) -> tuple[str, httpx.Response]:
        url = path.format(id=study_id)
        if url.startswith("/console"):
            return path, console.get(url)
        with httpx.Client(base_url=live_server, timeout=120, headers=run.auth) as http:
            return path, http.get(url)

    with ThreadPoolExecutor(max_workers=len(BURST) + 2) as pool:
        background = [pool.submit(keep_saving), pool.submit(keep_ticking)]
        try:
            answers = list(pool.map(fetch, BURST))
        finally:
            stop.set()
            for future in background:
                future.result()
    console.close()

    statuses = Counter(response.status_code for _, response in answers)
    assert statuses == Counter({200: len(BURST)}), [
        (path, r.status_code, r.text[:200]) for path, r in answers if r.status_code != 200
    ]
    for path, response in answers:
        _complete(path, response)
    assert saves[200] > 0
    assert set(saves) == {200}
    with new_session() as session:
        taken = Counter(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.action.like("export.%"))
            ).all()
        )
    assert taken == Counter(
        {"export.csv": 3, "export.json": 3, "export.xlsx": 3, "export.report": 5}
    )


@pytest.mark.usefixtures("engine")
def test_a_read_request_that_writes_in_its_read_transaction_is_refused() -> None:
    """The rule above as a guard: a read request's write outside write_now() is a loud bug."""
    from app.db import READ_ONLY

    session = new_session()
    session.info[READ_ONLY] = True
    try:
        audit.record(session, actor=None, action="export.csv")
        with pytest.raises(ReadRequestWrote, match="AuditEntry"):
            session.flush()
        session.rollback()
        write_now(session, lambda s: audit.record(s, actor=None, action="export.csv"))
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1
    finally:
        session.close()
