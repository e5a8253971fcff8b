"""What a first review found: odd input must never be a 500, and structural writes must not race."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.models import Round, utcnow
from app.settings import get_settings
from tests.dbstate import dump
from tests.factories import StudyRun, start_study


@pytest.fixture
def run(client: TestClient, coordinator_token: str) -> StudyRun:
    return start_study(client, coordinator_token, statements=2, panelists=3)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/studies/100000000000000000000", None),
        ("GET", "/api/v1/rounds/9223372036854775808/results", None),
        ("PATCH", "/api/v1/studies/{sid}", {"title": None}),
        ("PATCH", "/api/v1/studies/{sid}", {"scale": None}),
        ("PATCH", "/api/v1/studies/{sid}", {"max_rounds": float("inf")}),
        ("POST", "/api/v1/studies/{sid}/statements", [{"text": "nul \x00 inside"}]),
        ("POST", "/api/v1/studies/{sid}/statements", [{"text": "lone \ud800 surrogate"}]),
        (
            "POST",
            "/api/v1/studies",
            {
                "title": "x",
                "consensus": {
                    "rule": "median_iqr",
                    "median_min": 7,
                    "median_max_against": 3,
                    "iqr_max": 1e999,
                },
            },
        ),
        (
            "POST",
            "/api/v1/studies",
            {"title": "x", "scale": {"min": 1, "max": 5, "labels": {"42": "no"}}},
        ),
    ],
)
def test_odd_input_gets_422_or_404_never_500(
    run: StudyRun, engine: Engine, method: str, path: str, body: dict[str, Any] | None
) -> None:
    import json

    before = dump(engine)
    content = (
        None if body is None else json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
    )
    response = run.client.request(
        method,
        path.format(sid=run.study["id"]),
        headers={**run.auth, "content-type": "application/json"},
        content=content,
    )
    assert response.status_code in (404, 422), response.text
    assert response.json()["detail"]
    assert dump(engine) == before


def test_default_rule_follows_the_scale(run: StudyRun) -> None:
    study = run.call(
        "POST", "/api/v1/studies", 201, json={"title": "Likert", "scale": {"min": 1, "max": 5}}
    )
    assert study["consensus"]["rule"] == "percent_agreement"
    assert "4–5" in study["consensus_in_words"]


def test_times_are_written_with_an_explicit_offset(run: StudyRun) -> None:
    round1 = run.new_round()
    opened = run.open_round(round1["id"], closes_at=utcnow() + timedelta(days=2))
    assert opened["closes_at"].endswith("+00:00")
    assert opened["opens_at"].endswith("+00:00")


def test_only_one_of_several_concurrent_openers_wins(run: StudyRun, live_server: str) -> None:
    round_id = run.new_round()["id"]
    start = threading.Barrier(6)

    def open_it() -> int:
        with httpx.Client(base_url=live_server, timeout=30) as http:
            start.wait()
            return http.post(
                f"/api/v1/rounds/{round_id}/open", headers=run.auth, json={}
            ).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(lambda _: open_it(), range(6)))
    assert statuses == [200, 409, 409, 409, 409, 409]


def test_concurrent_panel_additions_get_distinct_pseudonyms(
    run: StudyRun, live_server: str
) -> None:
    start = threading.Barrier(5)

    def add(i: int) -> int:
        with httpx.Client(base_url=live_server, timeout=30) as http:
            start.wait()
            body = [{"name": f"Late expert {i}"}]
            return http.post(
                f"/api/v1/studies/{run.study['id']}/panelists", headers=run.auth, json=body
            ).status_code

    with ThreadPoolExecutor(5) as pool:
        assert set(pool.map(add, range(5))) == {201}
    codes = [p["code"] for p in run.call("GET", f"/api/v1/studies/{run.study['id']}/panelists")]
    assert len(codes) == len(set(codes)) == 8


def test_reissued_link_replaces_the_old_one(run: StudyRun) -> None:
    old = run.as_panelist(0)
    run.open_round(run.new_round()["id"])
    fresh = run.call("POST", f"/api/v1/panelists/{run.panelists[0]['id']}/link")
    assert fresh["invite_url"].endswith(fresh["token"])
    assert run.client.get("/api/v1/ballot", headers=old).status_code == 401
    ballot = run.client.get("/api/v1/ballot", headers={"Authorization": f"Bearer {fresh['token']}"})
    assert ballot.status_code == 200


def test_a_draft_round_can_be_deleted_but_an_opened_one_cannot(run: StudyRun) -> None:
    draft = run.new_round()
    run.call("DELETE", f"/api/v1/rounds/{draft['id']}", 204)
    again = run.new_round(statement_ids=[run.statements[0]["id"]])
    assert again["number"] == 1
    run.open_round(again["id"])
    response = run.call("DELETE", f"/api/v1/rounds/{again['id']}", 409)
    assert "only a draft can be deleted" in response["detail"]


def test_ballot_after_the_deadline_is_409_before_any_tick(run: StudyRun, session: Session) -> None:
    round_id = run.new_round()["id"]
    run.open_round(round_id, closes_at=utcnow() + timedelta(days=1))
    session.get_one(Round, round_id).closes_at = utcnow() - timedelta(seconds=1)
    session.commit()
    response = run.client.get("/api/v1/ballot", headers=run.as_panelist(0))
    assert response.status_code == 409
    assert "deadline of round 1 passed" in response.json()["detail"]


def test_the_server_closes_rounds_past_their_deadline_by_itself(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    from app.main import create_app

    run = start_study(client, coordinator_token, statements=1, panelists=2)
    round_id = run.new_round()["id"]
    run.open_round(round_id, closes_at=utcnow() + timedelta(days=1))
    session.get_one(Round, round_id).closes_at = utcnow() - timedelta(seconds=1)
    session.commit()
    settings = get_settings()
    interval, settings.tick_seconds = settings.tick_seconds, 0.1
    try:
        with TestClient(create_app()) as ticking:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                got = ticking.get(f"/api/v1/rounds/{round_id}", headers=run.auth).json()
                if got["status"] == "closed":
                    break
                time.sleep(0.1)
    finally:
        settings.tick_seconds = interval
    assert got["status"] == "closed"


def test_revision_keeps_translations_and_panelists_see_what_changed(
    client: TestClient, coordinator_token: str
) -> None:
    run = start_study(
        client, coordinator_token, statements=0, panelists=0, languages=["en", "zh-Hans"]
    )
    sid = run.study["id"]
    (statement,) = run.call(
        "POST",
        f"/api/v1/studies/{sid}/statements",
        201,
        json=[{"text": "Walking helps", "translations": {"zh-Hans": "步行有帮助"}}],
    )
    panel = run.call(
        "POST",
        f"/api/v1/studies/{sid}/panelists",
        201,
        json=[{"name": "A", "language": "zh-Hans"}, {"name": "B"}, {"name": "C"}],
    )
    run.panelists = panel
    r1 = run.new_round()
    run.open_round(r1["id"])
    for i, v in enumerate([2, 5, 9]):
        run.rate(i, {statement["id"]: v})
    run.close_round(r1["id"])
    revised = run.call(
        "PUT",
        f"/api/v1/statements/{statement['id']}",
        json={"text": "Brisk walking helps", "rationale": "Intensity was unclear"},
    )
    assert revised["translations"] == {"zh-Hans": "步行有帮助"}
    assert revised["version"] == 2
    run.open_round(run.new_round()["id"])
    item = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(1))["items"][0]
    assert item["text"] == "Brisk walking helps"
    assert item["feedback"]["revised"] is True
    assert item["feedback"]["previous_text"] == "Walking helps"
    assert item["feedback"]["rationale"] == "Intensity was unclear"
    zh = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(0))["items"][0]
    assert zh["text"] == "步行有帮助"
