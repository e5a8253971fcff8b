"""The ballot shows each statement's evidence and the consensus rule, keeps typing across a
language switch, and names every bad value of a tampered form beside its statement (#15)."""

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Rating, Statement, Study, utcnow
from tests.factories import StudyRun, start_study
from tests.matching import found
from tests.web.test_console import new_study, post, signed_in
from tests.web.test_panel_pages import browser, form_for, sign_in

SUMMARY_EN = "Two good trials found less pain after twelve weeks of walking."
SUMMARY_ZH = "两项高质量试验发现步行十二周后疼痛减轻。"


def add_sources(run: StudyRun, statement_id: int) -> None:
    """A trial with a DOI, a review with a PMID, and expert opinion without either."""
    sid = run.study["id"]
    for source in (
        {"citation": "Smith 2019, J Pain Res", "design": "rct", "pedro": 7, "doi": "10.1/abc"},
        {
            "citation": "Lee 2020, Cochrane",
            "design": "systematic_review",
            "amstar2": "moderate",
            "pooled_levels": ["1b"],
            "pmid": "31234567",
        },
        {"citation": "Panel consensus 2018", "design": "expert_opinion"},
    ):
        run.call(
            "POST",
            f"/api/v1/studies/{sid}/sources",
            201,
            json={**source, "statement_ids": [statement_id]},
        )


@pytest.fixture
def bilingual(client: TestClient, coordinator_token: str) -> StudyRun:
    return bilingual_study(client, coordinator_token)


def bilingual_study(client: TestClient, coordinator_token: str) -> StudyRun:
    """An English and Chinese study, one panelist in each language, evidence on statement 1."""
    run = start_study(
        client, coordinator_token, statements=0, panelists=0, languages=["en", "zh-Hans"]
    )
    sid = run.study["id"]
    run.statements = run.call(
        "POST",
        f"/api/v1/studies/{sid}/statements",
        201,
        json=[
            {"text": "Walking helps", "translations": {"zh-Hans": "步行有帮助"}},
            {"text": "Swimming helps", "translations": {"zh-Hans": "游泳有帮助"}},
        ],
    )
    run.panelists = run.call(
        "POST",
        f"/api/v1/studies/{sid}/panelists",
        201,
        json=[{"name": "A", "language": "en"}, {"name": "B", "language": "zh-Hans"}],
    )
    s1 = run.statements[0]["id"]
    add_sources(run, s1)
    run.call(
        "PUT",
        f"/api/v1/statements/{s1}/evidence-summary",
        json={"summary": {"en": SUMMARY_EN, "zh-Hans": SUMMARY_ZH}},
    )
    run.open_round(run.new_round()["id"], closes_at=utcnow() + timedelta(days=7))
    return run


def _panel(page: str, statement_id: int) -> str:
    """The evidence panel of one statement."""
    return found(
        rf'<details class="evidence" id="ev-{statement_id}">(.*?)</details>\s*</div>\s*</details>',
        page,
        re.S,
    ).group(1)


def test_the_ballot_shows_each_statements_evidence_collapsed(bilingual: StudyRun) -> None:
    web = browser()
    sign_in(web, bilingual, 0)
    page = web.get("/ballot").text
    s1, s2 = (s["id"] for s in bilingual.statements)
    assert f'<details class="evidence" id="ev-{s1}">' in page  # closed until opened
    panel = html.unescape(_panel(page, s1))
    assert "Level 1b: one RCT with PEDro ≥ 6" in panel
    assert "3 sources" in panel
    assert "no sources linked" in html.unescape(_panel(page, s2))
    assert SUMMARY_EN in panel
    assert "Smith 2019, J Pain Res" in panel
    assert "randomised controlled trial · PEDro score 7/10" in panel
    assert "systematic review · AMSTAR 2 confidence: moderate" in panel
    assert 'href="https://doi.org/10.1/abc"' in panel
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/31234567/"' in panel
    assert "expert opinion" in panel
    # A statement without sources says so, in words, not as an empty list.
    assert "No research sources are linked to this statement." in html.unescape(_panel(page, s2))


def test_the_ballot_says_the_consensus_rule_in_the_panelists_language(
    bilingual: StudyRun,
) -> None:
    english, chinese = browser(), browser()
    sign_in(english, bilingual, 0)
    sign_in(chinese, bilingual, 1)
    en_page = html.unescape(english.get("/ballot").text).replace("\N{NO-BREAK SPACE}", " ")
    zh_page = html.unescape(chinese.get("/ballot").text)
    assert "at least 70 % rate it 7–9 and fewer than 15 % rate it 1–3" in en_page
    assert "70%" in found(r'<div class="rule-words">(.*?)</div>', zh_page, re.S).group(1)
    assert "A statement reaches consensus" not in zh_page


def test_a_chinese_panelist_reads_the_evidence_in_chinese(bilingual: StudyRun) -> None:
    web = browser()
    sign_in(web, bilingual, 1)
    page = web.get("/ballot").text
    panel = html.unescape(_panel(page, bilingual.statements[0]["id"]))
    assert SUMMARY_ZH in panel
    assert SUMMARY_EN not in panel
    assert "randomised controlled trial" not in panel
    assert "Level 1b" not in panel


