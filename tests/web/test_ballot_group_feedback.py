"""The ballot's charts by group, page and JSON: no rating is revealed by subtraction."""

from collections import Counter
from typing import Any

from fastapi.testclient import TestClient

from tests.factories import StudyRun, start_study
from tests.web.test_panel_pages import browser, sign_in


def _round_two(
    client: TestClient,
    token: str,
    panel: list[tuple[str, str, str]],
    values: list[int],
    **study: Any,
) -> StudyRun:
    """Round 1 rated by `panel` (name, group, language), closed; round 2 open."""
    run = start_study(client, token, statements=0, feedback_by_group=True, **study)
    sid = run.study["id"]
    run.statements = run.call(
        "POST", f"/api/v1/studies/{sid}/statements", 201, json=[{"text": "Walking helps"}]
    )
    run.panelists = run.call(
        "POST",
        f"/api/v1/studies/{sid}/panelists",
        201,
        json=[{"name": n, "group": g, "language": lang} for n, g, lang in panel],
    )
    first = run.new_round()
    run.open_round(first["id"])
    statement = run.statements[0]["id"]
    for index, value in enumerate(values):
        run.rate(index, {statement: value})
    run.close_round(first["id"])
    run.open_round(run.new_round()["id"])
    return run


def test_the_patient_representatives_rating_cannot_be_subtracted_from_the_ballot(
    client: TestClient, coordinator_token: str
) -> None:
    # Issue #13: 3 physiotherapists, 3 researchers, 1 patient representative who rated 9.
    panel = [(f"Physio {i}", "physiotherapists", "en") for i in range(3)]
    panel += [(f"Researcher {i}", "researchers", "en") for i in range(3)]
    panel += [("Patient", "patient representative", "en")]
    run = _round_two(client, coordinator_token, panel, [2, 3, 5, 4, 5, 6, 9])
    feedback = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(0))["items"][0]["feedback"]
    assert list(feedback["groups"]) == ["researchers"]
    assert feedback["groups_withheld"] is True
    left = Counter(feedback["histogram"])
    left.subtract(feedback["groups"]["researchers"]["histogram"])
    assert sum(left.values()) == 4  # the three physiotherapists and the representative together
    web = browser()
    sign_in(web, run, 0)
    page = web.get("/ballot").text
    assert page.count('class="group-chart"') == 1
    assert "<strong>researchers</strong>" in page
    assert "Some groups are not shown apart, so that no one's rating can be worked out" in page
    for hidden in ("patient representative", "physiotherapists"):
        assert hidden not in page
        assert hidden not in str(feedback)


def test_when_no_group_can_be_shown_the_ballot_says_so_in_the_panelists_language(
    client: TestClient, coordinator_token: str
) -> None:
    panel = [(f"Physio {i}", "physiotherapists", "zh-Hans") for i in range(3)]
    panel += [("Patient", "patient representative", "zh-Hans")]
    run = _round_two(client, coordinator_token, panel, [2, 3, 5, 9], languages=["en", "zh-Hans"])
    feedback = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(0))["items"][0]["feedback"]
    assert feedback["groups"] == {}
    assert feedback["groups_withheld"] is True
    web = browser()
    sign_in(web, run, 0)
    page = web.get("/ballot").text
    assert "本条目不单独显示任何群组，以免有人能从图中推算出任何人的评分。" in page
    assert 'class="group-chart"' not in page
    assert "physiotherapists" not in page
    assert "patient representative" not in page
