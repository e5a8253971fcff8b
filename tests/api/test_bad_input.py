"""Bad input gets the status of API.md, a sentence a person can act on, and changes nothing."""

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.dbstate import dump
from tests.factories import StudyRun, coordinator, start_study, study_body


@dataclass
class OpenRun(StudyRun):
    """The study with its first round open, which the refusals must leave as it was."""

    round: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def run(client: TestClient, coordinator_token: str) -> OpenRun:
    run = start_study(client, coordinator_token, statements=3, panelists=3, allow_abstain=False)
    round1 = run.new_round()
    run.open_round(round1["id"])
    run.rate(0, {run.statements[0]["id"]: 7})  # something saved before, that must survive
    return OpenRun(**vars(run), round=round1)


def refused(
    run: StudyRun,
    engine: Engine,
    status: int,
    method: str,
    path: str,
    fragment: str,
    **kwargs: Any,
) -> httpx.Response:
    before = dump(engine)
    response = run.client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert fragment in (detail if isinstance(detail, str) else str(detail)), detail
    assert dump(engine) == before
    return response


def put_ratings(
    run: StudyRun,
    engine: Engine,
    status: int,
    fragment: str,
    ratings: list[dict[str, Any]],
    index: int = 0,
    **extra: Any,
) -> httpx.Response:
    return refused(
        run,
        engine,
        status,
        "PUT",
        "/api/v1/ballot",
        fragment,
        headers=run.as_panelist(index),
        json={"ratings": ratings, **extra},
    )


def test_out_of_scale_value_is_refused_and_nothing_saved(run: OpenRun, engine: Engine) -> None:
    s1, s2 = run.statements[0]["id"], run.statements[1]["id"]
    response = put_ratings(
        run,
        engine,
        422,
        "10 is outside the scale 1–9",
        [{"statement_id": s2, "value": 5}, {"statement_id": s1, "value": 10}],
    )
    assert response.json()["errors"] == [
        {
            "statement_id": s1,
            "code": "out_of_scale",
            "message": "Statement S01: 10 is outside the scale 1–9.",
            "value": 10,
            "min": 1,
            "max": 9,
        }
    ]


def test_value_and_abstention_together_are_refused(run: OpenRun, engine: Engine) -> None:
    s1 = run.statements[0]["id"]
    put_ratings(run, engine, 422, "not both", [{"statement_id": s1, "value": 5, "abstain": True}])


def test_abstention_is_refused_where_the_study_does_not_allow_it(
    run: OpenRun, engine: Engine
) -> None:
    s1 = run.statements[0]["id"]
    put_ratings(
        run,
        engine,
        422,
        "asks for a rating on every statement",
        [{"statement_id": s1, "abstain": True}],
    )


def test_unknown_statement_is_refused(run: OpenRun, engine: Engine) -> None:
    put_ratings(
        run,
        engine,
        422,
        "Statement 999999 is not on this round's ballot",
        [{"statement_id": 999999, "value": 5}],
    )


def test_statement_not_in_the_open_round_is_refused(run: OpenRun, engine: Engine) -> None:
    s1, s2, s3 = (s["id"] for s in run.statements)
    for i in range(3):
        run.rate(i, {s1: 8, s2: 8, s3: 1 + 4 * i}, submit=True)
    run.close_round(run.round["id"])
    round2 = run.new_round()
    assert [s["id"] for s in round2["statements"]] == [s3]
    run.open_round(round2["id"])
    put_ratings(
        run,
        engine,
        422,
        f"Statement {s1} is not on this round's ballot",
        [{"statement_id": s1, "value": 5}],
    )


def test_closed_round_refuses_rating(run: OpenRun, engine: Engine) -> None:
    run.close_round(run.round["id"])
    s1 = run.statements[0]["id"]
    put_ratings(run, engine, 409, "No round is open", [{"statement_id": s1, "value": 5}])


def test_form_for_a_closed_round_is_refused_even_when_another_is_open(
    run: OpenRun, engine: Engine
) -> None:
    s1, s2, s3 = (s["id"] for s in run.statements)
    for i in range(3):
        run.rate(i, {s1: 8, s2: 8, s3: 1 + 4 * i}, submit=True)
    run.close_round(run.round["id"])
    run.open_round(run.new_round()["id"])
    put_ratings(
        run,
        engine,
        409,
        "Round 1 is closed",
        [{"statement_id": s3, "value": 5}],
        round_id=run.round["id"],
    )


