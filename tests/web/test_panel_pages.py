"""The panelist's pages as a busy clinician meets them: link, ballot, errors, feedback, states."""

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.main import create_app
from app.models import Panelist, Rating, Round, utcnow
from tests.conftest import QueryCounter
from tests.dbstate import dump
from tests.factories import StudyRun, start_study
from tests.matching import found


@dataclass
class OpenRun(StudyRun):
    """The study with its first round open for a week."""

    round1: dict[str, Any] = field(default_factory=dict)


def browser() -> TestClient:
    """A separate cookie jar: one panelist's browser."""
    return TestClient(create_app(), follow_redirects=False)


def sign_in(web: TestClient, run: StudyRun, index: int) -> None:
    token = run.panelists[index]["token"]
    response = web.get(f"/p/{token}")
    assert response.status_code == 303
    assert response.headers["location"] == "/ballot"


def csrf(page: str) -> str:
    return found(r'name="csrf_token" value="([^"]+)"', page).group(1)


def form_for(page: str, **fields: str) -> dict[str, str]:
    round_id = found(r'name="round_id" value="(\d+)"', page).group(1)
    return {"csrf_token": csrf(page), "round_id": round_id, **fields}


@pytest.fixture
def run(client: TestClient, coordinator_token: str) -> OpenRun:
    started = start_study(client, coordinator_token, statements=3, panelists=4)
    run = OpenRun(**vars(started), round1=started.new_round())
    run.open_round(run.round1["id"], closes_at=utcnow() + timedelta(days=7))
    return run


def test_personal_link_sets_a_private_cookie_and_drops_the_token_from_the_address(
    run: OpenRun,
) -> None:
    web = browser()
    response = web.get(f"/p/{run.panelists[0]['token']}")
    assert response.status_code == 303
    assert response.headers["location"] == "/ballot"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert run.panelists[0]["token"] not in cookie


@pytest.mark.usefixtures("engine")
def test_unknown_link_gets_a_friendly_404_without_a_hint() -> None:
    response = browser().get("/p/dp_made-up-token")
    assert response.status_code == 404
    assert "This link does not open a ballot" in response.text


def test_ballot_shows_statements_scale_and_progress(run: OpenRun) -> None:
    web = browser()
    sign_in(web, run, 0)
    page = web.get("/ballot")
    assert page.status_code == 200
    assert "0</span> of 3 rated" in page.text
    assert page.text.count("<fieldset") == 3
    assert page.text.count("<legend>") == 3
    assert "Strongly disagree" in page.text
    assert "Unable to rate" in page.text
    assert re.search(r"Please answer by\s+<time", page.text)


def test_save_redirects_with_a_message_and_reopening_shows_saved_values(run: OpenRun) -> None:
    web = browser()
    sign_in(web, run, 0)
    s1, s2, _ = (s["id"] for s in run.statements)
    page = web.get("/ballot").text
    response = web.post(
        "/ballot",
        data=form_for(
            page,
            action="save",
            **{f"rating-{s1}": "7", f"rating-{s2}": "abstain", f"comment-{s1}": "Dose matters"},
        ),
    )
    assert response.status_code == 303
    again = web.get("/ballot").text
    assert "Your answers are saved" in again
    assert re.search(rf'name="rating-{s1}" value="7"\s+checked', again)
    assert re.search(rf'name="rating-{s2}" value="abstain"\s+checked', again)
    assert "Dose matters</textarea>" in again
    assert "2</span> of 3 rated" in again
    once_more = web.get("/ballot")
    assert once_more.status_code == 200
    assert "<h1>Round 1</h1>" in once_more.text
    assert "Your answers are saved" not in once_more.text  # shown once


def test_submit_with_a_missing_rating_comes_back_with_messages_and_typing_kept(
    run: OpenRun, engine: Engine
) -> None:
    web = browser()
    sign_in(web, run, 0)
    s1, s2, s3 = (s["id"] for s in run.statements)
    page = web.get("/ballot").text
    before = dump(engine)
    response = web.post(
        "/ballot",
        data=form_for(
            page, action="submit", **{f"rating-{s1}": "8", f"comment-{s2}": "Still thinking"}
        ),
    )
    assert response.status_code == 422
    assert dump(engine) == before
    assert f'id="err-{s2}"' in response.text
    assert f'id="err-{s3}"' in response.text
    assert f'id="err-{s1}"' not in response.text
    assert "Still thinking</textarea>" in response.text
    assert re.search(rf'name="rating-{s1}" value="8"\s+checked', response.text)


def test_out_of_scale_value_is_shown_beside_its_statement(run: OpenRun, engine: Engine) -> None:
    web = browser()
    sign_in(web, run, 0)
    s1 = run.statements[0]["id"]
    page = web.get("/ballot").text
    before = dump(engine)
    response = web.post("/ballot", data=form_for(page, action="save", **{f"rating-{s1}": "12"}))
    assert response.status_code == 422
    assert re.search(rf'id="err-{s1}">12 is not on the scale \(1–9\)', response.text)
    assert dump(engine) == before


