"""Once round 1 opens, the settings page shows the frozen method as words with its fingerprint."""

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import User
from app.services import accounts, studies
from tests.factories import StudyRun, start_study
from tests.web.test_console import csrf, form_fields, signed_in


def console_and_study(session: Session, client: TestClient) -> tuple[TestClient, StudyRun]:
    """The console signed in as the lead, and a study of theirs built through the API."""
    web = signed_in(session)
    token = accounts.create_api_token(session, user=_lead(session), label="tests")
    session.commit()
    return web, start_study(client, token, statements=2, panelists=2)


def test_the_frozen_method_is_text_with_its_fingerprint_and_the_rest_stays_editable(
    session: Session, client: TestClient
) -> None:
    web, run = console_and_study(session, client)
    edit = f"/console/studies/{run.study['id']}/edit"
    assert 'name="max_rounds"' in web.get(edit).text  # editable until round 1 opens
    run.open_round(run.new_round()["id"])
    page = web.get(edit)
    assert page.status_code == 200
    text = html.unescape(page.text)
    for name in ("max_rounds", "scale", "quantile_method", "evidence_scheme", "comet_70_15.in_pct"):
        assert f'name="{name}"' not in text, name
    for name in ("title", "instructions", "groups", "reminder_hours", "lang_en"):
        assert f'name="{name}"' in text, name
    study = studies.study_for(session, user=_lead(session), study_id=run.study["id"])
    assert studies.rules_fingerprint(study) in text
    assert "at least 70 %" in text  # the rule in words
    assert "Hyndman–Fan type 7" in text  # named, not "type7"
    assert "PEDro / SCIRE levels" in text
    readable = re.sub(r'\b(value|name|id|for|class|href|action)="[^"]*"', "", text)
    for code in ("type7", "pedro_scire", "comet_70_15"):
        assert code not in readable
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", readable)  # no raw ISO time
    fields = form_fields(page.text) | {
        "csrf_token": csrf(page.text),
        "lang_en": "on",
        "groups": "physiatrists, nurses",
    }
    saved = web.post(edit, data=fields)
    assert saved.status_code == 303, saved.text
    assert "nurses" in web.get(edit).text


def test_a_stale_form_that_changes_the_method_is_refused_in_words(
    session: Session, client: TestClient
) -> None:
    web, run = console_and_study(session, client)
    edit = f"/console/studies/{run.study['id']}/edit"
    stale = web.get(edit).text  # opened before round 1
    run.open_round(run.new_round()["id"])
    fields = form_fields(stale) | {
        "csrf_token": csrf(stale),
        "scale": "1-9",
        "rule": "comet_70_15",
        "lang_en": "on",
        "allow_abstain": "on",
        "max_rounds": "5",
    }
    refused = web.post(edit, data=fields)
    assert refused.status_code == 409
    text = html.unescape(refused.text)
    assert "can no longer change: the maximum number of rounds (max_rounds)" in text
    assert "UTC" in text
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", text)


def _lead(session: Session) -> User:
    return session.query(User).filter_by(email="lead@example.org").one()
