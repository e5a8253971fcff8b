"""The console's form models: what parse_form says when a field is wrong, and the settings form."""

import pytest
from pydantic import Field

from app.services.errors import Invalid
from app.web.console.forms import ConsoleForm, Ticked, parse_form
from app.web.console.study_form import StudyForm


class RoundsForm(ConsoleForm):
    rounds: int = Field(ge=1, title="Number of rounds")
    reminders: Ticked = False


def test_a_wrong_field_is_refused_by_its_label_with_what_is_wrong() -> None:
    with pytest.raises(Invalid) as refused:
        parse_form(RoundsForm, {"rounds": "0", "csrf_token": "x"})
    assert refused.value.message == "Number of rounds: must be greater than or equal to 1"
    assert refused.value.errors == [{"field": "rounds", "message": refused.value.message}]


def test_a_missing_field_is_named_too() -> None:
    with pytest.raises(Invalid, match=r"^Number of rounds: Field required$"):
        parse_form(RoundsForm, {})


def test_a_checkbox_is_ticked_when_sent_with_any_value() -> None:
    assert parse_form(RoundsForm, {"rounds": "2", "reminders": "anything"}).reminders
    assert not parse_form(RoundsForm, {"rounds": "2"}).reminders


def test_the_settings_form_takes_only_the_chosen_rules_parameters() -> None:
    form = parse_form(
        StudyForm,
        {
            "title": "T",
            "scale": "1-5",
            "rule": "percent_agreement",
            "percent_agreement.threshold": " 80 ",
            "comet_70_15.in_pct": "60",
            "groups": "a, ,b",
        },
    )
    body = form.body()
    assert body["scale"] == {"min": "1", "max": "5", "labels": {}}
    assert body["consensus"] == {
        "rule": "percent_agreement",
        "threshold": "80",
        "require_all_groups": False,
    }
    assert body["groups"] == ["a", "b"]
    assert body["languages"] == ["en"]
    assert body["stability_rule"] is None


def test_the_settings_form_without_a_rule_leaves_the_rule_out() -> None:
    body = parse_form(StudyForm, {"title": "T", "lang_zh-Hans": "on"}).body()
    assert "consensus" not in body
    assert body["languages"] == ["zh-Hans"]
