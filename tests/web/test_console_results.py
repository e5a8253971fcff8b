"""The console's results page: the rule the figures are judged by, and the study's own order."""

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Role
from tests.factories import start_study
from tests.web.test_console import signed_in


def test_results_state_the_rule_and_sort_by_statement_in_study_order(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    run = start_study(client, coordinator_token, statements=0)
    sid = run.study["id"]
    keys = ["SCI", "CIPN", "MS"]  # not alphabetical: the study's order must win
    run.statements = run.call(
        "POST",
        f"/api/v1/studies/{sid}/statements",
        201,
        json=[{"text": f"Statement {k}", "key": k} for k in keys],
    )
    run.panelists = run.call(
        "POST",
        f"/api/v1/studies/{sid}/panelists",
        201,
        json=[{"name": f"Expert {i}", "email": f"e{i}@example.org"} for i in range(3)],
    )
    first = run.new_round()
    run.open_round(first["id"])
    ids = [s["id"] for s in run.statements]
    for i in range(3):
        run.rate(i, {ids[0]: 8, ids[1]: 2, ids[2]: 5 + i})
    run.close_round(first["id"])
    web = signed_in(session, email="admin@example.org", role=Role.admin)

    page = web.get(f"/console/rounds/{first['id']}/results?sort=key")
    assert page.status_code == 200
    assert "Round 1 results" in page.text
    rule = re.search(r'<p class="rule">([^<]*)</p>', page.text)
    assert rule is not None
    assert "70" in rule.group(1)  # the pre-registered rule, in words
    shown = re.findall(r"\b(SCI|CIPN|MS)\b", page.text.split("<table", 1)[1])
    assert list(dict.fromkeys(shown)) == keys
