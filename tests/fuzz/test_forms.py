"""Hypothesis against the HTML forms: the panelist's ballot and the coordinator's set-up forms.

Whatever arrives (arbitrary Unicode, NUL, lone surrogates as bytes, huge, empty or missing
fields, urlencoded or multipart), the answer is never a 5xx, and a refusal says why on the page
and leaves every row of the database as it was.
"""

import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from app.consensus.levels import SCHEME_CODES
from app.consensus.sources import DESIGNS
from app.consensus.strength import STRENGTHS
from tests.fuzz.forms import BODY_LIMIT, Value, csrf, encodings, form, post_form
from tests.fuzz.seed import Seeded

# Statement ids in tick names as a tampered form may carry them: a digit int() refuses, one it
# reads from another script, and more digits than int() reads.
ODD_IDS = ["²", "٣", "9" * 5_000]

BOUNDED = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the database is meant to carry over between examples
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def _token(web: TestClient, page_url: str) -> str:
    page = web.get(page_url)
    assert page.status_code == 200, page.text
    return csrf(page.text)


def check(web: TestClient, engine: Engine, url: str, token: str, fields: st.SearchStrategy) -> None:
    """The property, over bounded examples: see tests.fuzz.forms.post_form."""

    @BOUNDED
    @given(fields=fields, how=encodings)
    def property_(fields: dict[str, Value], how: str) -> None:
        post_form(web, engine, url, {"csrf_token": token, **fields}, how)

    property_()


