"""Heavy work cannot starve the panel: reports and workbooks take turns in slots of their own."""

import logging
import multiprocessing
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from app import heavy
from app.db import new_session
from app.models import AuditEntry
from app.settings import get_settings
from bench.load import Server, start_server
from tests.factories import StudyRun, start_study

PASSWORD = "correct horse battery"  # tests.factories.coordinator
WAIT = 6  # seconds a heavy request waits in line here (DELPHI_HEAVY_WAIT_SECONDS)


@pytest.fixture
def two_slots_short_wait(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Two heavy slots, WAIT seconds in line, and only four request slots per process."""
    monkeypatch.setenv("DELPHI_HEAVY_SLOTS", "2")
    monkeypatch.setenv("DELPHI_HEAVY_WAIT_SECONDS", str(WAIT))
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


@pytest.mark.usefixtures("two_slots_short_wait")
def test_a_ballot_is_answered_while_every_report_slot_is_busy(
    client: TestClient, coordinator_token: str, live_server: str
) -> None:
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

    assert ballot.status_code == 200, (ballot.text, saved.text)
    assert saved.status_code == 200, (ballot.text, saved.text)
    # Not a benchmark (bench/heavy.py is): only that the ballot never waited in the heavy line.
    assert fetched < WAIT / 2, (fetched, saving)
    assert saving < WAIT / 2, (fetched, saving)
    assert [a.status_code for a in answers] == [429] * 6, [a.text[:200] for a in answers]
    for answer in answers:
        assert int(answer.headers["Retry-After"]) > 0
    assert "try again in" in answers[0].json()["detail"].lower()
    page = answers[-1].text
    assert "try again in about 15 seconds" in page, page
    assert "请在约 15 秒后重试" in page, page
    assert taken() == Counter(), "a refused report is not recorded as taken"

    free = httpx.get(
        f"{live_server}/api/v1/studies/{study}/report.pdf", headers=run.auth, timeout=120
    )
    assert free.status_code == 200
    assert free.content.startswith(b"%PDF")
    assert taken() == Counter({"export.report": 1})
    web.close()


def test_sixteen_report_pdfs_at_once_are_made_once_and_each_taken_is_audited(
    client: TestClient, coordinator_token: str, live_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One observer's burst of sixteen: one render; each 200 carries the same PDF, and is logged."""
    caplog.set_level(logging.INFO, logger="delphi.renders")
    run = in_second_round(client, coordinator_token)
    url = f"{live_server}/api/v1/studies/{run.study['id']}/report.pdf"

    def fetch(_: int) -> httpx.Response:
        return httpx.get(url, headers=run.auth, timeout=120)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(fetch, range(16)))

    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {200, 429}, statuses
    assert statuses[200] > 0, statuses
    pdfs = {a.content for a in answers if a.status_code == 200}
    assert len(pdfs) == 1
    assert next(iter(pdfs)).startswith(b"%PDF")
    made = [r for r in caplog.records if r.name == "delphi.renders"]
    assert len(made) == 1, [r.getMessage() for r in made]
    assert taken() == Counter({"export.report": statuses[200]})


@pytest.mark.usefixtures("two_slots_short_wait")
def test_a_report_ready_to_serve_does_not_wait_behind_renders(
    client: TestClient, coordinator_token: str, live_server: str
) -> None:
    """Two PDF requests fill the process's heavy slots; a report made before is still served."""
    run = in_second_round(client, coordinator_token)
    study = run.study["id"]

    def api(path: str) -> httpx.Response:
        return httpx.get(live_server + path, headers=run.auth, timeout=60)

    ready = api(f"/api/v1/studies/{study}/report.html")
    assert ready.status_code == 200, ready.text
    slots = heavy.Slots.here()
    with ExitStack() as rendering_elsewhere, ThreadPoolExecutor(2) as pool:
        for _ in range(2):  # the PDF can only wait: other workers hold the machine's slots
            rendering_elsewhere.enter_context(slots.render(deadline=time.monotonic()))
        making = [pool.submit(api, f"/api/v1/studies/{study}/report.pdf") for _ in range(2)]
        time.sleep(0.5)  # one waits for a render slot, the other for its turn at the same PDF
        again = api(f"/api/v1/studies/{study}/report.html")
        still_waiting = not any(future.done() for future in making)
        refused = [future.result() for future in making]

    assert again.status_code == 200, again.text
    assert again.content == ready.content
    assert still_waiting, "the report was served only once the PDF requests gave up"
    assert [answer.status_code for answer in refused] == [429, 429]
    assert taken() == Counter({"export.report": 2})


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()  # the whole process group: nothing the test started may outlive it


