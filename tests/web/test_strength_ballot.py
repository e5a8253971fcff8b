"""The final round's ballot asks each recommendation's strength, in words a clinician knows."""

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.consensus import grading
from tests.dbstate import dump
from tests.factories import StudyRun, start_study
from tests.web.test_panel_pages import browser, form_for, sign_in


def _final_round(client: TestClient, token: str) -> StudyRun:
    run = start_study(
        client,
        token,
        statements=2,
        panelists=2,
        max_rounds=1,
        evidence_scheme="grade",
        strength_vote=True,
        grading_table=grading.grade_table(panel_strength=True).model_dump(mode="json"),
    )
    round_ = run.new_round()
    assert round_["asks_strength"] is True
    run.open_round(round_["id"])
    return run


def test_final_round_ballot_saves_the_chosen_strength(
    client: TestClient, coordinator_token: str
) -> None:
    run = _final_round(client, coordinator_token)
    s1, s2 = (s["id"] for s in run.statements)
    web = browser()
    sign_in(web, run, 0)
    page = web.get("/ballot").text
    assert "Besides your rating, choose how strong" in page
    assert page.count("If this becomes a recommendation, how strong should it be?") == 2
    assert "Conditional recommendation against" in page
    response = web.post(
        "/ballot",
        data=form_for(
            page,
            action="save",
            **{
                f"rating-{s1}": "8",
                f"strength-{s1}": "strong_for",
                f"rating-{s2}": "3",
                f"strength-{s2}": "",
            },
        ),
    )
    assert response.status_code == 303
    again = web.get("/ballot").text
    assert re.search(rf'name="strength-{s1}" value="strong_for"\s+checked', again)
    assert re.search(rf'name="strength-{s2}" value=""\s+checked', again)
    ballot = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(0))
    assert [item["strength"] for item in ballot["items"]] == ["strong_for", None]


def test_strength_with_unable_to_rate_comes_back_with_a_message_and_nothing_saved(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run = _final_round(client, coordinator_token)
    s1, _ = (s["id"] for s in run.statements)
    web = browser()
    sign_in(web, run, 0)
    page = web.get("/ballot").text
    before = dump(engine)
    response = web.post(
        "/ballot",
        data=form_for(
            page, action="save", **{f"rating-{s1}": "abstain", f"strength-{s1}": "strong_against"}
        ),
    )
    assert response.status_code == 422
    assert "You chose “Unable to rate”, so leave the strength empty" in response.text
    assert re.search(rf'name="strength-{s1}" value="strong_against"\s+checked', response.text)
    assert dump(engine) == before


def test_rounds_that_do_not_ask_show_no_strength_question(
    client: TestClient, coordinator_token: str
) -> None:
    run = start_study(client, coordinator_token, statements=1, panelists=1)
    run.open_round(run.new_round()["id"])
    web = browser()
    sign_in(web, run, 0)
    ballot = web.get("/ballot")
    assert ballot.status_code == 200
    page = ballot.text
    assert "<h1>Round 1</h1>" in page
    assert "how strong should it be" not in page
    assert "strength-" not in page


def test_console_results_show_the_strength_vote_in_words(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    from app.models import Role
    from tests.web.test_console import signed_in

    run = _final_round(client, coordinator_token)
    s1, _ = (s["id"] for s in run.statements)
    for index, choice in enumerate(["strong_for", "conditional_for"]):
        run.call(
            "PUT",
            "/api/v1/ballot",
            headers=run.as_panelist(index),
            json={"ratings": [{"statement_id": s1, "value": 8, "strength": choice}]},
        )
    round_id = run.call("GET", f"/api/v1/studies/{run.study['id']}/rounds")[0]["id"]
    run.close_round(round_id)
    web = signed_in(session, email="admin@example.org", role=Role.admin)
    page = web.get(f"/console/rounds/{round_id}/results").text
    assert "Strength vote" in page
    assert "no strength chosen by 70 % of the 2 votes (strong for 1, conditional for 1)" in page