def test_ballot_form_never_fails_and_its_refusals_change_nothing(
    panelist: TestClient, seeded: Seeded, engine: Engine
) -> None:
    page = panelist.get("/ballot").text
    round_id = re.search(r'name="round_id" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    on_ballot = {int(sid) for sid in re.findall(r'name="rating-(\d+)"', page)}
    valid = {"round_id": round_id, "action": "save"}
    other: dict[str, list[str]] = {
        "round_id": ["0", str(int(round_id) - 1), "99999999999"],
        "action": ["submit"],
    }
    for sid in (s["id"] for s in seeded.running.statements):
        if sid in on_ballot:
            valid |= {f"rating-{sid}": "7", f"comment-{sid}": "Dose matters"}
        other |= {
            f"rating-{sid}": ["1", "9", "abstain", "", "0", "10", "-3", "7.5", "²", "٣", "--5"],
            f"comment-{sid}": [""],
            f"strength-{sid}": list(STRENGTHS),
        }
    other["rating-999999999999"] = ["5"]
    other["rating-١"] = ["5"]  # an Arabic-Indic 1: no statement's field
    check(panelist, engine, "/ballot", csrf(page), form(valid, **other))


def test_new_study_form_never_fails_and_its_refusals_change_nothing(
    console: TestClient, engine: Engine
) -> None:
    valid = {
        "title": "Exercise for neuropathic pain",
        "scale": "1-9",
        "rule": "comet_70_15",
        "max_rounds": "3",
        "allow_abstain": "on",
        "lang_en": "on",
        "quantile_method": "type7",
        "evidence_scheme": "pedro_scire",
        "labels": "1 = Strongly disagree\n9 = Strongly agree",
        "groups": "physiatrists, physiotherapists",
        "reminder_hours": "72, 24",
    }
    other = {
        "instructions": ["Rate each statement."],
        "scale": ["1-5", "custom"],
        "scale_min": ["0", "1", "-5"],
        "scale_max": ["7", "10", "1000000"],
        "labels": ["x = y", "1 ="],
        "rule": ["percent_agreement", "median_iqr", "rand_ucla", ""],
        "comet_70_15.high_min": ["7", "10"],
        "percent_agreement.threshold": ["75", "101", "NaN"],
        "median_iqr.iqr_max": ["1", "1e308", "-1"],
        "min_responses": ["3", "0"],
        "require_all_groups": ["on"],
        "quantile_method": ["type6"],
        "max_rounds": ["1", "0", "99999999999999999999"],
        "evidence_scheme": ["oxford_2009", "grade"],
        "strength_vote": ["on"],
        "stability_on": ["on"],
        "stability_pct": ["15", "-1"],
        "stability_pairs": ["5", "x"],
        "lang_zh-Hans": ["on"],
        "groups": [",,,"],
        "reminder_hours": ["-1", "1e9", "72, 72"],
    }
    token = _token(console, "/console/studies/new")
    check(console, engine, "/console/studies/new", token, form(valid, **other))


def test_statement_form_never_fails_and_its_refusals_change_nothing(
    console: TestClient, seeded: Seeded, engine: Engine
) -> None:
    study_url = f"/console/studies/{seeded.setup.study['id']}"
    fields = form(
        {"text": "Aerobic exercise reduces pain.", "topic": "exercise"},
        key=["S09", "S01"],
        **{"text_zh-Hans": ["有氧运动"]},
    )
    check(console, engine, f"{study_url}/statements", _token(console, study_url), fields)


def test_revise_form_never_fails_and_its_refusals_change_nothing(
    console: TestClient, seeded: Seeded, engine: Engine
) -> None:
    token = _token(console, f"/console/studies/{seeded.setup.study['id']}")
    url = f"/console/statements/{seeded.setup.statements[0]['id']}/revise"
    fields = form(
        {
            "text": "Aerobic exercise, three times a week, reduces pain.",
            "rationale": "Panel comments asked for a dose.",
        },
        **{"text_zh-Hans": ["每周三次有氧运动"]},
    )
    check(console, engine, url, token, fields)


def test_panelist_form_never_fails_and_its_refusals_change_nothing(
    console: TestClient, seeded: Seeded, engine: Engine
) -> None:
    study_url = f"/console/studies/{seeded.setup.study['id']}"
    fields = form(
        {"name": "Dr Li Wei", "email": "li.wei@example.org"},
        email=["expert0@example.org", "not-an-address", ""],
        group=["physiotherapists"],
        language=["en", "zh-Hans", "xx"],
        timezone=["Asia/Shanghai", "Mars/Olympus"],
    )
    check(console, engine, f"{study_url}/panelists", _token(console, study_url), fields)


def test_grading_table_form_never_fails_and_its_refusals_change_nothing(
    console: TestClient, seeded: Seeded, engine: Engine
) -> None:
    url = f"/console/studies/{seeded.setup.study['id']}/grading"
    valid = {"row-0-grade": "A", "row-0-order": "1", "row-0-level-1a": "on"}
    other: dict[str, list[str]] = {"preset": ["oxford", "grade"]}
    for i in range(2):
        other |= {
            f"row-{i}-grade": ["A", "B"],
            f"row-{i}-order": ["1", "2.5", "inf", "nan", "٣", "²", "1_0", "9" * 5_000],
            f"row-{i}-label": ["Strong recommendation"],
            f"row-{i}-classification": ["for", "against", "either"],
            f"row-{i}-min_pct_agree": ["75", "150", "-1"],
            f"row-{i}-min_pct_disagree": ["75"],
            f"row-{i}-remove": ["on"],
            **{f"row-{i}-level-{code}": ["on"] for code in SCHEME_CODES["pedro_scire"][:3]},
            **{f"row-{i}-strength-{s}": ["on"] for s in STRENGTHS[:2]},
        }
    check(console, engine, url, _token(console, url), form(valid, **other))


def test_evidence_source_form_never_fails_and_its_refusals_change_nothing(
    console: TestClient, seeded: Seeded, engine: Engine
) -> None:
    study_url = f"/console/studies/{seeded.setup.study['id']}/evidence"
    s1, s2 = (s["id"] for s in seeded.setup.statements[:2])
    fields = form(
        {"citation": "Smith J. Exercise after stroke. Lancet 2019.", "design": "rct"},
        design=list(DESIGNS),
        doi=["10.1000/xyz123"],
        pmid=["31234567", "x"],
        pedro=["7", "11", "-1", "²", "٣", "--7", "7" * 5_000],
        amstar2=["high", "critically_low", "great"],
        amstar_score=["9", "99999999999999999999999", "５", "-" + "9" * 5_000],
        pooled_levels=["1a, 1b", "9z"],
        **{
            f"for-{s1}": ["on"],
            f"for-{s2}": ["on"],
            "for-999999": ["on"],
            "for-99999999999": ["on"],
            **{f"for-{odd}": ["on"] for odd in ODD_IDS},
        },
    )
    check(console, engine, f"{study_url}/sources", _token(console, study_url), fields)


def test_round_items_form_never_fails_and_its_refusals_change_nothing(
    console: TestClient, seeded: Seeded, engine: Engine
) -> None:
    study_url = f"/console/studies/{seeded.setup.study['id']}"
    url = f"/console/rounds/{seeded.draft_round_id}/items"
    ticks = {f"item-{s['id']}": ["on"] for s in seeded.setup.statements}
    odd = {f"item-{n}": ["on"] for n in ODD_IDS}
    fields = form({}, **ticks, **odd, **{"item-99999999999": ["on"], "item-1": ["on"]})
    check(console, engine, url, _token(console, study_url), fields)


FORMS = [
    "/ballot",
    "/console/studies/new",
    "/console/studies/{setup}/statements",
    "/console/statements/{statement}/revise",
    "/console/studies/{setup}/panelists",
    "/console/studies/{setup}/grading",
    "/console/studies/{setup}/evidence/sources",
    "/console/rounds/{draft}/items",
]


@pytest.mark.parametrize("how", ["urlencoded", "multipart"])
@pytest.mark.parametrize("url", FORMS)
def test_body_over_the_limit_is_refused_with_413_and_changes_nothing(
    url: str, how: str, console: TestClient, panelist: TestClient, seeded: Seeded, engine: Engine
) -> None:
    web = panelist if url == "/ballot" else console
    url = url.format(
        setup=seeded.setup.study["id"],
        statement=seeded.setup.statements[0]["id"],
        draft=seeded.draft_round_id,
    )
    token = _token(web, "/ballot" if url == "/ballot" else "/console/studies/new")
    response = post_form(web, engine, url, {"csrf_token": token, "text": "x" * BODY_LIMIT}, how)
    assert response.status_code == 413
    # A person at a form gets a page, not JSON: the reason and the way back.
    assert response.headers["content-type"].startswith("text/html")
    assert "larger than 1 MB" in response.text
    assert "Go back" in response.text