def test_draft_round_refuses_rating(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run = start_study(client, coordinator_token, statements=1, panelists=1)
    run.new_round()
    s1 = run.statements[0]["id"]
    put_ratings(run, engine, 409, "No round is open", [{"statement_id": s1, "value": 5}])


def test_deadline_passed_refuses_rating(run: OpenRun, engine: Engine, session: Session) -> None:
    from datetime import timedelta

    from app.models import Round, utcnow

    round_ = session.get_one(Round, run.round["id"])
    round_.closes_at = utcnow() - timedelta(seconds=1)
    session.commit()
    s1 = run.statements[0]["id"]
    put_ratings(run, engine, 409, "deadline of round 1 passed", [{"statement_id": s1, "value": 5}])


def test_comment_over_5000_characters_is_refused(run: OpenRun, engine: Engine) -> None:
    s1 = run.statements[0]["id"]
    put_ratings(
        run,
        engine,
        422,
        "the comment has 5,001 characters; the limit is 5,000",
        [{"statement_id": s1, "value": 5, "comment": "x" * 5001}],
    )


def test_submit_with_missing_ratings_names_them_and_saves_nothing(
    run: OpenRun, engine: Engine
) -> None:
    s2 = run.statements[1]["id"]
    put_ratings(
        run, engine, 422, "still missing: S03", [{"statement_id": s2, "value": 5}], submit=True
    )


def test_missing_bearer_token_gets_401_with_a_challenge(run: OpenRun, engine: Engine) -> None:
    response = refused(
        run, engine, 401, "GET", "/api/v1/ballot", "Authorization: Bearer", headers={}
    )
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/api/v1/ballot", "/api/v1/studies"])
def test_garbage_bearer_token_gets_401(run: OpenRun, engine: Engine, path: str) -> None:
    refused(
        run,
        engine,
        401,
        "GET",
        path,
        "not valid" if "ballot" in path else "unknown",
        headers={"Authorization": "Bearer dp_not-a-real-token"},
    )


def test_panelist_token_cannot_call_coordinator_endpoints(run: OpenRun, engine: Engine) -> None:
    refused(
        run,
        engine,
        401,
        "POST",
        f"/api/v1/rounds/{run.round['id']}/close",
        "unknown",
        headers=run.as_panelist(0),
    )


def test_another_coordinators_study_is_not_found(
    run: OpenRun, engine: Engine, session: Session
) -> None:
    _, other = coordinator(session, email="other@example.org")
    headers = {"Authorization": f"Bearer {other}"}
    for method, path in [
        ("GET", f"/api/v1/studies/{run.study['id']}"),
        ("POST", f"/api/v1/rounds/{run.round['id']}/close"),
        ("GET", f"/api/v1/rounds/{run.round['id']}/results"),
        ("PUT", f"/api/v1/statements/{run.statements[0]['id']}"),
    ]:
        body = {"text": "hijacked", "rationale": "x"} if method == "PUT" else None
        refused(run, engine, 404, method, path, "is not one of yours", headers=headers, json=body)


def test_another_studys_panelist_cannot_rate_this_studys_statements(
    run: OpenRun, engine: Engine, client: TestClient, session: Session
) -> None:
    _, other = coordinator(session, email="other@example.org")
    elsewhere = start_study(client, other, statements=1, panelists=1)
    elsewhere.open_round(elsewhere.new_round()["id"])
    refused(
        run,
        engine,
        422,
        "PUT",
        "/api/v1/ballot",
        "is not on this round's ballot",
        headers=elsewhere.as_panelist(0),
        json={"ratings": [{"statement_id": run.statements[0]["id"], "value": 5}]},
    )


def test_body_over_one_megabyte_gets_413(run: OpenRun, engine: Engine) -> None:
    s1 = run.statements[0]["id"]
    body = json.dumps({"ratings": [{"statement_id": s1, "value": 5, "comment": "x" * 1_100_000}]})
    refused(
        run,
        engine,
        413,
        "PUT",
        "/api/v1/ballot",
        "larger than 1 MB",
        headers={**run.as_panelist(0), "content-type": "application/json"},
        content=body,
    )


def test_malformed_json_gets_400(run: OpenRun, engine: Engine) -> None:
    refused(
        run,
        engine,
        400,
        "PUT",
        "/api/v1/ballot",
        "not valid JSON",
        headers={**run.as_panelist(0), "content-type": "application/json"},
        content='{"ratings": [{"statement_id": 1, "value": 5,}]}',
    )


def test_string_value_is_a_422_field_error(run: OpenRun, engine: Engine) -> None:
    s1 = run.statements[0]["id"]
    response = put_ratings(run, engine, 422, "int", [{"statement_id": s1, "value": "5"}])
    assert response.json()["detail"][0]["loc"][-1] == "value"


def test_rules_cannot_change_once_round_one_opened(run: OpenRun, engine: Engine) -> None:
    refused(
        run,
        engine,
        409,
        "PATCH",
        f"/api/v1/studies/{run.study['id']}",
        "frozen",
        headers=run.auth,
        json={"consensus": {"rule": "percent_agreement", "threshold": 80}},
    )


def test_title_can_still_change_after_round_one_opened(run: OpenRun) -> None:
    study = run.call("PATCH", f"/api/v1/studies/{run.study['id']}", json={"title": "Renamed"})
    assert study["title"] == "Renamed"


def test_rule_outside_the_scale_is_refused_at_creation(engine: Engine, run: OpenRun) -> None:
    refused(
        run,
        engine,
        422,
        "POST",
        "/api/v1/studies",
        "RAND",
        headers=run.auth,
        json={"title": "x", "scale": {"min": 1, "max": 5}, "consensus": {"rule": "rand_ucla"}},
    )


@pytest.mark.parametrize("point", ["²", "10", "--5", "0"])
def test_a_translated_label_off_the_scale_is_refused(
    client: TestClient, coordinator_token: str, engine: Engine, point: str
) -> None:
    """A Chinese label for "²" once reached the report, whose sorting of labels then failed."""
    before = dump(engine)
    response = client.post(
        "/api/v1/studies",
        headers={"Authorization": f"Bearer {coordinator_token}"},
        json=study_body(
            languages=["en", "zh-Hans"],
            translations={"zh-Hans": {"labels": {"1": "非常不同意", point: "x"}}},
        ),
    )
    assert response.status_code == 422, response.text
    assert f"The zh-Hans labels name {point}" in response.json()["detail"]
    assert dump(engine) == before


def test_a_translated_label_off_the_scale_is_refused_on_change(
    run: OpenRun, engine: Engine
) -> None:
    refused(
        run,
        engine,
        422,
        "PATCH",
        f"/api/v1/studies/{run.study['id']}",
        "not a point of the scale",
        json={
            "languages": ["en", "zh-Hans"],
            "translations": {"zh-Hans": {"labels": {"²": "x"}}},
        },
        headers=run.auth,
    )
