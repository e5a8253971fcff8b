"""The report's methods text says, word for word, what the method's own descriptions say."""

from typing import Any

import pytest

from app.consensus import RULE_ADAPTER, describe
from app.consensus.grading import GradingTable, describe_table, grade_table, oxford_2009_table
from app.consensus.levels import LEVEL_LABELS
from app.reports import report_methods
from app.reports.report_methods import grading_lines, rule_sentence
from app.reports.words import Words

RULES = [
    {"rule": "comet_70_15"},
    {"rule": "comet_70_15", "in_pct": 80, "out_pct": 10, "min_responses": 12},
    {"rule": "percent_agreement", "threshold": 75},
    {"rule": "percent_agreement", "threshold": 50, "require_all_groups": True},
    {"rule": "median_iqr", "median_min": 7, "median_max_against": 3, "iqr_max": 1.5},
    {
        "rule": "median_iqr",
        "median_min": 7,
        "median_max_against": 3,
        "iqr_max": 1,
        "agree_min": 7,
        "threshold": 70,
    },
    {"rule": "rand_ucla"},
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["rule"])
@pytest.mark.parametrize("scale", [(1, 9), (1, 5)])
def test_the_consensus_definition_is_the_rules_own_description(
    rule: dict[str, Any], scale: tuple[int, int]
) -> None:
    if rule["rule"] == "rand_ucla" and scale != (1, 9):
        pytest.skip("RAND/UCLA is defined on 1–9 only")
    parsed = RULE_ADAPTER.validate_python(rule)
    assert rule_sentence(parsed, *scale, Words("en")) == describe(parsed, *scale)


@pytest.mark.parametrize(
    "table",
    [oxford_2009_table(), oxford_2009_table("pedro_scire"), grade_table(), grade_table(90)],
    ids=["oxford", "pedro_scire", "grade", "grade_90"],
)
def test_the_grading_rows_are_the_tables_own_description(table: GradingTable) -> None:
    assert grading_lines(table, Words("en")) == describe_table(table)


def test_every_level_and_preset_grade_label_can_be_translated() -> None:
    labels = {label for scheme in LEVEL_LABELS.values() for label in scheme.values()}
    assert labels <= set(report_methods.LEVEL_LABELS)
    grades = {row.shown for table in (oxford_2009_table(), grade_table()) for row in table.rows}
    assert grades <= set(report_methods.GRADE_LABELS)


def test_the_chinese_methods_text_is_chinese() -> None:
    parsed = RULE_ADAPTER.validate_python({"rule": "comet_70_15"})
    sentence = rule_sentence(parsed, 1, 9, Words("zh-Hans"))
    assert "至少 70% 的评分为 7–9 分且少于 15% 的评分为 1–3 分" in sentence
    assert grading_lines(oxford_2009_table(), Words("zh-Hans"))[0] == (
        "A 级：证据等级为 1a或1b 级，且专家组达成支持共识"
    )
