"""Correcting set-up mistakes from the console: sources, statements before round 1, panelists."""

import html
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.models import User
from app.services import accounts
from tests.dbstate import dump
from tests.factories import StudyRun, start_study
from tests.matching import found
from tests.web.test_console import post, signed_in


def console_and_study(
    session: Session, client: TestClient, **extra: Any
) -> tuple[TestClient, StudyRun]:
    """The console signed in as the lead, and a study of theirs built through the API."""
    web = signed_in(session)
    lead = session.query(User).filter_by(email="lead@example.org").one()
    token = accounts.create_api_token(session, user=lead, label="tests")
    session.commit()
    return web, start_study(client, token, statements=2, panelists=2, **extra)


def _trial(run: StudyRun, citation: str, pedro: int) -> int:
    body = {
        "citation": citation,
        "design": "rct",
        "pedro": pedro,
        "statement_ids": [run.statements[0]["id"]],
    }
    return int(run.call("POST", f"/api/v1/studies/{run.study['id']}/sources", 201, json=body)["id"])


def _level_of_s01(web: TestClient, study_id: int) -> str:
    page = web.get(f"/console/studies/{study_id}/evidence").text
    return found(r"<h3>S01: (Level \w+)", page).group(1)


def test_a_source_is_edited_from_its_own_page_and_the_level_follows(
    session: Session, client: TestClient
) -> None:
    web, run = console_and_study(session, client)
    study_id = run.study["id"]
    smith, _ = _trial(run, "Smith 2019", 7), _trial(run, "Li 2020", 8)
    assert _level_of_s01(web, study_id) == "Level 1a"
    edit = f"/console/sources/{smith}/edit"
    assert edit in web.get(f"/console/studies/{study_id}/evidence").text
    form = web.get(edit)
    assert form.status_code == 200
    assert 'value="Smith 2019"' in form.text
    assert f'name="for-{run.statements[0]["id"]}" checked' in form.text
    saved = post(
        web,
        edit,
        edit,
        citation="Smith 2019, J Pain Res",
        design="rct",
        pedro="4",
        **{f"for-{run.statements[0]['id']}": "on"},
    )
    assert saved.status_code == 303, saved.text
    assert _level_of_s01(web, study_id) == "Level 1b"
    assert "Smith 2019, J Pain Res" in web.get(f"/console/studies/{study_id}/evidence").text


def test_a_refused_source_edit_is_shown_again_as_typed_and_changes_nothing(
    session: Session, client: TestClient, engine: Engine
) -> None:
    web, run = console_and_study(session, client)
    smith = _trial(run, "Smith 2019", 7)
    edit = f"/console/sources/{smith}/edit"
    before = dump(engine)
    refused = post(web, edit, edit, citation="Smith 2019 typed", design="cohort", pedro="7")
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    assert "PEDro" in text
    assert 'value="Smith 2019 typed"' in text
    refused = post(web, edit, edit, citation="Smith 2019", design="rct", pedro="11")
    assert '<span class="error" id="pedro-error">' in refused.text  # beside its field
    assert dump(engine) == before


def test_a_source_is_deleted_after_a_confirmation_page(
    session: Session, client: TestClient
) -> None:
    web, run = console_and_study(session, client)
    study_id = run.study["id"]
    smith = _trial(run, "Smith 2019", 7)
    assert _level_of_s01(web, study_id) == "Level 1b"
    confirm = web.get(f"/console/sources/{smith}/delete")
    assert confirm.status_code == 200
    assert "It no longer supports S01" in confirm.text
    assert ">Delete the source</button>" in confirm.text
    assert "Keep it</a>" in confirm.text
    deleted = post(web, f"/console/sources/{smith}/delete", f"/console/sources/{smith}/delete")
    assert deleted.status_code == 303
    assert _level_of_s01(web, study_id) == "Level 5"
    assert web.get(f"/console/sources/{smith}/delete").status_code == 404


