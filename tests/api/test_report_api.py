"""The report endpoints: who may read them, in which language, under which CSP, at what cost."""

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.main import create_app
from app.models import AuditEntry
from tests.conftest import QueryCounter
from tests.factories import coordinator
from tests.prebuilt import Prebuilt, build_once, restored
from tests.reports.test_report import Finished, finished_study
from tests.web.test_console import signed_in


def _study(client: TestClient, session: Session) -> Finished:
    return finished_study(client, coordinator(session)[1])


@pytest.fixture(scope="session")
def finished_once(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Prebuilt[Finished]:
    return build_once(database_url, tmp_path_factory.mktemp("report_api"), _study)


@pytest.fixture
def finished(finished_once: Prebuilt[Finished], engine: Engine, client: TestClient) -> Finished:
    """A finalized two-round study by coord@example.org, restored into this test's database."""
    return restored(finished_once, engine, client)


def test_another_coordinators_study_is_not_found(
    finished: Finished, client: TestClient, session: Session
) -> None:
    other = coordinator(session, email="other@example.org")[1]
    for kind in ("html", "pdf"):
        response = client.get(
            f"/api/v1/studies/{finished.study_id}/report.{kind}",
            headers={"Authorization": f"Bearer {other}"},
        )
        assert response.status_code == 404
        assert response.json()["detail"] == (
            f"Study {finished.study_id} does not exist or is not one of yours."
        )
    missing = client.get("/api/v1/studies/999999/report.html", headers=finished.run.auth)
    assert missing.status_code == 404


def test_the_report_needs_a_token(finished: Finished, client: TestClient) -> None:
    response = client.get(f"/api/v1/studies/{finished.study_id}/report.pdf")
    assert response.status_code == 401


def test_an_unknown_language_is_refused_by_name(
    finished: Finished, client: TestClient, session: Session
) -> None:
    before = session.query(AuditEntry).count()
    response = client.get(
        f"/api/v1/studies/{finished.study_id}/report.html?lang=fr", headers=finished.run.auth
    )
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "The report is available in en and zh_Hans; 'fr' is neither."
    )
    session.expire_all()
    assert session.query(AuditEntry).count() == before, "nothing recorded"


def test_the_html_report_runs_no_script_and_allows_only_its_own_stylesheet(
    finished: Finished,
) -> None:
    response = finished.report()
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp
    style_element = re.search(r"<style>(.*?)</style>", response.text, re.S)
    assert style_element is not None
    style = style_element.group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp
    assert "style=" not in response.text, "no style attributes: the CSP would block them"
    assert response.headers["x-frame-options"] == "DENY"


def test_taking_a_report_is_recorded_in_the_audit_log(finished: Finished, session: Session) -> None:
    finished.report("pdf", lang="zh_Hans")
    finished.report("html")
    entries = (
        session.query(AuditEntry)
        .filter_by(study_id=finished.study_id, action="export.report")
        .order_by(AuditEntry.id)
        .all()
    )
    assert [(e.detail["format"], e.detail["language"]) for e in entries] == [
        ("pdf", "zh-Hans"),
        ("html", "en"),
    ]
    assert entries[0].actor_label == "coord@example.org"


def test_the_console_serves_the_same_report_to_its_signed_in_coordinator(session: Session) -> None:
    web = signed_in(session)
    api = TestClient(create_app())
    token = coordinator(session, email="api@example.org")[1]
    finished = finished_study(api, token)
    # the console's coordinator does not belong to the API coordinator's study
    refused = web.get(f"/console/studies/{finished.study_id}/report.html")
    assert refused.status_code == 404
    from app.models import StudyMember, User

    lead = session.query(User).filter_by(email="lead@example.org").one()
    session.add(StudyMember(study_id=finished.study_id, user_id=lead.id))
    session.commit()
    page = web.get(f"/console/studies/{finished.study_id}/report.html?lang=zh_Hans")
    assert page.status_code == 200
    assert "德尔菲共识报告" in page.text
    pdf = web.get(f"/console/studies/{finished.study_id}/report.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    signed_out = TestClient(create_app(), follow_redirects=False)
    response = signed_out.get(f"/console/studies/{finished.study_id}/report.pdf")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


@pytest.fixture
def counts(
    client: TestClient, coordinator_token: str, session: Session, queries: QueryCounter
) -> dict[str, int]:
    """Queries for the HTML report of a small and of a larger study (same number of rounds)."""
    big = coordinator(session, email="big@example.org")[1]
    measured: dict[str, int] = {}
    for size, token, statements, panelists in (
        ("small", coordinator_token, 3, 4),
        ("large", big, 24, 16),
    ):
        finished = finished_study(
            client, token, statements=statements, panelists=panelists, comments={(1, 0): "why"}
        )
        queries.reset()
        finished.report()
        measured[size] = queries.count
    return measured


def test_report_queries_do_not_grow_with_statements_or_panelists(counts: dict[str, int]) -> None:
    assert counts["small"] == counts["large"], counts
