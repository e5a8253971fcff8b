"""The console's source form is checked by the API's SourceCreate: the same input, refused alike."""

import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.models import User
from app.services import accounts
from tests.dbstate import dump
from tests.web.test_console import new_study, post, signed_in


@pytest.mark.parametrize(
    ("field", "typed", "said"),
    [
        ("pedro", "11", "PEDro must be a whole number from 0 to 10; 11 is outside that range."),
        ("pmid", "PMID 31234567", "PMID: give the PubMed number in digits (up to 12)."),
    ],
)
def test_a_source_the_api_refuses_is_refused_by_the_console_form_too(
    session: Session, client: TestClient, engine: Engine, field: str, typed: str, said: str
) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    lead = session.query(User).filter_by(email="lead@example.org").one()
    token = accounts.create_api_token(session, user=lead, label="tests")
    session.commit()
    before = dump(engine)
    source = {"citation": "Smith 2019", "design": "rct", field: typed}

    api = client.post(
        f"/api/v1/studies/{study_id}/sources",
        headers={"Authorization": f"Bearer {token}"},
        json={**source, field: int(typed) if typed.isdigit() else typed},
    )
    assert api.status_code == 422
    assert [e["loc"][-1] for e in api.json()["detail"]] == [field]

    evidence_url = f"/console/studies/{study_id}/evidence"
    console = post(web, f"{evidence_url}/sources", evidence_url, **source)
    assert console.status_code == 422
    text = html.unescape(console.text)
    assert f'<span class="error" id="{field}-error">{said}' in text  # beside its field
    assert 'value="Smith 2019"' in text
    assert f'value="{typed}"' in text
    assert dump(engine) == before


def test_the_evidence_page_names_designs_ratings_and_the_scheme_in_words(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    evidence_url = f"/console/studies/{study_id}/evidence"
    for citation, design, extra in (
        ("Lee 2020", "meta_analysis", {"amstar2": "critically_low"}),
        ("Chen 2018", "non_randomised_controlled", {}),
    ):
        response = post(
            web,
            f"{evidence_url}/sources",
            evidence_url,
            citation=citation,
            design=design,
            **extra,
        )
        assert response.status_code == 303, response.text[:300]
    page = web.get(evidence_url)
    assert page.status_code == 200
    assert "Lee 2020" in page.text
    for words in ("meta-analysis", "critically low", "non-randomised controlled trial"):
        assert words in page.text
    assert "PEDro / SCIRE levels" in page.text
    readable = re.sub(r'\b(value|name|id|for|class|href|action)="[^"]*"', "", page.text)
    for code in ("meta_analysis", "critically_low", "non_randomised_controlled", "pedro_scire"):
        assert code not in readable  # codes stay in form values, never in what a person reads
