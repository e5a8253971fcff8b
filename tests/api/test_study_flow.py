"""A whole Delphi through the public API, as an outside script drives it."""

from fastapi.testclient import TestClient

from tests.factories import start_study


def test_two_round_delphi_carries_forward_only_statements_without_consensus(
    client: TestClient, coordinator_token: str
) -> None:
    run = start_study(client, coordinator_token, statements=3, panelists=5)
    s1, s2, s3 = (s["id"] for s in run.statements)
    round1 = run.new_round()
    assert [s["id"] for s in round1["statements"]] == [s1, s2, s3]
    run.open_round(round1["id"])
    for i in range(5):
        # s1: all agree; s2: split; s3: all disagree
        run.rate(i, {s1: 8, s2: 1 + 2 * i, s3: 1}, submit=True)
    run.close_round(round1["id"])
    results = run.results(round1["id"])
    by_id = {s["statement_id"]: s for s in results["statements"]}
    assert by_id[s1]["classification"] == "consensus_for"
    assert by_id[s2]["classification"] == "no_consensus"
    assert by_id[s3]["classification"] == "consensus_against"
    assert results["responded"] == 5
    assert results["invited"] == 5

    round2 = run.new_round()
    assert [s["id"] for s in round2["statements"]] == [s2]
    run.open_round(round2["id"])
    ballot = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(1))
    (item,) = ballot["items"]
    assert item["feedback"]["my_previous"] == 3
    assert item["feedback"]["median"] == 5.0
    assert item["feedback"]["histogram"]["3"] == 1
