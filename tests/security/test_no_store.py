"""Secrets are not cached or carried: no-store on every page, personal links never in a cookie."""

import base64
import re

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.web.session import FLASH_COOKIE
from tests.factories import start_study
from tests.web.test_console import new_study, post, signed_in


def _flash_payloads(response: httpx.Response) -> list[str]:
    """What the signed (not encrypted) flash cookie carries, decoded as anyone could."""
    payloads = []
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{FLASH_COOKIE}="):
            value = header.split("=", 1)[1].split(";", 1)[0].strip('"')
            body = value.split(".", 1)[0]
            payloads.append(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode())
    return payloads


def test_a_new_personal_link_is_shown_on_an_unstored_page_not_in_the_flash_cookie(
    session: Session,
) -> None:
    web = signed_in(session)
    study_url = f"/console/studies/{new_study(web)}"
    added = post(web, f"{study_url}/panelists", study_url, name="Dr A")
    assert added.status_code == 201
    assert re.search(r"/p/dp_[\w-]+", added.text)
    link = re.search(r"/console/panelists/(\d+)/link", web.get(study_url).text)
    assert link is not None
    panelist_id = link.group(1)
    reissued = post(web, f"/console/panelists/{panelist_id}/link", study_url)
    assert reissued.status_code == 201
    assert re.search(r"/p/dp_[\w-]+", reissued.text)
    for response in (added, reissued):
        assert response.headers["cache-control"] == "no-store"
        assert all("dp_" not in p and "/p/" not in p for p in _flash_payloads(response))


def test_a_new_api_token_is_shown_on_an_unstored_page(session: Session) -> None:
    web = signed_in(session)
    created = post(web, "/console/tokens", "/console/tokens", label="R script")
    assert created.status_code == 201
    assert "shown this once" in created.text
    assert created.headers["cache-control"] == "no-store"


def test_the_ballot_and_the_api_answers_are_not_stored(
    client: TestClient, coordinator_token: str
) -> None:
    run = start_study(client, coordinator_token, statements=1, panelists=1)
    run.open_round(run.new_round()["id"])
    panelist = TestClient(client.app, follow_redirects=False)
    assert panelist.get(f"/p/{run.panelists[0]['token']}").status_code == 303
    ballot = panelist.get("/ballot")
    assert ballot.status_code == 200
    assert "<form" in ballot.text
    links = client.post(f"/api/v1/panelists/{run.panelists[0]['id']}/link", headers=run.auth)
    assert links.status_code == 200
    assert links.json()["token"]
    for response in (ballot, links, client.get("/api/v1/ballot", headers=run.as_panelist(0))):
        assert response.headers["cache-control"] == "no-store"


def test_static_files_may_still_be_cached(client: TestClient) -> None:
    assert "no-store" not in client.get("/static/app.css").headers.get("cache-control", "")