@pytest.mark.parametrize("typed", ["²", "٣", "５", "--5", "7.0", "9" * 5_000, "-" + "9" * 4_400])
def test_a_rating_not_in_the_digits_0_to_9_is_refused_beside_its_statement(
    run: OpenRun, engine: Engine, typed: str
) -> None:
    """isdigit() took "²" and "٣": int() crashed on the first (a 500) and read the second as 3."""
    web = browser()
    sign_in(web, run, 0)
    s1 = run.statements[0]["id"]
    page = web.get("/ballot").text
    before = dump(engine)
    response = web.post("/ballot", data=form_for(page, action="save", **{f"rating-{s1}": typed}))
    assert response.status_code == 422
    assert re.search(rf'id="err-{s1}">Choose one of the points on the scale\.', response.text)
    assert dump(engine) == before


def test_a_rating_field_named_with_other_scripts_digits_rates_nothing(
    run: OpenRun, session: Session
) -> None:
    """The form's field names were read with \\d, so "rating-١" rated statement 1."""
    web = browser()
    sign_in(web, run, 0)
    s1 = run.statements[0]["id"]
    arabic = str(s1).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    page = web.get("/ballot").text
    web.post("/ballot", data=form_for(page, action="save", **{f"rating-{arabic}": "5"}))
    assert session.scalars(select(Rating)).all() == []


def test_overlong_comment_is_refused_and_kept_for_the_panelist(run: OpenRun) -> None:
    web = browser()
    sign_in(web, run, 0)
    s1 = run.statements[0]["id"]
    page = web.get("/ballot").text
    response = web.post(
        "/ballot",
        data=form_for(page, action="save", **{f"rating-{s1}": "5", f"comment-{s1}": "y" * 5001}),
    )
    assert response.status_code == 422
    assert "the limit is 5,000" in response.text
    assert "y" * 5001 in response.text


def test_post_without_csrf_token_is_forbidden_and_changes_nothing(
    run: OpenRun, engine: Engine
) -> None:
    web = browser()
    sign_in(web, run, 0)
    s1 = run.statements[0]["id"]
    page = web.get("/ballot").text
    before = dump(engine)
    fields = form_for(page, action="save", **{f"rating-{s1}": "5"})
    del fields["csrf_token"]
    response = web.post("/ballot", data=fields)
    assert response.status_code == 403
    assert "expired" in response.text
    assert dump(engine) == before


def test_stale_form_after_the_round_closed_is_refused_with_typing_kept(
    run: OpenRun, engine: Engine
) -> None:
    web = browser()
    sign_in(web, run, 0)
    s1 = run.statements[0]["id"]
    page = web.get("/ballot").text
    run.close_round(run.round1["id"])
    before = dump(engine)
    response = web.post(
        "/ballot",
        data=form_for(
            page, action="submit", **{f"rating-{s1}": "6", f"comment-{s1}": "late thought"}
        ),
    )
    assert response.status_code == 409
    assert "late thought</textarea>" in response.text
    assert "it was not saved" in response.text
    assert dump(engine) == before


def test_round_two_shows_chart_previous_rating_and_escaped_comments(run: OpenRun) -> None:
    s1, s2, s3 = (s["id"] for s in run.statements)
    run.rate(0, {s1: 8, s2: 8, s3: 2}, submit=True)
    run.call(
        "PUT",
        "/api/v1/ballot",
        headers=run.as_panelist(1),
        json={
            "ratings": [
                {"statement_id": s1, "value": 9},
                {"statement_id": s2, "value": 9},
                {"statement_id": s3, "value": 9, "comment": "<script>alert('x')</script>"},
            ]
        },
    )
    run.rate(2, {s1: 9, s2: 8, s3: 5})
    run.close_round(run.round1["id"])
    run.open_round(run.new_round()["id"])
    web = browser()
    sign_in(web, run, 0)
    page = web.get("/ballot").text
    assert page.count("<fieldset") == 1  # only the statement without consensus
    assert '<svg class="chart"' in page
    assert "Your rating last round: 2" in page
    assert re.search(r'class="bar mine"', page)
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert "Expert" not in page
    assert "P02" not in page


def test_feedback_waits_behind_a_disclosure_until_rated_when_the_study_says_so(
    client: TestClient, coordinator_token: str
) -> None:
    run = start_study(
        client, coordinator_token, statements=1, panelists=3, hide_feedback_until_rated=True
    )
    r1 = run.new_round()
    run.open_round(r1["id"])
    sid = run.statements[0]["id"]
    for i, v in enumerate([1, 5, 9]):
        run.rate(i, {sid: v})
    run.close_round(r1["id"])
    run.open_round(run.new_round()["id"])
    web = browser()
    sign_in(web, run, 0)
    page = web.get("/ballot").text
    assert '<details class="feedback hidden-feedback">' in page
    api = run.call("GET", "/api/v1/ballot", headers=run.as_panelist(0))
    assert api["items"][0]["feedback"] is None
    assert api["items"][0]["feedback_hidden"] is True
    web.post("/ballot", data=form_for(page, action="save", **{f"rating-{sid}": "6"}))
    assert '<div class="feedback">' in web.get("/ballot").text


