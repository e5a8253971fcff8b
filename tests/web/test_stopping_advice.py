"""After each round the console says whether to stop, and why; panelists see groups apart."""

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Role
from tests.factories import StudyRun, start_study
from tests.web.test_console import signed_in
from tests.web.test_panel_pages import browser, sign_in


def _two_rounds(
    client: TestClient, token: str, **study: Any
) -> tuple[StudyRun, int, int, dict[str, Any]]:
    run = start_study(
        client, token, statements=2, panelists=6, groups=["nurses", "physicians"], **study
    )
    s1, s2 = (s["id"] for s in run.statements)
    first = run.new_round()
    run.open_round(first["id"])
    for i, (a, b) in enumerate([(1, 8), (3, 8), (5, 9), (7, 8), (9, 9), (5, 5)]):
        run.rate(i, {s1: a, s2: b})
    run.close_round(first["id"])
    return run, s1, s2, first


def test_after_round_one_the_console_says_stability_waits_for_round_two(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    run, *_ = _two_rounds(client, coordinator_token)
    web = signed_in(session, email="admin@example.org", role=Role.admin)
    page = web.get(f"/console/studies/{run.study['id']}").text
    assert "After round 1: go on?" in page
    assert "Another round could help: 1 statement(s) would be carried forward" in page
    assert "Consensus reached on 1 of 2: for S02." in page
    assert "Stability needs two rounds, so it is judged after the next one." in page


def test_after_round_two_stable_statements_and_leavers_are_named(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    run, s1, _, _ = _two_rounds(client, coordinator_token, stability_rule={"min_pairs": 3})
    second = run.new_round()
    run.open_round(second["id"])
    for i, value in enumerate([1, 3, 5, 7]):  # nobody changes; panelists 4 and 5 leave
        run.rate(i, {s1: value})
    run.close_round(second["id"])
    web = signed_in(session, email="admin@example.org", role=Role.admin)
    page = web.get(f"/console/studies/{run.study['id']}").text
    assert "Stop: nothing is left to rate. Finalize the recommendations." in page
    assert "Stable without consensus: S01 (fewer than 15 % changed their rating since round 1)" in (
        page
    )
    assert re.search(r"2 panelist\(s\) who answered round 1 did not answer this one", page)
    assert "Not carried forward although without consensus, because stable" in page
    assert "Only 4 of 6 panelists answered (67 %)" in page


def test_feedback_split_by_group_keeps_small_groups_together(
    client: TestClient, coordinator_token: str
) -> None:
    run = start_study(
        client,
        coordinator_token,
        statements=1,
        panelists=7,
        groups=["nurses", "physicians", "patients"],
        feedback_by_group=True,
    )
    (s1,) = (s["id"] for s in run.statements)
    first = run.new_round()
    run.open_round(first["id"])
    for i, value in enumerate([2, 8, 5, 3, 9, 5, 1]):  # nurses 0,3,6; physicians 1,4; patients 2,5
        run.rate(i, {s1: value})
    run.close_round(first["id"])
    run.open_round(run.new_round()["id"])
    web = browser()
    sign_in(web, run, 0)
    page = web.get("/ballot").text
    assert "By stakeholder group" in page
    assert page.count('class="group-chart"') == 1  # only the nurses have 3 ratings
    assert "<strong>nurses</strong>" in page
    assert "Some groups are not shown apart, so that no one's rating can be worked out" in page
    assert "patients" not in page
    assert "physicians" not in page
    ballot = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(0))
    feedback = ballot["items"][0]["feedback"]
    nurses = {k: v for k, v in feedback["groups"]["nurses"]["histogram"].items() if v}
    assert nurses == {"1": 1, "2": 1, "3": 1}
    assert feedback["groups"]["nurses"]["n"] == 3
    assert feedback["groups_withheld"] is True


def test_console_results_show_stability_kendall_and_who_left(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    run, s1, _, _ = _two_rounds(client, coordinator_token)
    second = run.new_round()
    run.open_round(second["id"])
    for i, value in enumerate([2, 3, 5, 7]):  # one panelist changes; panelists 4 and 5 leave
        run.rate(i, {s1: value})
    run.close_round(second["id"])
    web = signed_in(session, email="admin@example.org", role=Role.admin)
    page = web.get(f"/console/rounds/{second['id']}/results").text
    assert "Stability since round 1" in page
    assert "<td>4</td><td>1 (25%)</td>" in page
    assert "Kendall's W needs at least two panelists" in page  # one statement this round
    assert "6 answered round 1, 4 answered this round: 2 left, 0 joined." in page
    assert "Did those who left differ?" in page


def test_console_results_state_kendalls_w_with_its_statement_count(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    _, _, _, first = _two_rounds(client, coordinator_token)
    web = signed_in(session, email="admin@example.org", role=Role.admin)
    page = web.get(f"/console/rounds/{first['id']}/results").text
    assert "6 panelists ranking 2 statements, corrected for ties" in page
    assert "built-in method" not in page