def test_sources_cannot_be_edited_or_deleted_once_the_study_is_finalized(
    session: Session, client: TestClient, engine: Engine
) -> None:
    web, run = console_and_study(session, client)
    smith = _trial(run, "Smith 2019", 7)
    round_id = run.new_round()["id"]
    run.open_round(round_id)
    run.rate(0, {run.statements[0]["id"]: 8})
    run.close_round(round_id)
    run.call("POST", f"/api/v1/studies/{run.study['id']}/finalize")
    evidence = f"/console/studies/{run.study['id']}/evidence"
    assert f"/console/sources/{smith}/edit" not in web.get(evidence).text
    before = dump(engine)
    edited = post(web, f"/console/sources/{smith}/edit", evidence, citation="x", design="rct")
    deleted = post(web, f"/console/sources/{smith}/delete", evidence)
    assert (edited.status_code, deleted.status_code) == (409, 409)
    assert "finalized" in deleted.text
    assert dump(engine) == before


def test_a_statement_is_deleted_before_round_one_and_taken_off_the_draft(
    session: Session, client: TestClient
) -> None:
    web, run = console_and_study(session, client)
    study_url = f"/console/studies/{run.study['id']}"
    s1 = run.statements[0]["id"]
    run.new_round()
    assert f"/console/statements/{s1}/delete" in web.get(study_url).text
    confirm = web.get(f"/console/statements/{s1}/delete")
    assert confirm.status_code == 200
    assert "Statement number 1" in confirm.text
    assert "taken off the draft of round 1" in confirm.text
    deleted = post(web, f"/console/statements/{s1}/delete", study_url)
    assert deleted.status_code == 303
    page = web.get(study_url)
    assert "S01 deleted. It was taken off the draft of round 1." in html.unescape(page.text)
    assert "Statement number 1" not in page.text
    assert "Statement number 2" in page.text


def test_no_statement_is_deleted_from_the_console_once_round_one_has_opened(
    session: Session, client: TestClient, engine: Engine
) -> None:
    web, run = console_and_study(session, client)
    study_url = f"/console/studies/{run.study['id']}"
    s1 = run.statements[0]["id"]
    run.open_round(run.new_round()["id"])
    assert f"/console/statements/{s1}/delete" not in web.get(study_url).text
    confirm = web.get(f"/console/statements/{s1}/delete")
    assert confirm.status_code == 409
    assert "Round 1 has been opened" in confirm.text
    assert "<button" not in confirm.text.split("<main", 1)[-1].split("</main>")[0]
    before = dump(engine)
    refused = post(web, f"/console/statements/{s1}/delete", study_url)
    assert refused.status_code == 409
    assert "Round 1 has been opened" in refused.text
    assert dump(engine) == before


def test_a_panelist_is_corrected_on_their_own_page(session: Session, client: TestClient) -> None:
    web, run = console_and_study(session, client, languages=["en", "zh-Hans"])
    study_url = f"/console/studies/{run.study['id']}"
    panelist = run.panelists[0]
    edit = f"/console/panelists/{panelist['id']}/edit"
    assert edit in web.get(study_url).text
    form = web.get(edit)
    assert form.status_code == 200
    assert 'value="Expert 0"' in form.text
    assert "简体中文" in form.text
    saved = post(
        web,
        edit,
        edit,
        name="Dr Expert Zero",
        email="zero@hospital.example.org",
        group="physiotherapists",
        language="zh-Hans",
        timezone="Asia/Shanghai",
    )
    assert saved.status_code == 303
    page = html.unescape(web.get(study_url).text)
    assert "P01: name, e-mail address, group, language, time zone saved." in page
    assert "zero@hospital.example.org" in page
    audit = web.get(f"{study_url}/audit").text
    assert "panel.edit" in audit
    assert "zero@hospital.example.org" not in audit  # observers read the audit log


def test_a_refused_panelist_correction_keeps_what_was_typed(
    session: Session, client: TestClient, engine: Engine
) -> None:
    web, run = console_and_study(session, client)
    edit = f"/console/panelists/{run.panelists[0]['id']}/edit"
    before = dump(engine)
    refused = post(web, edit, edit, name="Typed name", email="not an address", language="en")
    assert refused.status_code == 422
    assert "is not an e-mail address" in html.unescape(refused.text)
    assert 'value="Typed name"' in refused.text
    taken = post(web, edit, edit, name="Expert 0", email=run.panelists[1]["email"], language="en")
    assert taken.status_code == 409
    assert "already on the panel, as P02" in taken.text
    assert dump(engine) == before
