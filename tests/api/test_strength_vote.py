"""The optional strength vote: asked as panelists rate, counted, and used by the grading table."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.consensus import grading
from tests.dbstate import dump
from tests.factories import StudyRun, start_study

PANEL_TABLE = grading.grade_table(panel_strength=True).model_dump(mode="json")


def _voting_study(client: TestClient, token: str, **study: Any) -> tuple[StudyRun, int]:
    study = {
        "max_rounds": 2,
        "evidence_scheme": "grade",
        "strength_vote": True,
        "grading_table": PANEL_TABLE,
        **study,
    }
    run = start_study(client, token, statements=1, panelists=4, **study)
    statement = run.statements[0]["id"]
    for citation, pedro in (("Smith 2019", 7), ("Li 2020", 8)):
        run.call(
            "POST",
            f"/api/v1/studies/{run.study['id']}/sources",
            201,
            json={
                "citation": citation,
                "design": "rct",
                "pedro": pedro,
                "statement_ids": [statement],
            },
        )
    return run, statement


def _strengths(
    run: StudyRun, statement: int, values: list[int], strengths: list[str | None]
) -> None:
    for index, (value, choice) in enumerate(zip(values, strengths, strict=True)):
        run.call(
            "PUT",
            "/api/v1/ballot",
            headers=run.as_panelist(index),
            json={"ratings": [{"statement_id": statement, "value": value, "strength": choice}]},
        )


def _to_final_round(run: StudyRun, statement: int) -> tuple[dict[str, Any], dict[str, Any]]:
    first = run.new_round()
    assert first["asks_strength"] is True, "a study with the vote asks in every round"
    run.open_round(first["id"])
    for index, value in enumerate([2, 5, 8, 9]):
        run.rate(index, {statement: value})
    run.close_round(first["id"])
    final = run.new_round()
    assert final["asks_strength"] is True
    run.open_round(final["id"])
    return first, final


def test_the_final_round_asks_counts_and_grades_by_the_panels_choice(
    client: TestClient, coordinator_token: str
) -> None:
    run, statement = _voting_study(client, coordinator_token)
    _, final = _to_final_round(run, statement)
    ballot = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(0))
    assert ballot["round"]["asks_strength"] is True
    _strengths(
        run, statement, [8, 9, 8, 7], ["strong_for", "strong_for", "conditional_for", "strong_for"]
    )
    ballot = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(1))
    assert ballot["items"][0]["strength"] == "strong_for"
    run.close_round(final["id"])
    result = run.results(final["id"])["statements"][0]
    assert result["strength_votes"] == {
        "strong_for": 3,
        "conditional_for": 1,
        "conditional_against": 0,
        "strong_against": 0,
    }
    assert result["panel_strength"] == "strong_for"
    finalized = run.call("POST", f"/api/v1/studies/{run.study['id']}/finalize")
    (recommendation,) = finalized["recommendations"]
    assert recommendation["grade"] == "strong_for"
    assert recommendation["panel_strength"] == "strong_for"
    assert "the panel chose strong for" in recommendation["grade_reason"]


def test_a_vote_without_a_70_percent_choice_gives_a_conditional_recommendation(
    client: TestClient, coordinator_token: str
) -> None:
    run, statement = _voting_study(client, coordinator_token)
    _, final = _to_final_round(run, statement)
    _strengths(
        run,
        statement,
        [8, 9, 8, 7],
        ["strong_for", "strong_for", "conditional_for", "conditional_for"],
    )
    run.close_round(final["id"])
    assert run.results(final["id"])["statements"][0]["panel_strength"] is None
    preview = run.call("GET", f"/api/v1/studies/{run.study['id']}/finalization")
    assert preview[0]["grade"] == "conditional_for"
    assert "no strength chosen by 70 % of the 4 votes" in preview[0]["grade_reason"]


def test_a_strength_in_a_round_that_does_not_ask_is_refused_and_nothing_saved(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run, statement = _voting_study(client, coordinator_token)
    run.open_round(run.new_round(asks_strength=False)["id"])
    before = dump(engine)
    response = client.put(
        "/api/v1/ballot",
        headers=run.as_panelist(0),
        json={"ratings": [{"statement_id": statement, "value": 8, "strength": "strong_for"}]},
    )
    assert response.status_code == 422
    assert "does not ask for the recommendation's strength" in response.json()["detail"]
    assert dump(engine) == before


def test_an_unknown_strength_or_one_with_unable_to_rate_is_refused(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run, statement = _voting_study(client, coordinator_token)
    _to_final_round(run, statement)
    before = dump(engine)
    for rating, message in [
        ({"value": 8, "strength": "very_strong"}, "'very_strong' is not a strength"),
        ({"abstain": True, "strength": "strong_for"}, "cannot be given a strength"),
    ]:
        response = client.put(
            "/api/v1/ballot",
            headers=run.as_panelist(0),
            json={"ratings": [{"statement_id": statement, **rating}]},
        )
        assert response.status_code == 422
        assert message in response.json()["detail"]
    assert dump(engine) == before
    # A strength sent for a statement saved earlier as 'unable to rate' is refused too.
    run.call(
        "PUT",
        "/api/v1/ballot",
        headers=run.as_panelist(0),
        json={"ratings": [{"statement_id": statement, "abstain": True}]},
    )
    late = client.put(
        "/api/v1/ballot",
        headers=run.as_panelist(0),
        json={"ratings": [{"statement_id": statement, "strength": "strong_for"}]},
    )
    assert late.status_code == 422
    assert "unable to rate" in late.json()["detail"]


def test_a_study_without_the_vote_cannot_ask_or_grade_by_it(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run = start_study(client, coordinator_token, statements=1, panelists=1, max_rounds=2)
    before = dump(engine)
    refused = client.post(
        f"/api/v1/studies/{run.study['id']}/rounds", headers=run.auth, json={"asks_strength": True}
    )
    assert refused.status_code == 422
    assert "does not hold a strength vote" in refused.json()["detail"]
    table = client.patch(
        f"/api/v1/studies/{run.study['id']}",
        headers=run.auth,
        json={"evidence_scheme": "grade", "grading_table": PANEL_TABLE},
    )
    assert table.status_code == 422
    assert "turn on the strength vote" in table.json()["detail"]
    assert dump(engine) == before


def test_a_grading_table_for_another_scheme_is_refused(
    client: TestClient, coordinator_token: str
) -> None:
    response = client.post(
        "/api/v1/studies",
        headers={"Authorization": f"Bearer {coordinator_token}"},
        json={
            "title": "Mismatch",
            "evidence_scheme": "pedro_scire",
            "grading_table": grading.grade_table().model_dump(mode="json"),
        },
    )
    assert response.status_code == 422
    assert (
        "written for grade levels but the study grades its evidence with pedro_scire"
        in (response.json()["detail"])
    )


def test_a_draft_can_stop_asking_but_an_open_round_cannot_change(
    client: TestClient, coordinator_token: str
) -> None:
    run, _ = _voting_study(client, coordinator_token, max_rounds=3)
    draft = run.new_round()
    patched = run.call("PATCH", f"/api/v1/rounds/{draft['id']}", json={"asks_strength": False})
    assert patched["asks_strength"] is False
    run.call("PATCH", f"/api/v1/rounds/{draft['id']}", json={"asks_strength": True})
    run.open_round(draft["id"])
    refused = client.patch(
        f"/api/v1/rounds/{draft['id']}", headers=run.auth, json={"asks_strength": False}
    )
    assert refused.status_code == 409
    assert "only a draft round" in refused.json()["detail"]


def test_turning_the_vote_off_stops_a_draft_from_asking(
    client: TestClient, coordinator_token: str
) -> None:
    run, statement = _voting_study(client, coordinator_token, grading_table=None)
    draft = run.new_round()
    assert draft["asks_strength"] is True
    run.call("PATCH", f"/api/v1/studies/{run.study['id']}", json={"strength_vote": False})
    opened = run.open_round(draft["id"])
    assert opened["asks_strength"] is False
    response = run.client.put(
        "/api/v1/ballot",
        headers=run.as_panelist(0),
        json={"ratings": [{"statement_id": statement, "value": 8, "strength": "strong_for"}]},
    )
    assert response.status_code == 422


def test_a_statement_settled_in_round_one_is_graded_by_round_ones_vote(
    client: TestClient, coordinator_token: str
) -> None:
    run, statement = _voting_study(client, coordinator_token)
    first = run.new_round()
    run.open_round(first["id"])
    _strengths(run, statement, [9, 9, 8, 8], ["strong_for"] * 4)
    run.close_round(first["id"])
    finalized = run.call("POST", f"/api/v1/studies/{run.study['id']}/finalize")
    (recommendation,) = finalized["recommendations"]
    assert (recommendation["round"], recommendation["grade"]) == (1, "strong_for")


def test_a_strength_needs_a_rating_beside_it(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run, statement = _voting_study(client, coordinator_token)
    run.open_round(run.new_round()["id"])
    before = dump(engine)
    response = client.put(
        "/api/v1/ballot",
        headers=run.as_panelist(0),
        json={"ratings": [{"statement_id": statement, "strength": "strong_for"}]},
    )
    assert response.status_code == 422
    assert "a strength counts only beside a rating" in response.json()["detail"]
    assert dump(engine) == before


def test_final_content_without_a_vote_hashes_as_stored(
    client: TestClient, coordinator_token: str
) -> None:
    import hashlib
    import json

    run = start_study(client, coordinator_token, statements=1, panelists=2)
    round_ = run.new_round()
    run.open_round(round_["id"])
    for index in range(2):
        run.rate(index, {run.statements[0]["id"]: 8})
    run.close_round(round_["id"])
    run.call("POST", f"/api/v1/studies/{run.study['id']}/finalize")
    (frozen,) = run.call("GET", f"/api/v1/studies/{run.study['id']}/final")["recommendations"]
    assert "strength_votes" not in frozen
    assert "panel_strength" not in frozen
    content = {k: v for k, v in frozen.items() if k != "content_hash"}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert frozen["content_hash"] == hashlib.sha256(canonical.encode()).hexdigest()


def test_the_vote_is_frozen_with_the_rules(client: TestClient, coordinator_token: str) -> None:
    run, _ = _voting_study(client, coordinator_token)
    fingerprint = run.study["rules_fingerprint"]
    run.open_round(run.new_round()["id"])
    refused = client.patch(
        f"/api/v1/studies/{run.study['id']}", headers=run.auth, json={"strength_vote": False}
    )
    assert refused.status_code == 409
    assert "strength_vote" in refused.json()["detail"]
    assert run.call("GET", f"/api/v1/studies/{run.study['id']}")["rules_fingerprint"] == fingerprint
