"""What a coordinator corrects through the API: sources, statements before round 1, panelists."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.models import AuditEntry
from tests.dbstate import dump
from tests.factories import StudyRun, start_study


def _last_audit(session: Session, action: str) -> dict[str, Any]:
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc())
    ).first()
    assert entry is not None, f"no {action} in the audit log"
    return dict(entry.detail)


def _levels(run: StudyRun) -> dict[int, str]:
    listed = run.call("GET", f"/api/v1/studies/{run.study['id']}/levels")
    return {level["statement_id"]: level["code"] for level in listed}


def _with_trials(client: TestClient, token: str) -> tuple[StudyRun, int, list[dict[str, Any]]]:
    """Two trials with PEDro 7 and 8 behind statement 1: level 1a on PEDro/SCIRE."""
    run = start_study(client, token, statements=2, panelists=2)
    s1 = run.statements[0]["id"]
    added = [
        run.call(
            "POST",
            f"/api/v1/studies/{run.study['id']}/sources",
            201,
            json={"citation": citation, "design": "rct", "pedro": pedro, "statement_ids": [s1]},
        )
        for citation, pedro in (("Smith 2019", 7), ("Li 2020", 8))
    ]
    return run, s1, added


def test_an_edited_source_is_checked_like_a_new_one_and_levels_follow(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    run, s1, (smith, _) = _with_trials(client, coordinator_token)
    s2 = run.statements[1]["id"]
    assert _levels(run)[s1] == "1a"
    edited = run.call(
        "PUT",
        f"/api/v1/sources/{smith['id']}",
        json={
            "citation": "Smith 2019, J Pain Res",
            "design": "rct",
            "pedro": 4,
            "statement_ids": [s1, s2],
        },
    )
    assert edited["pedro"] == 4
    assert edited["statement_ids"] == [s1, s2]
    assert _levels(run)[s1] == "1b"  # one good trial left (Li 2020, PEDro 8)
    assert _levels(run)[s2] == "2"  # a trial under PEDro 6
    audited = _last_audit(session, "evidence.edit")
    assert audited["source"] == smith["id"]
    assert audited["changed"] == {
        "citation": ["Smith 2019", "Smith 2019, J Pain Res"],
        "pedro": [7, 4],
    }
    assert audited["linked"] == [s2]
    assert audited["unlinked"] == []


def test_an_edit_the_schema_or_the_design_refuses_changes_nothing(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run, _, (smith, _) = _with_trials(client, coordinator_token)
    before = dump(engine)
    url = f"/api/v1/sources/{smith['id']}"
    for body in (
        {"citation": "Smith 2019", "design": "cohort", "pedro": 7},  # PEDro is for trials
        {"citation": "Smith 2019", "design": "rct", "pedro": 11},
        {"citation": "", "design": "rct"},
        {"citation": "Smith 2019", "design": "rct", "statement_ids": [999_999]},
    ):
        response = client.put(url, headers=run.auth, json=body)
        assert response.status_code == 422, (body, response.text)
    assert dump(engine) == before


def test_a_deleted_source_takes_its_links_and_its_level_with_it(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    run, s1, (smith, li) = _with_trials(client, coordinator_token)
    assert _levels(run)[s1] == "1a"
    run.call("DELETE", f"/api/v1/sources/{smith['id']}", 204)
    assert _levels(run)[s1] == "1b"
    run.call("DELETE", f"/api/v1/sources/{li['id']}", 204)
    assert _levels(run)[s1] == "5"  # no evidence linked
    listed = run.call("GET", f"/api/v1/studies/{run.study['id']}/sources")
    assert listed == []
    audited = _last_audit(session, "evidence.delete")
    assert (audited["source"], audited["citation"], audited["unlinked"]) == (
        li["id"],
        "Li 2020",
        [s1],
    )
    gone = client.delete(f"/api/v1/sources/{smith['id']}", headers=run.auth)
    assert gone.status_code == 404


def test_sources_cannot_change_once_the_study_is_finalized(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run, s1, (smith, _) = _with_trials(client, coordinator_token)
    round_id = run.new_round()["id"]
    run.open_round(round_id)
    run.rate(0, {s1: 8})
    run.close_round(round_id)
    run.call("POST", f"/api/v1/studies/{run.study['id']}/finalize")
    before = dump(engine)
    url = f"/api/v1/sources/{smith['id']}"
    edited = client.put(url, headers=run.auth, json={"citation": "Late", "design": "rct"})
    deleted = client.delete(url, headers=run.auth)
    assert (edited.status_code, deleted.status_code) == (409, 409)
    assert "finalized" in deleted.json()["detail"]
    assert dump(engine) == before