def in_group(leader: int) -> set[int]:
    """The live processes of a process group (a zombie holds nothing: it is left out)."""
    members = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:  # it ended while we looked
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and int(fields[2]) == leader and fields[0] != "Z":
            members.add(int(entry.name))
    return members


def test_render_processes_end_when_their_server_is_killed(
    client: TestClient, coordinator_token: str, engine: Engine, servers: list[Server]
) -> None:
    """A worker killed outright (the OOM killer, SIGKILL) leaves no render process behind."""
    run = in_second_round(client, coordinator_token)
    engine.dispose()  # the server process owns the database from here
    server = start_server(
        engine.url.render_as_string(hide_password=False), workers=1, factory="app.main:create_app"
    )
    servers.append(server)
    made = httpx.get(
        f"{server.url}/api/v1/studies/{run.study['id']}/report.html", headers=run.auth, timeout=120
    )
    assert made.status_code == 200, made.text
    leader = server.process.pid
    assert in_group(leader) - {leader}, "the report was made in a process of the server's"

    os.kill(leader, signal.SIGKILL)  # the server alone, not its process group
    server.process.wait(timeout=20)
    ends = time.monotonic() + 10
    while (left := in_group(leader)) and time.monotonic() < ends:
        time.sleep(0.1)
    assert not left, f"processes outlived their server: {left}"


def held_open(pid: int, database: str | None, port: int | None) -> list[str]:
    """What process `pid` holds open of the database: the SQLite file, or TCP to the server."""
    fds = Path(f"/proc/{pid}/fd")
    targets = set()
    for fd in fds.iterdir():
        try:
            targets.add(os.readlink(fd))
        except OSError:
            continue
    held = [t for t in targets if database and t.startswith(database)]
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if port and remote_port == port and f"socket:[{fields[9]}]" in targets:
                held.append(f"tcp to port {port}")
    return held


def test_an_idle_render_process_holds_no_database_connection(
    client: TestClient, coordinator_token: str, live_server: str, engine: Engine
) -> None:
    """Connections are PostgreSQL's scarcest resource: a render process gives its back."""
    run = in_second_round(client, coordinator_token)
    made = httpx.get(
        f"{live_server}/api/v1/studies/{run.study['id']}/report.html", headers=run.auth, timeout=120
    )
    assert made.status_code == 200, made.text
    renderers = multiprocessing.active_children()
    assert renderers, "the report was made in a render process"
    sqlite = engine.url.get_backend_name() == "sqlite"
    database = engine.url.database if sqlite else None
    port = None if sqlite else engine.url.port or 5432
    assert {pid: held_open(pid, database, port) for p in renderers if (pid := p.pid)} == {
        p.pid: [] for p in renderers
    }


@pytest.fixture
def renders_stopped_after_a_tenth_of_a_second() -> Iterator[None]:
    """A render limit far shorter than any real render: every render runs past it."""
    os.environ["DELPHI_HEAVY_RENDER_TIMEOUT_SECONDS"] = "0.1"
    get_settings.cache_clear()
    yield
    os.environ.pop("DELPHI_HEAVY_RENDER_TIMEOUT_SECONDS", None)
    get_settings.cache_clear()


@pytest.mark.usefixtures("renders_stopped_after_a_tenth_of_a_second")
def test_a_render_past_its_time_is_stopped_and_answered_503(
    client: TestClient,
    coordinator_token: str,
    live_server: str,
) -> None:
    """A hung render gives its turn and slot back: 503 with a sentence, its process ended."""
    run = in_second_round(client, coordinator_token)
    study = run.study["id"]
    stopped = httpx.get(
        f"{live_server}/api/v1/studies/{study}/report.pdf", headers=run.auth, timeout=60
    )
    assert stopped.status_code == 503, stopped.text
    assert int(stopped.headers["Retry-After"]) > 0
    assert "was stopped" in stopped.json()["detail"]
    ends = time.monotonic() + 10
    while (running := multiprocessing.active_children()) and time.monotonic() < ends:
        time.sleep(0.1)
    assert running == [], "the render process that ran past its time was stopped"
    web = console(live_server)
    page = web.get(f"/console/studies/{study}/report.pdf")
    assert page.status_code == 503
    assert "took too long" in page.text, page.text
    assert "用时过长" in page.text, page.text
    web.close()
    assert taken() == Counter(), "a stopped render is not recorded as taken"

    os.environ.pop("DELPHI_HEAVY_RENDER_TIMEOUT_SECONDS")
    get_settings.cache_clear()
    made = httpx.get(
        f"{live_server}/api/v1/studies/{study}/report.pdf", headers=run.auth, timeout=120
    )
    assert made.status_code == 200
    assert made.content.startswith(b"%PDF")
