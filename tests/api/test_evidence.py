"""The evidence library through the API: levels with reasons, overrides, and the grade preview."""

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.dbstate import dump
from tests.factories import StudyRun, start_study


def _two_statements_one_round(client: TestClient, token: str) -> tuple[StudyRun, int, int]:
    run = start_study(client, token, statements=2, panelists=4)
    s1, s2 = (s["id"] for s in run.statements)
    sid = run.study["id"]
    for citation, pedro in (("Smith 2019", 7), ("Li 2020", 8)):
        run.call(
            "POST",
            f"/api/v1/studies/{sid}/sources",
            201,
            json={"citation": citation, "design": "rct", "pedro": pedro, "statement_ids": [s1]},
        )
    run.call(
        "POST",
        f"/api/v1/studies/{sid}/sources",
        201,
        json={"citation": "Chen 2018", "design": "case_series", "statement_ids": [s2]},
    )
    return run, s1, s2


def test_levels_follow_the_scheme_and_say_why(client: TestClient, coordinator_token: str) -> None:
    run, s1, s2 = _two_statements_one_round(client, coordinator_token)
    levels = {
        lv["statement_id"]: lv
        for lv in run.call("GET", f"/api/v1/studies/{run.study['id']}/levels")
    }
    assert levels[s1]["code"] == "1a"
    assert "Smith 2019 (7)" in levels[s1]["reasons"][0]
    assert "Li 2020 (8)" in levels[s1]["reasons"][0]
    assert levels[s2]["code"] == "4"


def test_pedro_on_a_cohort_study_is_refused_and_nothing_is_stored(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run = start_study(client, coordinator_token, statements=1, panelists=1)
    before = dump(engine)
    response = client.post(
        f"/api/v1/studies/{run.study['id']}/sources",
        headers=run.auth,
        json={"citation": "Wu 2017", "design": "cohort", "pedro": 6},
    )
    assert response.status_code == 422
    assert "PEDro" in response.json()["detail"]
    assert dump(engine) == before


def test_an_override_needs_a_justification_and_is_reported(
    client: TestClient, coordinator_token: str
) -> None:
    run, _, s2 = _two_statements_one_round(client, coordinator_token)
    refused = client.put(
        f"/api/v1/statements/{s2}/level",
        headers=run.auth,
        json={"code": "2", "justification": "   "},
    )
    assert refused.status_code == 422
    level = run.call(
        "PUT",
        f"/api/v1/statements/{s2}/level",
        json={"code": "2", "justification": "A controlled trial in press"},
    )
    assert level["code"] == "2"
    assert level["overridden_from"] == "4"
    assert any("A controlled trial in press" in r for r in level["reasons"])


def test_the_preview_grades_consensus_and_gives_no_recommendation_otherwise(
    client: TestClient, coordinator_token: str
) -> None:
    run, s1, s2 = _two_statements_one_round(client, coordinator_token)
    round_id = run.new_round()["id"]
    run.open_round(round_id)
    for i, split in enumerate([1, 5, 9, 5]):
        run.rate(i, {s1: 8, s2: split})
    run.close_round(round_id)
    preview = {
        r["statement_id"]: r
        for r in run.call("GET", f"/api/v1/studies/{run.study['id']}/recommendations")
    }
    assert preview[s1]["classification"] == "consensus_for"
    assert preview[s1]["grade"] == "A"
    assert preview[s2]["grade"] == "no_recommendation"
    words = run.call("GET", f"/api/v1/studies/{run.study['id']}/grading-table")["in_words"]
    assert any(line.startswith("Grade A") for line in words)


def test_the_evidence_scheme_is_frozen_with_the_rules(
    client: TestClient, coordinator_token: str
) -> None:
    run = start_study(client, coordinator_token, statements=1, panelists=1)
    run.call("PATCH", f"/api/v1/studies/{run.study['id']}", json={"evidence_scheme": "grade"})
    run.open_round(run.new_round()["id"])
    response = client.patch(
        f"/api/v1/studies/{run.study['id']}",
        headers=run.auth,
        json={"evidence_scheme": "oxford_2009"},
    )
    assert response.status_code == 409
    assert "evidence_scheme" in response.json()["detail"]


def test_finalization_freezes_content_with_hashes_and_makes_the_study_read_only(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    import hashlib
    import json

    run, s1, s2 = _two_statements_one_round(client, coordinator_token)
    sid = run.study["id"]
    round_id = run.new_round()["id"]
    run.open_round(round_id)
    for i, split in enumerate([1, 5, 9, 5]):
        run.rate(i, {s1: 8, s2: split})
    refused = client.post(f"/api/v1/studies/{sid}/finalize", headers=run.auth)
    assert refused.status_code == 409
    assert "still open" in refused.json()["detail"]
    run.close_round(round_id)
    preview = run.call("GET", f"/api/v1/studies/{sid}/finalization")
    final = run.call("POST", f"/api/v1/studies/{sid}/finalize")
    assert [r["grade"] for r in final["recommendations"]] == ["A", "no_recommendation"]
    for frozen, previewed in zip(final["recommendations"], preview, strict=True):
        content = {k: v for k, v in frozen.items() if k != "content_hash"}
        assert content == previewed
        canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        assert frozen["content_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert len(final["content_hash"]) == 64
    before = dump(engine)
    for method, path, body in [
        ("POST", f"/api/v1/studies/{sid}/statements", [{"text": "late"}]),
        ("PATCH", f"/api/v1/studies/{sid}", {"title": "changed"}),
        ("POST", f"/api/v1/studies/{sid}/sources", {"citation": "x", "design": "rct"}),
        ("PUT", f"/api/v1/statements/{s2}/level", {"code": "1a", "justification": "late"}),
        ("POST", f"/api/v1/studies/{sid}/finalize", None),
        ("POST", f"/api/v1/studies/{sid}/rounds", {}),
    ]:
        response = client.request(method, path, headers=run.auth, json=body)
        assert response.status_code == 409, (path, response.text)
        assert "finalized" in response.json()["detail"]
    ballot = client.put(
        "/api/v1/ballot",
        headers=run.as_panelist(0),
        json={"ratings": [{"statement_id": s1, "value": 1}]},
    )
    assert ballot.status_code == 409
    assert dump(engine) == before
    assert run.call("GET", f"/api/v1/studies/{sid}/final")["content_hash"] == final["content_hash"]