def test_a_study_that_rates_before_seeing_the_evidence_hides_it(bilingual: StudyRun) -> None:
    bilingual.call(
        "PATCH",
        f"/api/v1/studies/{bilingual.study['id']}",
        json={"show_evidence_on_ballot": False},
    )
    web = browser()
    sign_in(web, bilingual, 0)
    page = web.get("/ballot").text
    assert 'class="evidence"' not in page
    assert "Smith 2019" not in page
    assert SUMMARY_EN not in page


def test_changing_language_keeps_what_was_typed(bilingual: StudyRun, session: Session) -> None:
    """The switch used to post to /language alone: the ratings typed were lost."""
    web = browser()
    sign_in(web, bilingual, 0)
    s1, s2 = (s["id"] for s in bilingual.statements)
    page = web.get("/ballot").text
    assert 'form="ballot" name="action" value="language"' in page  # the switch sends the ballot
    assert "Changing the language saves what you have typed first" in page
    response = web.post(
        "/ballot",
        data=form_for(
            page,
            action="language",
            language="zh-Hans",
            **{f"rating-{s1}": "8", f"comment-{s2}": "Why"},
        ),
    )
    assert response.status_code == 303
    switched = web.get("/ballot").text
    assert '<html lang="zh-Hans">' in switched
    assert re.search(rf'name="rating-{s1}" value="8"\s+checked', switched)
    assert "Why</textarea>" in switched
    saved = {r.statement_id: (r.value, r.comment) for r in session.scalars(select(Rating))}
    assert saved == {s1: (8, None), s2: (None, "Why")}


def test_changing_language_with_a_bad_value_keeps_it_and_shows_why(bilingual: StudyRun) -> None:
    web = browser()
    sign_in(web, bilingual, 0)
    s1, s2 = (s["id"] for s in bilingual.statements)
    page = web.get("/ballot").text
    response = web.post(
        "/ballot",
        data=form_for(
            page,
            action="language",
            language="zh-Hans",
            **{f"rating-{s1}": "12", f"rating-{s2}": "3"},
        ),
    )
    assert response.status_code == 422
    assert '<html lang="zh-Hans">' in response.text
    assert re.search(rf'name="rating-{s2}" value="3"\s+checked', response.text)
    assert f'id="err-{s1}"' in response.text


def test_an_empty_ballot_switches_language_without_saving(
    bilingual: StudyRun, session: Session
) -> None:
    web = browser()
    sign_in(web, bilingual, 0)
    page = web.get("/ballot").text
    response = web.post("/ballot", data=form_for(page, action="language", language="zh-Hans"))
    assert response.status_code == 303
    assert '<html lang="zh-Hans">' in web.get("/ballot").text
    assert session.scalars(select(Rating)).all() == []


def test_a_tampered_form_reports_every_bad_value_beside_its_statement(
    bilingual: StudyRun, session: Session
) -> None:
    """Only the unreadable value was reported; one for a statement not on the ballot got an
    empty list."""
    web = browser()
    sign_in(web, bilingual, 0)
    s1, s2 = (s["id"] for s in bilingual.statements)
    page = web.get("/ballot").text
    fields: dict[str, Any] = {f"rating-{s1}": "abc", f"rating-{s2}": "12", "rating-987654": "5"}
    response = web.post("/ballot", data=form_for(page, action="save", **fields))
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert re.search(rf'id="err-{s1}">Choose one of the points on the scale\.', text)
    assert re.search(rf'id="err-{s2}">12 is not on the scale \(1–9\)', text)
    alert = found(r'<div class="alert" role="alert">(.*?)</div>', text, re.S).group(1)
    assert "987654" in alert
    assert alert.count("<li>") == 3
    assert session.scalars(select(Rating)).all() == []


def test_the_coordinator_writes_the_evidence_summary_in_the_console(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web, **{"lang_zh-Hans": "on"})
    evidence_url = f"/console/studies/{study_id}/evidence"
    statement_page = post(
        web, f"/console/studies/{study_id}/statements", f"/console/studies/{study_id}", text="Walk"
    )
    assert statement_page.status_code == 303
    statement = session.scalars(select(Statement).where(Statement.study_id == study_id)).one()
    response = post(
        web,
        f"/console/statements/{statement.id}/evidence-summary",
        evidence_url,
        **{"summary-en": " Walking helps. ", "summary-zh-Hans": SUMMARY_ZH},
    )
    assert response.status_code == 303
    session.rollback()  # a fresh read: the console wrote in its own transaction
    statement = session.get_one(Statement, statement.id)
    assert statement.evidence_summary == {"en": "Walking helps.", "zh-Hans": SUMMARY_ZH}
    assert SUMMARY_ZH in web.get(evidence_url).text


def test_the_settings_form_turns_the_evidence_on_the_ballot_on_and_off(session: Session) -> None:
    web = signed_in(session)
    assert re.search(
        r'name="show_evidence_on_ballot" checked', web.get("/console/studies/new").text
    )  # a new study shows it unless told
    study_id = new_study(web, show_evidence_on_ballot="on")
    edit = f"/console/studies/{study_id}/edit"
    assert 'name="show_evidence_on_ballot" checked' in web.get(edit).text
    typed = {"title": "Exercise for neuropathic pain", "scale": "1-9", "max_rounds": "3"}
    typed |= {"quantile_method": "type7", "evidence_scheme": "pedro_scire", "lang_en": "on"}
    response = post(web, edit, edit, **typed)  # the box left unticked
    assert response.status_code == 303
    session.rollback()
    study = session.get_one(Study, study_id)
    assert study.show_evidence_on_ballot is False
