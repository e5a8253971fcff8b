"""The export endpoints: attachments, audit, ownership, identities apart, flat query counts."""

import csv
import io
import os
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import db, heavy
from app.models import AuditEntry, Role, Study
from app.services import accounts
from tests.conftest import QueryCounter
from tests.factories import coordinator
from tests.netfault import TcpProxy
from tests.prebuilt import Prebuilt, build_once, restored
from tests.reports.study import Built, two_rounds, two_rounds_by_a_coordinator

PATHS = ("export.csv", "export.xlsx", "export.json", "panel.csv")


@pytest.fixture(scope="session")
def built_once(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Prebuilt[Built]:
    folder = tmp_path_factory.mktemp("api_exports")
    return build_once(database_url, folder, two_rounds_by_a_coordinator)


@pytest.fixture
def built(built_once: Prebuilt[Built], engine: Engine, client: TestClient) -> Built:
    """The two-round study, restored into this test's database."""
    return restored(built_once, engine, client)


def audited(session: Session, study_id: int) -> list[tuple[str, dict[str, Any]]]:
    session.rollback()  # a fresh snapshot: the app committed in its own sessions
    rows = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.study_id == study_id, AuditEntry.action.like("export.%"))
        .order_by(AuditEntry.id)
    )
    return [(row.action, row.detail) for row in rows]


def test_exports_download_as_named_attachments_that_are_not_cached(
    built: Built, client: TestClient
) -> None:
    kinds = {
        "export.csv": ("text/csv; charset=utf-8", "-ratings-", ".csv"),
        "export.xlsx": (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "-data-",
            ".xlsx",
        ),
        "export.json": ("application/json", "-data-", ".json"),
        "panel.csv": ("text/csv; charset=utf-8", "-panel-identities-", ".csv"),
    }
    for path, (media_type, what, extension) in kinds.items():
        response = client.get(f"/api/v1/studies/{built.study_id}/{path}", headers=built.run.auth)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"] == media_type
        disposition = response.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="delphi-study-')
        assert "exercise-for-neuropathic-pain" in disposition
        assert what in disposition
        assert disposition.endswith(f'{extension}"')
        assert response.headers["cache-control"] == "no-store"


def test_every_export_is_recorded_in_the_audit_log(
    built: Built, client: TestClient, session: Session
) -> None:
    for path in PATHS:
        client.get(f"/api/v1/studies/{built.study_id}/{path}", headers=built.run.auth)
    assert audited(session, built.study_id) == [
        ("export.csv", {"via": "api"}),
        ("export.xlsx", {"via": "api"}),
        ("export.json", {"via": "api"}),
        ("export.panel", {"via": "api"}),
    ]
    document = client.get(
        f"/api/v1/studies/{built.study_id}/export.json", headers=built.run.auth
    ).json()
    assert document["audit"][-1]["action"] == "export.json"  # the export lists itself


def test_another_coordinator_gets_404_and_nothing_is_recorded(
    built: Built, client: TestClient, session: Session
) -> None:
    stranger = coordinator(session, email="stranger@example.org")[1]
    for path in PATHS:
        response = client.get(
            f"/api/v1/studies/{built.study_id}/{path}",
            headers={"Authorization": f"Bearer {stranger}"},
        )
        assert response.status_code == 404, path
        assert response.json()["detail"] == (
            f"Study {built.study_id} does not exist or is not one of yours."
        )
    missing = client.get("/api/v1/studies/999/export.csv", headers=built.run.auth)
    assert missing.status_code == 404
    assert audited(session, built.study_id) == []


def test_exports_need_a_token(built: Built, client: TestClient) -> None:
    for path in PATHS:
        response = client.get(f"/api/v1/studies/{built.study_id}/{path}")
        assert response.status_code == 401, path


def test_an_observer_gets_the_pseudonymised_exports_but_never_the_panel(
    built: Built, client: TestClient, session: Session
) -> None:
    observer, token = coordinator(session, email="observer@example.org", role=Role.observer)
    lead = session.scalars(
        select(accounts.User).where(accounts.User.email == "coord@example.org")
    ).one()
    study = session.get_one(Study, built.study_id)
    accounts.add_member(session, actor=lead, study=study, email=observer.email)
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    for path in PATHS[:3]:
        response = client.get(f"/api/v1/studies/{built.study_id}/{path}", headers=headers)
        assert response.status_code == 200, path
    refused = client.get(f"/api/v1/studies/{built.study_id}/panel.csv", headers=headers)
    assert refused.status_code == 403
    assert "cannot export panelists' names" in refused.json()["detail"]
    assert "Expert" not in refused.text
    assert [a for a, _ in audited(session, built.study_id)] == [
        "export.csv",
        "export.xlsx",
        "export.json",
    ]


