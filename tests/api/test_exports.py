"""The export endpoints: attachments, audit, ownership, identities apart, flat query counts."""

import csv
import io

import pytest
from sqlalchemy import select

from app.models import AuditEntry, Role, Study
from app.services import accounts
from tests.factories import coordinator
from tests.reports.study import two_rounds

PATHS = ("export.csv", "export.xlsx", "export.json", "panel.csv")


@pytest.fixture
def built(client, session):
    user, token = coordinator(session)
    return two_rounds(client, token, session, user)


def audited(session, study_id: int) -> list[tuple[str, dict]]:
    session.rollback()  # a fresh snapshot: the app committed in its own sessions
    rows = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.study_id == study_id, AuditEntry.action.like("export.%"))
        .order_by(AuditEntry.id)
    )
    return [(row.action, row.detail) for row in rows]


def test_exports_download_as_named_attachments_that_are_not_cached(built, client):
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
        assert "exercise-for-neuropathic-pain" in disposition and what in disposition
        assert disposition.endswith(f'{extension}"')
        assert response.headers["cache-control"] == "no-store"


def test_every_export_is_recorded_in_the_audit_log(built, client, session):
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


def test_another_coordinator_gets_404_and_nothing_is_recorded(built, client, session):
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


def test_exports_need_a_token(built, client):
    for path in PATHS:
        response = client.get(f"/api/v1/studies/{built.study_id}/{path}")
        assert response.status_code == 401, path


def test_an_observer_gets_the_pseudonymised_exports_but_never_the_panel(built, client, session):
    observer, token = coordinator(session, email="observer@example.org", role=Role.observer)
    lead = session.scalar(select(accounts.User).where(accounts.User.email == "coord@example.org"))
    study = session.get(Study, built.study_id)
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


def test_the_panel_export_names_every_code_with_formulas_made_inert(built, client):
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
    assert rows[0]["name"] == "Expert 0" and rows[0]["email"] == "expert0@example.org"
    assert rows[0]["group"] == "clinicians" and rows[0]["language"] == "en"
    assert rows[7]["withdrawn_at"].endswith("+00:00") and rows[0]["withdrawn_at"] == ""
    assert rows[8]["name"] == '\'=HYPERLINK("http://x.example","open")'


def _export_queries(client, session, queries, *, extra: int, email: str) -> dict[str, int]:
    user, token = coordinator(session, email=email)
    built = two_rounds(client, token, session, user, extra=extra)
    counts = {}
    for path in PATHS:
        queries.reset()
        response = client.get(f"/api/v1/studies/{built.study_id}/{path}", headers=built.run.auth)
        assert response.status_code == 200
        counts[path] = queries.count
    return counts


def test_export_query_counts_do_not_grow_with_the_panel(client, session, queries):
    small = _export_queries(client, session, queries, extra=0, email="small@example.org")
    large = _export_queries(client, session, queries, extra=14, email="large@example.org")
    assert small == large
