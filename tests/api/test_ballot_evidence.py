"""The API's ballot carries each statement's evidence and the rule in words; the coordinator
writes the evidence summary; a save with several bad items lists every one (#15)."""

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.dbstate import dump
from tests.web.test_ballot_evidence import SUMMARY_EN, SUMMARY_ZH, bilingual_study


def test_the_ballot_document_carries_the_evidence_in_the_panelists_language(
    client: TestClient, coordinator_token: str
) -> None:
    run = bilingual_study(client, coordinator_token)
    english = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(0))
    chinese = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(1))
    evidence = english["items"][0]["evidence"]
    assert english["evidence_shown"] is True
    assert evidence["level_code"] == "1b"
    assert evidence["level_label"] == "Level 1b: one RCT with PEDro ≥ 6"
    assert evidence["summary"] == SUMMARY_EN
    assert evidence["summary_language"] == "en"
    assert [s["url"] for s in evidence["sources"]] == [
        "https://doi.org/10.1/abc",
        "https://pubmed.ncbi.nlm.nih.gov/31234567/",
        None,
    ]
    assert evidence["sources"][0]["design_words"] == "randomised controlled trial"
    assert english["items"][1]["evidence"]["sources"] == []
    assert "at least 70 % rate it 7–9" in english["consensus_in_words"]
    zh_evidence = chinese["items"][0]["evidence"]
    assert zh_evidence["summary"] == SUMMARY_ZH
    assert zh_evidence["sources"][0]["design_words"] != "randomised controlled trial"
    assert "70%" in chinese["consensus_in_words"]
    assert "consensus" not in chinese["consensus_in_words"]


def test_a_study_can_keep_the_evidence_off_the_ballot(
    client: TestClient, coordinator_token: str
) -> None:
    run = bilingual_study(client, coordinator_token)
    study = run.call(
        "PATCH", f"/api/v1/studies/{run.study['id']}", json={"show_evidence_on_ballot": False}
    )
    assert study["show_evidence_on_ballot"] is False
    ballot = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(0))
    assert ballot["evidence_shown"] is False
    assert [item["evidence"] for item in ballot["items"]] == [None, None]
    saved = run.rate(0, {run.statements[0]["id"]: 7})  # the save's answer agrees with the read
    assert saved["items"][0]["evidence"] is None


def test_the_evidence_summary_is_written_per_study_language(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run = bilingual_study(client, coordinator_token)
    s2 = run.statements[1]["id"]
    url = f"/api/v1/statements/{s2}/evidence-summary"
    statement = run.call("PUT", url, json={"summary": {"en": " Few trials. ", "zh-Hans": ""}})
    assert statement["evidence_summary"] == {"en": "Few trials."}
    before = dump(engine)
    refused = client.put(url, headers=run.auth, json={"summary": {"fr": "Peu d'essais."}})
    assert refused.status_code == 422
    assert "not among the study's languages" in refused.json()["detail"]
    assert dump(engine) == before
    stranger = client.put(url, json={"summary": {"en": "x"}})
    assert stranger.status_code == 401


def test_a_save_with_several_bad_items_lists_every_one(
    client: TestClient, coordinator_token: str, engine: Engine
) -> None:
    run = bilingual_study(client, coordinator_token)
    s1, s2 = (s["id"] for s in run.statements)
    before = dump(engine)
    response = client.put(
        "/api/v1/ballot",
        headers=run.as_panelist(0),
        json={
            "ratings": [
                {"statement_id": s1, "value": 10},
                {"statement_id": 987654, "value": 5},
                {"statement_id": s2, "value": 5, "abstain": True},
            ]
        },
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["statement_id"], e["code"]) for e in errors] == [
        (s1, "out_of_scale"),
        (987654, "unknown"),
        (s2, "both"),
    ]
    assert "987654" in errors[1]["message"]
    assert dump(engine) == before