def test_the_panel_export_names_every_code_with_formulas_made_inert(
    built: Built, client: TestClient
) -> None:
    run = built.run
    run.call(
        "POST",
        f"/api/v1/studies/{built.study_id}/panelists",
        201,
        json=[{"name": '=HYPERLINK("http://x.example","open")', "email": "late@example.org"}],
    )
    response = client.get(f"/api/v1/studies/{built.study_id}/panel.csv", headers=run.auth)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["code"] for r in rows] == [f"P{i:02d}" for i in range(1, 10)]
    assert rows[0]["name"] == "Expert 0"
    assert rows[0]["email"] == "expert0@example.org"
    assert rows[0]["group"] == "clinicians"
    assert rows[0]["language"] == "en"
    assert rows[7]["withdrawn_at"].endswith("+00:00")
    assert rows[0]["withdrawn_at"] == ""
    assert rows[8]["name"] == '\'=HYPERLINK("http://x.example","open")'


def _export_queries(
    client: TestClient, session: Session, queries: QueryCounter, *, extra: int, email: str
) -> dict[str, int]:
    user, token = coordinator(session, email=email)
    built = two_rounds(client, token, session, user, extra=extra)
    counts = {}
    for path in PATHS:
        queries.reset()
        response = client.get(f"/api/v1/studies/{built.study_id}/{path}", headers=built.run.auth)
        assert response.status_code == 200
        counts[path] = queries.count
    return counts


def test_export_query_counts_do_not_grow_with_the_panel(
    client: TestClient, session: Session, queries: QueryCounter
) -> None:
    small = _export_queries(client, session, queries, extra=0, email="small@example.org")
    large = _export_queries(client, session, queries, extra=14, email="large@example.org")
    assert small == large


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="a network cut: PostgreSQL")
def test_an_outage_as_a_streamed_export_begins_is_a_503_not_a_cut_off_file(
    built: Built, live_server: str, engine: Engine
) -> None:
    """The line to PostgreSQL drops just as the export's own read transaction begins."""
    url = make_url(engine.url.render_as_string(hide_password=False))
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432), cut_on=b"REPEATABLE READ")
    through = db.make_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
    db.set_engine(through)
    try:
        for path in ("export.csv", "export.json", "panel.csv"):
            with httpx.Client(base_url=live_server, headers=built.run.auth, timeout=30) as http:
                try:
                    response = http.get(f"/api/v1/studies/{built.study_id}/{path}")
                except httpx.RemoteProtocolError as cut_off:
                    pytest.fail(f"{path} began as a 200 and was cut off: {cut_off}")
            assert response.status_code == 503, (path, response.status_code, response.text[:200])
            assert int(response.headers["retry-after"]) > 0
            assert "database is not answering" in response.json()["detail"]
            proxy.mend()
    finally:
        proxy.close()
        through.dispose()
        db.set_engine(engine)


def open_copies() -> list[str]:
    """The report and workbook copies this process holds open (the server runs in it)."""
    folder = str(heavy.directory() / "copies")
    held = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed while we looked
            continue
        if target.startswith(folder):
            held.append(target)
    return held


def test_a_workbook_whose_client_left_before_it_began_is_closed(
    built: Built, live_server: str, session: Session
) -> None:
    """A client gone before the download starts leaves no copy open on the server."""
    path = f"/api/v1/studies/{built.study_id}/export.xlsx"
    made = httpx.get(live_server + path, headers=built.run.auth, timeout=60)
    assert made.status_code == 200
    ends = time.monotonic() + 10  # the server closes the copy just after its last bytes leave
    while (held := open_copies()) and time.monotonic() < ends:
        time.sleep(0.1)
    assert held == []
    where = urlsplit(live_server)
    asked = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {built.run.auth['Authorization']}"
    for _ in range(3):
        with socket.create_connection((where.hostname, where.port)) as gone:
            gone.sendall(f"{asked}\r\n\r\n".encode())
            gone.shutdown(socket.SHUT_WR)  # asked, and left without waiting for the answer
    ends = time.monotonic() + 30
    while len(audited(session, built.study_id)) < 4 and time.monotonic() < ends:
        time.sleep(0.1)  # each was served (and audited) after its client had gone
    assert len(audited(session, built.study_id)) == 4
    ends = time.monotonic() + 10
    while (held := open_copies()) and time.monotonic() < ends:
        time.sleep(0.1)
    assert held == []
