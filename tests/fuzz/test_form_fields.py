"""Every field of every form, one at a time, with what breaks databases: a NUL, more characters
than a column holds, and 4,000 CJK characters; and with what breaks number parsing: a digit
int() refuses (“²”), one it reads (“٣”), a doubled sign and 5,000 digits. Never a 5xx; a refusal
explains itself and changes nothing; and no NUL is ever stored (PostgreSQL cannot store one, so
SQLite must not either).
"""

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.dbstate import dump
from tests.fuzz.forms import csrf, post_form
from tests.fuzz.seed import Seeded

BREAKERS = ["a\x00b", "y" * 321, "中" * 4_000, "²", "٣", "--5", "9" * 5_000]

# Each form's URL (on the study being set up) and a valid filling of its fields.
FORMS = {
    "statement": (
        "/console/studies/{study}/statements",
        {"text": "Aerobic exercise.", "topic": "exercise", "key": "S09", "text_zh-Hans": "有氧"},
    ),
    "revise": (
        "/console/statements/{statement}/revise",
        {"text": "A new wording.", "rationale": "Comments asked for it.", "text_zh-Hans": "有氧"},
    ),
    "panelist": (
        "/console/studies/{study}/panelists",
        {
            "name": "Dr Li Wei",
            "email": "li.wei@example.org",
            "group": "physiotherapists",
            "language": "en",
            "timezone": "Asia/Shanghai",
        },
    ),
    "source": (
        "/console/studies/{study}/evidence/sources",
        {
            "citation": "Smith 2019",
            "design": "systematic_review",
            "doi": "10.1000/xyz",
            "pmid": "31234567",
            "amstar2": "high",
            "amstar_score": "9",
            "pooled_levels": "1a",
        },
    ),
    "level": ("/console/statements/{statement}/level", {"code": "1a", "justification": "Why."}),
    "grading": (
        "/console/studies/{study}/grading",
        {
            "row-0-grade": "A",
            "row-0-order": "1",
            "row-0-label": "Strong",
            "row-0-level-1a": "on",
            "row-0-min_pct_agree": "75",
        },
    ),
    "study": (
        "/console/studies/new",
        {
            "title": "Exercise for neuropathic pain",
            "instructions": "Rate each statement.",
            "scale": "1-9",
            "labels": "1 = Strongly disagree",
            "rule": "comet_70_15",
            "max_rounds": "3",
            "quantile_method": "type7",
            "evidence_scheme": "pedro_scire",
            "lang_en": "on",
            "groups": "physiatrists",
            "reminder_hours": "72",
        },
    ),
}


def nuls_stored(engine: Engine) -> int:
    return json.dumps(dump(engine), default=str).count("\\u0000")


@pytest.mark.parametrize("name", FORMS)
def test_each_field_of_a_console_form_refuses_or_stores_cleanly(
    name: str, console: TestClient, seeded: Seeded, engine: Engine
) -> None:
    template, valid = FORMS[name]
    study, statement = seeded.setup.study["id"], seeded.setup.statements[1]["id"]
    url = template.format(study=study, statement=statement)
    token = csrf(console.get(f"/console/studies/{study}").text)
    for number, (field, breaker) in enumerate((f, b) for f in valid for b in BREAKERS):
        unique = {"key": f"K{number}", "email": f"p{number}@example.org"}  # no clash hides a bug
        form = {"csrf_token": token, **valid, **{k: v for k, v in unique.items() if k in valid}}
        post_form(console, engine, url, {**form, field: breaker}, "urlencoded")
        assert nuls_stored(engine) == 0, f"{name}: a NUL in {field} was stored"


def test_each_field_of_the_ballot_refuses_or_stores_cleanly(
    panelist: TestClient, engine: Engine
) -> None:
    page = panelist.get("/ballot").text
    round_id = re.search(r'name="round_id" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    sid = re.search(r'name="rating-(\d+)"', page).group(1)  # type: ignore[union-attr]
    valid = {"round_id": round_id, "action": "save", f"rating-{sid}": "7", f"comment-{sid}": "Ok"}
    for field in [*valid, f"strength-{sid}"]:
        for breaker in BREAKERS:
            form = {"csrf_token": csrf(page), **valid, field: breaker}
            post_form(panelist, engine, "/ballot", form, "urlencoded")
            assert nuls_stored(engine) == 0, f"a NUL in {field} was stored"