def test_no_open_round_says_what_to_expect(run: OpenRun) -> None:
    run.close_round(run.round1["id"])
    web = browser()
    sign_in(web, run, 0)
    page = web.get("/ballot")
    assert page.status_code == 200
    assert "The next round has not opened yet" in page.text
    assert "Round 1 closed on" in page.text


def test_deadline_passed_page(run: OpenRun, session: Session) -> None:
    session.get_one(Round, run.round1["id"]).closes_at = utcnow() - timedelta(minutes=1)
    session.commit()
    web = browser()
    sign_in(web, run, 0)
    assert "The deadline for round 1 has passed" in web.get("/ballot").text


def test_withdrawn_panelist_sees_they_have_withdrawn(run: OpenRun, session: Session) -> None:
    session.get_one(Panelist, run.panelists[0]["id"]).withdrawn_at = utcnow()
    session.commit()
    web = browser()
    sign_in(web, run, 0)
    assert "You have withdrawn from this study" in web.get("/ballot").text


@pytest.mark.usefixtures("engine")
def test_ballot_without_a_session_asks_for_the_personal_link() -> None:
    page = browser().get("/ballot")
    assert page.status_code == 401
    assert "Open your personal link" in page.text


def test_reissued_link_ends_old_sessions(run: OpenRun, session: Session) -> None:
    web = browser()
    sign_in(web, run, 0)
    session.get_one(Panelist, run.panelists[0]["id"]).token_hash = "0" * 64
    session.commit()
    assert web.get("/ballot").status_code == 401


@pytest.mark.parametrize("path", ["/ballot", "/p/dp_nothing", "/"])
def test_security_headers_on_pages(run: OpenRun, path: str) -> None:
    web = browser()
    sign_in(web, run, 0)
    headers = web.get(path).headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_ballot_page_queries_do_not_grow_with_statements(
    client: TestClient,
    coordinator_token: str,
    queries: QueryCounter,
    session: Session,
) -> None:
    from tests.factories import coordinator

    counts = []
    for size, token in ((5, coordinator_token), (200, coordinator(session, email="b@x.org")[1])):
        run = start_study(client, token, statements=size, panelists=3)
        ids = [s["id"] for s in run.statements]
        for n in range(size // 5 + 1):  # 2 and 41 sources, each beside every statement
            run.call(
                "POST",
                f"/api/v1/studies/{run.study['id']}/sources",
                201,
                json={"citation": f"Trial {n}", "design": "rct", "pedro": 6, "statement_ids": ids},
            )
        run.call(
            "PUT", f"/api/v1/statements/{ids[0]}/evidence-summary", json={"summary": {"en": "S"}}
        )
        r1 = run.new_round()
        run.open_round(r1["id"])
        for i in range(3):
            run.rate(i, {s["id"]: 1 + (i * 4) % 9 for s in run.statements})
        run.call(
            "PUT",
            "/api/v1/ballot",
            headers=run.as_panelist(1),
            json={"ratings": [{"statement_id": s["id"], "comment": "c"} for s in run.statements]},
        )
        run.close_round(r1["id"])
        run.open_round(run.new_round(statement_ids=[s["id"] for s in run.statements])["id"])
        web = browser()
        sign_in(web, run, 0)
        queries.reset()
        page = web.get("/ballot")
        assert page.text.count("<svg") == size
        assert page.text.count('<details class="evidence"') == size
        assert page.text.count('class="ev-citation">Trial ') == size * (size // 5 + 1)
        counts.append(queries.count)
    assert counts[0] == counts[1]


def test_switching_language_switches_the_statements_too(
    client: TestClient, coordinator_token: str
) -> None:
    run = start_study(
        client, coordinator_token, statements=0, panelists=0, languages=["en", "zh-Hans"]
    )
    sid = run.study["id"]
    run.call(
        "POST",
        f"/api/v1/studies/{sid}/statements",
        201,
        json=[{"text": "Walking helps", "translations": {"zh-Hans": "步行有帮助"}}],
    )
    run.panelists = run.call(
        "POST", f"/api/v1/studies/{sid}/panelists", 201, json=[{"name": "A", "language": "en"}]
    )
    run.open_round(run.new_round()["id"])
    web = browser()
    sign_in(web, run, 0)
    page = web.get("/ballot").text
    assert "Walking helps" in page
    web.post("/language", data={"csrf_token": csrf(page), "language": "zh-Hans"})
    switched = web.get("/ballot").text
    assert "步行有帮助" in switched
    assert "Walking helps" not in switched
    assert '<html lang="zh-Hans">' in switched


def test_after_finalization_panelists_see_the_final_recommendations(run: OpenRun) -> None:
    s1, s2, s3 = (s["id"] for s in run.statements)
    for i in range(4):
        run.rate(i, {s1: 8, s2: 8, s3: 1 + 2 * i})
    run.close_round(run.round1["id"])
    run.call("POST", f"/api/v1/studies/{run.study['id']}/finalize")
    web = browser()
    sign_in(web, run, 0)
    page = web.get("/ballot").text
    assert "Thank you: the study is complete" in page
    assert "Grade D" in page
    assert "No recommendation" in page
