"""What a coordinator corrects through the API: sources, statements before round 1, panelists."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.models import AuditEntry
from tests.dbstate import dump
from tests.factories import StudyRun, start_study


def _last_audit(session: Session, action: str) -> dict[str, Any]:
    session.rollback()  # a fresh read: what the requests since the last one committed
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


def test_a_statement_is_deleted_before_round_one_with_its_links_and_out_of_the_draft(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    run, s1, (smith, _) = _with_trials(client, coordinator_token)
    s2 = run.statements[1]["id"]
    draft = run.new_round()
    assert [s["id"] for s in draft["statements"]] == [s1, s2]
    run.call("DELETE", f"/api/v1/statements/{s1}", 204)
    keys = [s["key"] for s in run.call("GET", f"/api/v1/studies/{run.study['id']}/statements")]
    assert keys == ["S02"]
    assert [s["id"] for s in run.call("GET", f"/api/v1/rounds/{draft['id']}")["statements"]] == [s2]
    sources = run.call("GET", f"/api/v1/studies/{run.study['id']}/sources")
    assert [s["statement_ids"] for s in sources if s["id"] == smith["id"]] == [[]]
    audited = _last_audit(session, "statement.delete")
    assert (audited["key"], audited["text"]) == ("S01", "Statement number 1")
    assert audited["removed_from_draft_rounds"] == [1]
    assert len(audited["unlinked_sources"]) == 2
    run.call("DELETE", f"/api/v1/statements/{s2}", 204)  # the draft is left empty: it goes too
    assert run.call("GET", f"/api/v1/studies/{run.study['id']}/rounds") == []
    assert _last_audit(session, "statement.delete")["deleted_empty_drafts"] == [1]


def test_no_statement_is_deleted_once_round_one_has_opened(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run = start_study(client, coordinator_token, statements=2, panelists=2)
    run.open_round(run.new_round()["id"])
    added = run.call(
        "POST", f"/api/v1/studies/{run.study['id']}/statements", 201, json=[{"text": "Late"}]
    )
    before = dump(engine)
    for statement_id in (run.statements[0]["id"], added[0]["id"]):
        response = client.delete(f"/api/v1/statements/{statement_id}", headers=run.auth)
        assert response.status_code == 409
        assert "Round 1 has been opened" in response.json()["detail"]
    assert client.delete("/api/v1/statements/999999", headers=run.auth).status_code == 404
    assert dump(engine) == before


def test_a_panelist_is_corrected_and_keeps_their_link_and_ratings(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    run = start_study(
        client, coordinator_token, statements=1, panelists=2, languages=["en", "zh-Hans"]
    )
    s1 = run.statements[0]["id"]
    round_id = run.new_round()["id"]
    run.open_round(round_id)
    run.rate(0, {s1: 8})
    panelist = run.panelists[0]
    edited = run.call(
        "PATCH",
        f"/api/v1/panelists/{panelist['id']}",
        json={
            "name": "Dr Expert Zero",
            "email": "Zero@Hospital.example.org",
            "group": "physiotherapists",
            "language": "zh-Hans",
        },
    )
    assert (edited["code"], edited["email"], edited["language"]) == (
        "P01",
        "zero@hospital.example.org",
        "zh-Hans",
    )
    assert edited["token"] is None
    ballot = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(0))  # the same link
    assert [item["value"] for item in ballot["items"]] == [8]
    audited = _last_audit(session, "panel.edit")
    assert audited == {
        "code": "P01",
        "changed": {
            "name": "changed",
            "email": "changed",
            "group": [None, "physiotherapists"],
            "language": ["en", "zh-Hans"],
        },
    }


def test_a_correction_is_checked_like_a_new_panelist(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run = start_study(client, coordinator_token, statements=1, panelists=2)
    url = f"/api/v1/panelists/{run.panelists[0]['id']}"
    before = dump(engine)
    for body, status in (
        ({"email": "not an address"}, 422),
        ({"email": run.panelists[1]["email"]}, 409),
        ({"language": "zh-Hans"}, 422),  # not one of the study's languages
        ({"name": ""}, 422),
        ({"name": None}, 422),
        ({"timezone": "Mars/Olympus"}, 422),
        ({"token": "dp_mine"}, 422),
    ):
        response = client.patch(url, headers=run.auth, json=body)
        assert response.status_code == status, (body, response.text)
    assert dump(engine) == before
    cleared = run.call("PATCH", url, json={"email": None})
    assert cleared["email"] is None


def test_later_e_mails_go_to_the_new_address_in_the_new_language(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    from app.models import OutboxMessage

    run = start_study(
        client, coordinator_token, statements=1, panelists=2, languages=["en", "zh-Hans"]
    )
    panelist = run.panelists[0]
    run.call(
        "PATCH",
        f"/api/v1/panelists/{panelist['id']}",
        json={"email": "new@example.org", "language": "zh-Hans"},
    )
    run.open_round(run.new_round()["id"])
    sent = session.scalars(
        select(OutboxMessage).where(OutboxMessage.panelist_id == panelist["id"])
    ).all()
    assert [(m.to_address, m.language) for m in sent] == [("new@example.org", "zh-Hans")]
