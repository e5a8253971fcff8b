"""The coordinator console, driven as a coordinator would with a browser's forms."""

import html
import re

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.main import create_app
from app.models import Role
from app.services import accounts
from tests.dbstate import dump
from tests.matching import found

PASSWORD = "a long passphrase"


def csrf(page: str) -> str:
    return found(r'name="csrf_token" value="([^"]+)"', page).group(1)


def signed_in(
    session: Session, email: str = "lead@example.org", role: Role = Role.coordinator
) -> TestClient:
    if not session.query(accounts.User).filter_by(email=email).first():
        accounts.create_user(session, email=email, password=PASSWORD, role=role)
        session.commit()
    web = TestClient(create_app(), follow_redirects=False)
    form = web.get("/login").text
    response = web.post(
        "/login",
        data={"csrf_token": csrf(form), "email": email, "password": PASSWORD, "next": "/console"},
    )
    assert response.status_code == 303, response.text
    return web


def new_study(web: TestClient, **fields: str) -> int:
    page = web.get("/console/studies/new").text
    data = {
        "csrf_token": csrf(page),
        "title": "Exercise for neuropathic pain",
        "scale": "1-9",
        "rule": "comet_70_15",
        "max_rounds": "3",
        "allow_abstain": "on",
        "lang_en": "on",
        "quantile_method": "type7",
        "labels": "1 = Strongly disagree\n9 = Strongly agree",
        "groups": "physiatrists, physiotherapists",
        "reminder_hours": "72, 24",
        **fields,
    }
    response = web.post("/console/studies/new", data=data)
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def post(web: TestClient, url: str, page_url: str, **data: str) -> httpx.Response:
    return web.post(url, data={"csrf_token": csrf(web.get(page_url).text), **data})


@pytest.mark.usefixtures("engine")
def test_console_needs_sign_in() -> None:
    response = TestClient(create_app(), follow_redirects=False).get("/console/studies/1")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_wrong_password_and_unknown_email_get_the_same_answer(session: Session) -> None:
    accounts.create_user(session, email="lead@example.org", password=PASSWORD)
    session.commit()
    web = TestClient(create_app(), follow_redirects=False)
    answers = []
    for email, password in (("lead@example.org", "wrong one"), ("nobody@example.org", "x")):
        form = web.get("/login").text
        response = web.post(
            "/login", data={"csrf_token": csrf(form), "email": email, "password": password}
        )
        answers.append((response.status_code, response.text.count("not right")))
    assert answers == [(401, 1), (401, 1)], "the same message, shown once"


def test_login_is_throttled_per_account_with_retry_after(session: Session) -> None:
    accounts.create_user(session, email="lead@example.org", password=PASSWORD)
    session.commit()
    web = TestClient(create_app(), follow_redirects=False)
    for _ in range(5):
        form = web.get("/login").text
        web.post(
            "/login",
            data={"csrf_token": csrf(form), "email": "lead@example.org", "password": "guess"},
        )
    form = web.get("/login").text
    response = web.post(
        "/login", data={"csrf_token": csrf(form), "email": "lead@example.org", "password": PASSWORD}
    )
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0


