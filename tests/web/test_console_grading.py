"""Editing the grading table in the console: presets, rows by hand, clear errors, then frozen."""

import re

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.models import Study
from tests.dbstate import dump
from tests.matching import found
from tests.web.test_console import csrf, new_study, post, signed_in


def _grading(study_id: int) -> str:
    return f"/console/studies/{study_id}/grading"


def test_the_preset_table_is_shown_in_words_and_the_editor_holds_its_rows(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    page = web.get(_grading(study_id)).text
    assert "Grade A when the evidence is level 1a or 1b and the panel reached consensus for" in page
    assert "No recommendation when the panel reached no consensus" in page
    assert re.search(r'name="row-0-grade"[^>]*value="A"', page)
    assert re.search(r'name="row-0-level-1a" checked', page)


def test_rows_edited_by_hand_are_saved_in_their_order_and_used(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    response = post(
        web,
        _grading(study_id),
        _grading(study_id),
        **{
            "row-0-order": "2",
            "row-0-classification": "for",
            "row-0-grade": "B",
            "row-0-label": "Grade B",
            "row-1-order": "1",
            "row-1-level-1a": "on",
            "row-1-level-1b": "on",
            "row-1-classification": "for",
            "row-1-min_pct_agree": "80",
            "row-1-grade": "A",
            "row-1-label": "Grade A",
        },
    )
    assert response.status_code == 303
    page = web.get(response.headers["location"]).text
    assert "Grading table saved (2 rows)" in page
    words = re.findall(r"<li>(Grade [AB] when[^<]*)</li>", page)
    assert words == [
        "Grade A when the evidence is level 1a or 1b, the panel reached consensus for and at "
        "least 80 % of ratings agree",
        "Grade B when the panel reached consensus for",
    ]
    session.expire_all()
    table = session.execute(select(Study.grading_table).where(Study.id == study_id)).scalar_one()
    assert [row["grade"] for row in table["rows"]] == ["A", "B"]


def test_a_bad_row_comes_back_with_its_number_and_the_typing_kept(
    session: Session, engine: Engine
) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    before = dump(engine)
    response = post(
        web,
        _grading(study_id),
        _grading(study_id),
        **{"row-0-grade": "A", "row-0-min_pct_agree": "120", "row-1-grade": "no_recommendation"},
    )
    assert response.status_code == 422
    assert "Row 1 (at least % agree): must be less than or equal to 100" in response.text
    assert "Row 2: &#39;no_recommendation&#39; is reserved" in response.text
    assert re.search(r'name="row-0-min_pct_agree"[^>]*value="120"', response.text)
    assert dump(engine) == before


def test_a_table_that_asks_for_the_panels_vote_needs_the_vote(
    session: Session, engine: Engine
) -> None:
    web = signed_in(session)
    study_id = new_study(web, evidence_scheme="grade")
    grading = web.get(_grading(study_id))
    assert grading.status_code == 200
    page = grading.text
    assert "<h1>Grading table</h1>" in page
    assert "Panel&#39;s choice" not in page
    assert 'value="grade_panel"' not in page
    with_vote = new_study(web, evidence_scheme="grade", strength_vote="on")
    page = web.get(_grading(with_vote)).text
    assert 'value="grade_panel"' in page
    response = post(web, _grading(with_vote), _grading(with_vote), preset="grade_panel")
    assert response.status_code == 303
    page = web.get(_grading(with_vote)).text
    assert "the panel&#39;s choice of strength (at least 70 % of its votes) is strong for" in page
    # Turning the vote off now would leave a table that cannot be applied: refused, said why.
    edit = f"/console/studies/{with_vote}/edit"
    form = web.get(edit).text
    before = dump(engine)
    values = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))
    values.pop("strength_vote", None)
    refused = web.post(
        edit,
        data={
            **values,
            "csrf_token": csrf(form),
            "scale": "1-9",
            "rule": "comet_70_15",
            "evidence_scheme": "grade",
            "quantile_method": "type7",
            "lang_en": "on",
        },
    )
    assert refused.status_code == 422
    assert "turn on the strength vote" in refused.text
    assert dump(engine) == before


@pytest.mark.usefixtures("client")
def test_the_table_is_frozen_once_round_1_opens(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    study = f"/console/studies/{study_id}"
    post(web, f"{study}/statements", study, text="Aerobic exercise for diabetic neuropathy")
    post(web, f"{study}/panelists", study, name="Dr Wang", email="wang@example.org")
    post(web, f"{study}/rounds", study)
    round_id = found(r"/console/rounds/(\d+)/open", web.get(study).text).group(1)
    opened = post(
        web,
        f"/console/rounds/{round_id}/open",
        study,
        closes_at="2099-01-31T17:00",
        timezone="UTC",
    )
    assert opened.status_code == 303, opened.text
    grading = web.get(_grading(study_id))
    assert grading.status_code == 200
    page = grading.text
    assert "<h1>Grading table</h1>" in page
    assert "Frozen" in page
    assert 'name="row-0-grade"' not in page
    refused = post(web, _grading(study_id), study, preset="oxford")
    assert refused.status_code == 409
    assert "can no longer change: the grading table (grading_table)." in refused.text


def test_an_order_that_is_not_a_number_or_an_unknown_consensus_is_refused(
    session: Session, engine: Engine
) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    before = dump(engine)
    for fields, message in [
        (
            {"row-0-grade": "A", "row-0-order": "nan"},
            "Row 1: the order must be a whole number from 1 to 999, written with the digits 0 to "
            "9; “nan” is not.",
        ),
        ({"row-0-grade": "A", "row-0-classification": "maybe"}, "Row 1: choose for, against"),
    ]:
        response = post(web, _grading(study_id), _grading(study_id), **fields)
        assert response.status_code == 422
        assert message in response.text
    assert dump(engine) == before


def test_an_order_written_with_other_digits_than_0_to_9_is_refused_not_read(
    session: Session, engine: Engine
) -> None:
    """float() read "٣" as 3 and "1_0" as 10: a row moved where nobody typed it."""
    web = signed_in(session)
    study_id = new_study(web)
    before = dump(engine)
    for typed in ("٣", "５", "²", "1_0", "1e2", "2.5", "9" * 5_000):
        fields = {"row-0-grade": "A", "row-0-order": typed}
        response = post(web, _grading(study_id), _grading(study_id), **fields)
        assert response.status_code == 422, typed
        assert "Row 1: the order must be a whole number from 1 to 999" in response.text, typed
    assert dump(engine) == before