def test_create_study_states_the_rule_in_plain_words(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    page = web.get(f"/console/studies/{study_id}").text
    assert (
        "A statement reaches consensus when at least 70 % rate it 7–9 and fewer than 15 % "
        "rate it 1–3"
    ) in page
    assert "Editable until round 1 opens" in page


def test_invalid_study_form_comes_back_with_messages_and_values(
    session: Session, engine: Engine
) -> None:
    web = signed_in(session)
    page = web.get("/console/studies/new").text
    before = dump(engine)
    response = web.post(
        "/console/studies/new",
        data={
            "csrf_token": csrf(page),
            "title": "Likert study",
            "scale": "1-5",
            "rule": "rand_ucla",
            "max_rounds": "3",
            "lang_en": "on",
        },
    )
    assert response.status_code == 422
    assert "RAND/UCLA" in response.text
    assert 'value="Likert study"' in response.text
    assert dump(engine) == before


def test_a_whole_round_from_the_console(session: Session, client: TestClient) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    study_url = f"/console/studies/{study_id}"
    for text in ("Strength training helps", "Aquatic exercise helps"):
        assert post(web, f"{study_url}/statements", study_url, text=text).status_code == 303
    for name, group in (("Dr A", "physiatrists"), ("Dr B", "physiotherapists")):
        response = post(
            web, f"{study_url}/panelists", study_url, name=name, group=group, language="en"
        )
        assert response.status_code == 201
    link = found(r"(http://\S+/p/dp_[\w-]+)", response.text).group(1)
    study_page = web.get(study_url).text
    assert "Next: round 1" in study_page
    assert "round 1 rates every statement" in study_page
    assert post(web, f"{study_url}/rounds", study_url).status_code == 303
    page = web.get(study_url).text
    round_id = found(r"/console/rounds/(\d+)/open", page).group(1)
    response = post(
        web,
        f"/console/rounds/{round_id}/open",
        study_url,
        closes_at="2099-01-01T12:00",
        timezone="Europe/London",
    )
    assert response.status_code == 303
    page = web.get(study_url).text
    assert "0 of 2 panelists have answered" in page
    assert "Frozen" in page
    assert re.search(r"SHA-256 <code class=\"hash\">[0-9a-f]{64}</code>", page)
    # a panelist votes in their own browser; the dashboard moves
    token = link.rsplit("/", 1)[1]
    client.put(
        "/api/v1/ballot",
        headers={"Authorization": f"Bearer {token}"},
        json={"ratings": [{"statement_id": 1, "value": 8}]},
    )
    page = web.get(study_url).text
    assert "1 of 2 panelists have answered" in page
    assert "Dr B" in page  # names of those who have not answered, for coordinators
    confirm = web.get(f"/console/rounds/{round_id}/close").text
    assert "cannot be undone" in confirm
    response = web.post(f"/console/rounds/{round_id}/close", data={"csrf_token": csrf(confirm)})
    assert response.status_code == 303
    results = web.get(response.headers["location"]).text
    assert "Round 1 results" in results
    assert "1 of 2 panelists answered" in results
    filtered = web.get(f"/console/rounds/{round_id}/results?classification=consensus_for").text
    assert "No statement matches" in filtered or "consensus for" in filtered
    audit = web.get(f"{study_url}/audit").text
    for action in ("study.create", "statements.add", "panel.add", "round.open", "round.close"):
        assert action in audit
    csv_export = web.get(f"{study_url}/audit.csv")
    assert csv_export.status_code == 200
    assert "round.close" in csv_export.text


def test_console_post_without_csrf_is_refused_and_changes_nothing(
    session: Session, engine: Engine
) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    before = dump(engine)
    response = web.post(f"/console/studies/{study_id}/statements", data={"text": "sneaky"})
    assert response.status_code == 403
    assert dump(engine) == before


def test_observer_can_read_but_not_change(session: Session) -> None:
    lead = signed_in(session)
    study_id = new_study(lead)
    accounts.create_user(
        session, email="watcher@example.org", password=PASSWORD, role=Role.observer
    )
    session.commit()
    assert (
        post(
            lead,
            f"/console/studies/{study_id}/members",
            f"/console/studies/{study_id}",
            email="watcher@example.org",
        ).status_code
        == 303
    )
    watcher = signed_in(session, email="watcher@example.org", role=Role.observer)
    page = watcher.get(f"/console/studies/{study_id}")
    assert page.status_code == 200
    assert "<h1>Exercise for neuropathic pain</h1>" in page.text
    assert "Add a statement" not in page.text
    response = watcher.post(
        f"/console/studies/{study_id}/statements",
        data={"csrf_token": csrf(page.text), "text": "nope"},
    )
    assert response.status_code == 403


def test_other_coordinators_studies_are_not_found(session: Session) -> None:
    lead = signed_in(session)
    study_id = new_study(lead)
    other = signed_in(session, email="other@example.org")
    assert other.get(f"/console/studies/{study_id}").status_code == 404
    studies = other.get("/console")
    assert studies.status_code == 200
    assert "<h1>Your studies</h1>" in studies.text
    assert "Exercise" not in studies.text


def test_api_tokens_are_shown_once_and_can_be_revoked(session: Session, client: TestClient) -> None:
    web = signed_in(session)
    page = web.get("/console/tokens").text
    created = web.post("/console/tokens", data={"csrf_token": csrf(page), "label": "R script"})
    token = found(r'<code class="token">([^<]+)</code>', created.text).group(1)
    assert (
        client.get("/api/v1/studies", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    tokens = web.get("/console/tokens")
    assert tokens.status_code == 200
    assert "<h1>Personal API tokens</h1>" in tokens.text
    assert token not in tokens.text
    token_id = found(r"/console/tokens/(\d+)/revoke", created.text).group(1)
    post(web, f"/console/tokens/{token_id}/revoke", "/console/tokens")
    assert (
        client.get("/api/v1/studies", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_logout_ends_the_session(session: Session) -> None:
    web = signed_in(session)
    page = web.get("/console").text
    web.post("/logout", data={"csrf_token": csrf(page)})
    assert web.get("/console").status_code == 303


@pytest.mark.parametrize("role", [Role.coordinator, Role.observer])
def test_only_admins_manage_accounts(session: Session, role: Role) -> None:
    web = signed_in(session, email=f"{role.value}@example.org", role=role)
    assert web.get("/console/accounts").status_code == 403
    admin = signed_in(session, email="admin@example.org", role=Role.admin)
    page = admin.get("/console/accounts")
    assert page.status_code == 200
    created = admin.post(
        "/console/accounts",
        data={
            "csrf_token": csrf(page.text),
            "email": "new@example.org",
            "password": "long enough",
            "role": "observer",
        },
    )
    assert created.status_code == 303


def test_import_shows_row_errors_then_imports_the_fixed_file_once(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web, groups="physiatrists, physiotherapists")
    url = f"/console/studies/{study_id}/import/panelists"
    token = csrf(web.get(f"/console/studies/{study_id}/import").text)
    bad = "name;email;group\nDr A;a@example.org;physiatrists\nDr B;b@example.org;nurses\n"
    preview = web.post(
        url,
        data={"csrf_token": token},
        files={"file": ("panel.csv", bad.encode("utf-8-sig"), "text/csv")},
    )
    assert preview.status_code == 422
    assert "nurses" in preview.text
    assert "<td>3</td>" in preview.text
    good = bad.replace("nurses", "physiotherapists")
    preview = web.post(
        url,
        data={"csrf_token": token},
        files={"file": ("panel.csv", good.encode("utf-8-sig"), "text/csv")},
    )
    assert preview.status_code == 200
    assert "Import 2 row(s)" in preview.text
    carried = found(r'name="content" value="([^"]+)"', preview.text).group(1)
    imported = web.post(
        url,
        data={"csrf_token": token, "action": "import", "filename": "panel.csv", "content": carried},
    )
    assert imported.status_code == 201
    assert imported.text.count("/p/dp_") == 2
    again = web.post(
        url,
        data={"csrf_token": token},
        files={"file": ("panel.csv", good.encode("utf-8-sig"), "text/csv")},
    )
    assert "2 already in the study" in again.text
    assert "Nothing new to import" in again.text


def test_outbox_holds_messages_without_smtp_and_shows_their_links(
    session: Session, client: TestClient
) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    study_url = f"/console/studies/{study_id}"
    post(web, f"{study_url}/statements", study_url, text="Walking helps")
    post(
        web,
        f"{study_url}/panelists",
        study_url,
        name="Dr A",
        email="a@example.org",
        group="physiatrists",
        language="en",
    )
    outbox_url = f"{study_url}/outbox"
    assert post(web, f"{outbox_url}/invite", outbox_url).status_code == 303
    from app.delivery import deliver_due

    deliver_due()  # what the server's tick does; no SMTP is configured in tests
    page = web.get(outbox_url).text
    assert "No SMTP server is configured" in page
    assert "held" in page
    assert "no SMTP server configured" in page
    link = found(r"/p/(dp_[\w-]+)", page).group(1)
    ballot = client.get(f"/p/{link}", follow_redirects=False)
    assert ballot.status_code == 303  # the held message's link opens the ballot
    assert post(web, f"{outbox_url}/invite", outbox_url).status_code == 303
    assert "0 invitation(s) queued" in web.get(outbox_url).text  # each panelist invited once


def test_statement_page_shows_its_wordings_and_figures_round_by_round(
    session: Session, client: TestClient
) -> None:
    from tests.factories import start_study

    web = signed_in(session)
    token = accounts.create_api_token(session, user=session.query(accounts.User).one())
    session.commit()
    run = start_study(client, token, statements=1, panelists=3)
    sid = run.statements[0]["id"]
    r1 = run.new_round()
    run.open_round(r1["id"])
    for i, v in enumerate([2, 5, 9]):
        run.rate(i, {sid: v})
    run.close_round(r1["id"])
    run.call("PUT", f"/api/v1/statements/{sid}", json={"text": "Clearer", "rationale": "Dose"})
    r2 = run.new_round()
    run.open_round(r2["id"])
    for i, v in enumerate([7, 8, 9]):
        run.rate(i, {sid: v})
    run.close_round(r2["id"])
    page = web.get(f"/console/statements/{sid}").text
    assert "Why it changed: Dose" in page
    rows = re.findall(r"<tr><td>(\d)</td><td>v(\d)</td>", page)
    assert rows == [("1", "1"), ("2", "2")]
    assert "no consensus" in page
    assert "consensus for" in page


def test_observers_see_neither_identities_nor_personal_links(session: Session) -> None:
    lead = signed_in(session)
    study_id = new_study(lead)
    study_url = f"/console/studies/{study_id}"
    post(
        lead,
        f"{study_url}/panelists",
        study_url,
        name="Dr Secret",
        email="secret@example.org",
        group="physiatrists",
        language="en",
    )
    accounts.create_user(
        session, email="watcher@example.org", password=PASSWORD, role=Role.observer
    )
    session.commit()
    post(lead, f"{study_url}/members", study_url, email="watcher@example.org")
    watcher = signed_in(session, email="watcher@example.org", role=Role.observer)
    shown = watcher.get(study_url)
    assert shown.status_code == 200
    page = shown.text
    assert "<h1>Exercise for neuropathic pain</h1>" in page
    assert "Dr Secret" not in page
    assert "secret@example.org" not in page
    assert "P01" in page
    assert watcher.get(f"{study_url}/outbox").status_code == 403


def test_a_refused_form_keeps_what_the_coordinator_typed(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    study_url = f"/console/studies/{study_id}"
    post(web, f"{study_url}/statements", study_url, text="First", key="S01")
    response = post(
        web, f"{study_url}/statements", study_url, text="A long careful wording", key="S01"
    )
    assert response.status_code == 409
    assert "already has a statement with key" in response.text
    assert "A long careful wording</textarea>" in response.text
    refused = post(web, f"{study_url}/panelists", study_url, name="Dr Typo", email="eve@@bad")
    assert refused.status_code == 422
    assert 'value="Dr Typo"' in refused.text


def test_new_link_and_withdrawal_from_the_panel_table(session: Session, client: TestClient) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    study_url = f"/console/studies/{study_id}"
    added = post(web, f"{study_url}/panelists", study_url, name="Dr A", group="physiatrists")
    assert "P01 added" in added.text
    old = found(r"/p/(dp_[\w-]+)", added.text).group(1)
    panelist_id = found(r"/console/panelists/(\d+)/link", web.get(study_url).text).group(1)
    reissued = post(web, f"/console/panelists/{panelist_id}/link", study_url)
    assert "New personal link for P01" in reissued.text
    fresh = found(r"/p/(dp_[\w-]+)", reissued.text).group(1)
    assert fresh != old
    study_page = web.get(study_url)
    assert study_page.status_code == 200
    assert "<h2>Panel (1)</h2>" in study_page.text
    assert "/p/dp_" not in study_page.text  # shown once, on the answer itself
    assert client.get(f"/p/{old}", follow_redirects=False).status_code == 404
    assert client.get(f"/p/{fresh}", follow_redirects=False).status_code == 303
    post(web, f"/console/panelists/{panelist_id}/withdraw", study_url)
    assert "P01 (withdrawn)" in web.get(study_url).text


def form_fields(page: str) -> dict[str, str]:
    """What a browser would send for the text inputs and text areas of a page's form."""
    fields = dict(
        re.findall(
            r'<input (?![^>]*type="(?:radio|checkbox)")[^>]*name="([\w.-]+)"'
            r'[^>]*value="([^"]*)"',
            page,
        )
    )
    fields |= dict(re.findall(r'<textarea[^>]*name="([\w.-]+)"[^>]*>([^<]*)</textarea>', page))
    return {k: html.unescape(v) for k, v in fields.items()}


def test_settings_can_change_until_round_one_opens_then_only_the_title(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    edit = f"/console/studies/{study_id}/edit"
    form = web.get(edit).text
    assert 'value="Exercise for neuropathic pain"' in form
    fields = form_fields(form)
    fields |= {
        "csrf_token": csrf(form),
        "scale": "1-9",
        "rule": "percent_agreement",
        "percent_agreement.threshold": "80",
        "lang_en": "on",
        "allow_abstain": "on",
    }
    assert web.post(edit, data=fields).status_code == 303
    assert "at least 80 %" in web.get(f"/console/studies/{study_id}").text
    study_url = f"/console/studies/{study_id}"
    post(web, f"{study_url}/statements", study_url, text="Walking helps")
    post(web, f"{study_url}/panelists", study_url, name="Dr A", group="physiatrists")
    post(web, f"{study_url}/rounds", study_url)
    round_id = found(r"/console/rounds/(\d+)/open", web.get(study_url).text).group(1)
    post(
        web,
        f"/console/rounds/{round_id}/open",
        study_url,
        closes_at="2099-01-01T12:00",
        timezone="UTC",
    )
    form = web.get(edit).text
    assert 'name="percent_agreement.threshold"' not in form  # the method is shown as text
    fields = form_fields(form)
    fields |= {"csrf_token": csrf(form), "lang_en": "on", "title": "Renamed study"}
    renamed = web.post(edit, data=fields)
    assert renamed.status_code == 303, re.findall(r"<li>(.*?)</li>", renamed.text)
    # A form opened before round 1 (another tab) still sends the method: a change is refused.
    fields |= {
        "scale": "1-9",
        "rule": "percent_agreement",
        "percent_agreement.threshold": "90",
        "allow_abstain": "on",
    }
    refused = web.post(edit, data=fields)
    assert refused.status_code == 409
    assert "frozen" in refused.text


@pytest.mark.usefixtures("client")
def test_evidence_page_adds_sources_overrides_levels_and_finalizes(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    study_url = f"/console/studies/{study_id}"
    evidence_url = f"{study_url}/evidence"
    post(web, f"{study_url}/statements", study_url, text="Strength training helps")
    post(web, f"{study_url}/panelists", study_url, name="Dr A", group="physiatrists")
    statement_id = found(r"/console/statements/(\d+)\"", web.get(study_url).text).group(1)
    refused = post(
        web,
        f"{evidence_url}/sources",
        evidence_url,
        citation="Wu 2017",
        design="cohort",
        pedro="6",
        **{f"for-{statement_id}": "on"},
    )
    assert refused.status_code == 422
    assert "PEDro" in refused.text
    assert 'value="Wu 2017"' in refused.text  # what was typed is still there
    for citation, score in (("Smith 2019", "7"), ("Li 2020", "8")):
        post(
            web,
            f"{evidence_url}/sources",
            evidence_url,
            citation=citation,
            design="rct",
            pedro=score,
            **{f"for-{statement_id}": "on"},
        )
    page = web.get(evidence_url).text
    assert "S01: Level 1a" in page
    assert "Smith 2019 (7)" in page
    post(
        web,
        f"/console/statements/{statement_id}/level",
        evidence_url,
        code="1b",
        justification="Both trials from one centre",
    )
    page = web.get(evidence_url).text
    assert "set by hand (computed: 1a)" in page
    assert "Both trials from one centre" in page
    post(web, f"{study_url}/rounds", study_url)
    round_id = found(r"/console/rounds/(\d+)/open", web.get(study_url).text).group(1)
    post(
        web,
        f"/console/rounds/{round_id}/open",
        study_url,
        closes_at="2099-01-01T12:00",
        timezone="UTC",
    )
    confirm = web.get(f"/console/rounds/{round_id}/close").text
    web.post(f"/console/rounds/{round_id}/close", data={"csrf_token": csrf(confirm)})
    unconfirmed = post(web, f"{study_url}/finalize", evidence_url)
    assert unconfirmed.status_code == 422
    assert "cannot be undone" in unconfirmed.text
    assert post(web, f"{study_url}/finalize", evidence_url, confirm="yes").status_code == 303
    page = web.get(evidence_url).text
    assert "Finalized" in page
    assert re.search(
        r"content hash \(SHA-256\) <code class=\"hash\">"
        r"[0-9a-f]{64}",
        page,
    )
    assert "no recommendation" in page.lower()  # nobody rated: no consensus


def test_evidence_imports_from_a_spreadsheet_all_or_nothing_and_once(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    study_url = f"/console/studies/{study_id}"
    post(web, f"{study_url}/statements", study_url, text="Walking helps", key="S01")
    url = f"{study_url}/import/evidence"
    token = csrf(web.get(f"{study_url}/import").text)
    bad = (
        "citation;design;pedro;statements\nSmith 2019;rct;7;S01\n"
        "Wu 2017;cohort;6;S01\nLi 2020;rct;8;S09\n"
    )
    preview = web.post(
        url,
        data={"csrf_token": token},
        files={"file": ("evidence.csv", bad.encode("utf-8-sig"), "text/csv")},
    )
    assert preview.status_code == 422
    assert "PEDro" in preview.text
    assert "S09" in preview.text
    good = "citation;design;pedro;statements\nSmith 2019;rct;7;S01\nLi 2020;rct;8;S01\n"
    preview = web.post(
        url,
        data={"csrf_token": token},
        files={"file": ("evidence.csv", good.encode("utf-8-sig"), "text/csv")},
    )
    carried = found(r'name="content" value="([^"]+)"', preview.text).group(1)
    done_ = web.post(
        url,
        data={
            "csrf_token": token,
            "action": "import",
            "filename": "evidence.csv",
            "content": carried,
        },
    )
    assert done_.status_code == 303
    assert "S01: Level 1a" in web.get(f"{study_url}/evidence").text
    again = web.post(
        url,
        data={"csrf_token": token},
        files={"file": ("evidence.csv", good.encode("utf-8-sig"), "text/csv")},
    )
    assert "2 already in the study" in again.text


RIS_TYPE = "application/x-research-info-systems"


def test_evidence_imports_from_a_ris_file_through_the_preview_and_once(
    session: Session, engine: Engine
) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    study_url = f"/console/studies/{study_id}"
    post(web, f"{study_url}/statements", study_url, text="Walking helps", key="S01")
    import_page = web.get(f"{study_url}/import").text
    assert 'accept=".csv,.xlsx,.ris,.txt"' in import_page
    token = csrf(import_page)
    url = f"{study_url}/import/evidence"
    trials = (
        "TY  - JOUR\r\nAU  - Smith, John\r\nPY  - 2019\r\n"
        "TI  - Walking for diabetic neuropathy: a randomized controlled trial\r\n"
        "T2  - J Pain Res\r\nDO  - 10.2147/JPR.S1\r\nKW  - statement:S01\r\n"
        "N1  - PEDro: 7\r\nER  - \r\n\r\n"
        "TY  - JOUR\r\nAU  - 李, 华\r\nPY  - 2020\r\n"
        "TI  - 步行训练对糖尿病周围神经病变疼痛的影响：一项随机对照试验\r\n"
        "T2  - 中国康复医学杂志\r\nKW  - statement:S01\r\nN1  - PEDro: 8\r\nER  - \r\n"
    )
    unclear = trials + "TY  - JOUR\r\nAU  - Brown, A\r\nTI  - Walking and pain\r\nER  - \r\n"
    before = dump(engine)
    preview = web.post(
        url,
        data={"csrf_token": token},
        files={"file": ("library.ris", unclear.encode("utf-8-sig"), RIS_TYPE)},
    )
    assert preview.status_code == 422
    text = html.unescape(preview.text)
    assert '<th scope="col">Line</th>' in text
    assert "<td>19</td>" in text
    assert "Brown n.d., Walking and pain: no design is recognisable" in text
    assert 'value="import"' not in text  # no confirm button while a reference is wrong
    assert dump(engine) == before
    preview = web.post(
        url,
        data={"csrf_token": token},
        files={"file": ("library.ris", trials.encode("utf-8-sig"), RIS_TYPE)},
    )
    assert preview.status_code == 200
    assert "Import 2 row(s)" in preview.text
    text = html.unescape(preview.text)
    assert (
        "Smith 2019, Walking for diabetic neuropathy: a randomized controlled trial. J Pain Res"
        in text
    )
    assert "李 2020, 步行训练对糖尿病周围神经病变疼痛的影响" in text
    assert 'randomised controlled trial <span class="muted">(from its title)</span>' in text
    assert "PEDro 8" in text
    carried = found(r'name="content" value="([^"]+)"', preview.text).group(1)
    forged = web.post(
        url,
        data={
            "csrf_token": "forged",
            "action": "import",
            "filename": "library.ris",
            "content": carried,
        },
    )
    assert forged.status_code == 403
    assert dump(engine) == before
    imported = web.post(
        url,
        data={
            "csrf_token": token,
            "action": "import",
            "filename": "library.ris",
            "content": carried,
        },
    )
    assert imported.status_code == 303
    evidence_page = html.unescape(web.get(f"{study_url}/evidence").text)
    assert "S01: Level 1a" in evidence_page
    assert "Smith 2019" in evidence_page
    again = web.post(
        url,
        data={"csrf_token": token},
        files={"file": ("library.ris", trials.encode("utf-8-sig"), RIS_TYPE)},
    )
    assert "2 already in the study" in again.text
    assert "Nothing new to import" in again.text


@pytest.mark.parametrize("name", ["item-²", "item-٣", "item-1.0", "item-" + "9" * 5_000])
def test_a_tampered_round_item_tick_is_refused_and_changes_nothing(
    session: Session, engine: Engine, name: str
) -> None:
    """isdigit() took "²" for an id: int() then crashed with a 500."""
    web = signed_in(session)
    study_id = new_study(web)
    study_url = f"/console/studies/{study_id}"
    post(web, f"{study_url}/statements", study_url, text="Walking helps")
    post(web, f"{study_url}/rounds", study_url)
    round_id = found(r"/console/rounds/(\d+)/items", web.get(study_url).text).group(1)
    before = dump(engine)
    response = post(web, f"/console/rounds/{round_id}/items", study_url, **{name: "on"})
    assert response.status_code == 422
    assert "A ticked statement is not in this study; reload the page." in response.text
    assert dump(engine) == before


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"pedro": "²"},
            "pedro",
            "PEDro must be a whole number from 0 to 10, written with the digits 0 to 9; “²” is "
            "not.",
        ),
        (
            {"pedro": "٣"},
            "pedro",
            "PEDro must be a whole number from 0 to 10, written with the digits 0 to 9; “٣” is "
            "not.",
        ),
        (
            {"pedro": "9" * 5_000},
            "pedro",
            "PEDro must be a whole number from 0 to 10; 9999999999999999999… is outside that "
            "range.",
        ),
        (
            {"design": "systematic_review", "amstar_score": "--5"},
            "amstar_score",
            "AMSTAR score must be a whole number from 0 to 11, written with the digits 0 to 9; "
            "“--5” is not.",
        ),
    ],
)
def test_an_appraisal_score_not_in_the_digits_0_to_9_is_refused_beside_its_field(
    session: Session, engine: Engine, fields: dict[str, str], field: str, message: str
) -> None:
    """isdigit() took "²" and "٣": int() crashed on the first (a 500) and read the second as 3."""
    web = signed_in(session)
    study_id = new_study(web)
    evidence_url = f"/console/studies/{study_id}/evidence"
    before = dump(engine)
    response = post(
        web,
        f"{evidence_url}/sources",
        evidence_url,
        **{"citation": "Smith 2019", "design": "rct", **fields},
    )
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert re.search(rf'id="{field}" name="{field}"[^>]*aria-describedby="{field}-error"', text)
    assert f'<span class="error" id="{field}-error">{message}</span>' in text
    assert 'value="Smith 2019"' in text  # what was typed is still there
    assert dump(engine) == before


def test_a_tampered_evidence_tick_is_refused_and_changes_nothing(
    session: Session, engine: Engine
) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    evidence_url = f"/console/studies/{study_id}/evidence"
    before = dump(engine)
    response = post(
        web,
        f"{evidence_url}/sources",
        evidence_url,
        **{"citation": "Smith 2019", "design": "rct", "for-²": "on"},
    )
    assert response.status_code == 422
    assert "A ticked statement is not in this study; reload the page." in response.text
    assert dump(engine) == before
