"""The report shows what issue #7 added to the results (stability between rounds, Kendall's W,
attrition and its bias check) and the strength vote, with the same numbers as the results API,
in HTML, in the PDF and in Chinese; its methods text says which rules produced them."""

import html as html_lib
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.consensus import grading, strength
from app.consensus import stability as method
from app.models import Panelist, Round, Study
from app.reports.report_stability import (
    stability_rule_sentence,
    vote_in_words,
    wilcoxon_note,
)
from app.reports.words import Words
from app.services import panel, stability
from tests.conftest import QueryCounter
from tests.factories import StudyRun, coordinator, start_study
from tests.prebuilt import Prebuilt, build_once, restored
from tests.reports.test_report import f1, f2, parse, pdf_text

GROUPS = ["nurses", "physicians"]  # panelist i belongs to GROUPS[i % 2]
# Round 1, per statement, per panelist (8 of them). Nobody reaches consensus.
ROUND_1 = [
    [2, 8, 1, 8, 5, 8, 6, 9],  # S1: those who leave (P01, P03) rated it low
    [5, 5, 5, 5, 5, 5, 5, 5],  # S2: everyone rates 5 twice: no test
    [7, 3, 6, 4, 8, 2, 5, 9],  # S3: one panelist moves by one point
    [6, 6, 6, 6, 4, 6, 4, 6],  # S4: in round 2 only two rate it: too few pairs to judge
]
STAYING = [1, 3, 4, 5, 6, 7]  # P01 is withdrawn, P03 just does not answer round 2
ROUND_2: list[list[int | None]] = [  # per statement, per staying panelist; None abstains
    [8, 8, 7, 8, 7, 9],
    [5, 5, 5, 5, 5, 5],
    [3, 4, 8, 2, 6, 9],
    [6, 7, None, None, None, None],
]
STRENGTHS_2: list[list[str] | list[None]] = [  # S1 settles "strong for" (5 of 6); S3 splits 3 / 3
    ["strong_for"] * 5 + ["conditional_for"],
    [None] * 6,
    ["strong_for"] * 3 + ["conditional_for"] * 3,
    [None] * 6,
]
STABILITY_RULE = {
    "max_pct_changed": 20,
    "min_pairs": 3,
    "zero_method": "zsplit",
    "stop_carry_forward": False,
}


@dataclass
class Finished:
    run: StudyRun
    rounds: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def study_id(self) -> int:
        return int(self.run.study["id"])

    def report(self, kind: str = "html", lang: str | None = None) -> Any:
        query = f"?lang={lang}" if lang else ""
        response = self.run.client.get(
            f"/api/v1/studies/{self.study_id}/report.{kind}{query}", headers=self.run.auth
        )
        assert response.status_code == 200, response.text[:500]
        return response


def voting_study(
    client: TestClient, session: Session, *, copies: int = 1, extra: int = 0
) -> Finished:
    """Two rounds, two groups, a withdrawal and a silent panelist, a strength vote, feedback by
    group, require_all_groups and a pre-registered stability rule; finalized. `copies` repeats
    the panel, `extra` adds statements everyone rates 5 (for the query count)."""
    user, token = coordinator(session, email=f"voting{copies}-{extra}@example.org")
    size = 8 * copies
    run = start_study(
        client,
        token,
        statements=4 + extra,
        panelists=size,
        groups=GROUPS,
        consensus={"rule": "comet_70_15", "require_all_groups": True},
        max_rounds=2,
        evidence_scheme="grade",
        strength_vote=True,
        grading_table=grading.grade_table(panel_strength=True).model_dump(mode="json"),
        stability_rule=STABILITY_RULE,
        feedback_by_group=True,
    )
    finished = Finished(run)
    ids = [s["id"] for s in run.statements]
    table_1 = [row * copies for row in ROUND_1] + [[5] * size] * extra
    first = run.new_round()
    run.open_round(first["id"])
    for p in range(size):
        run.rate(p, {sid: table_1[s][p] for s, sid in enumerate(ids)})
    run.close_round(first["id"])

    study = session.get_one(Study, finished.study_id)
    gone = session.query(Panelist).filter_by(study_id=study.id, code="P01").one()
    panel.withdraw(session, actor=user, study=study, panelist=gone)
    session.commit()

    second = run.new_round()
    assert len(second["statements"]) == len(ids), "nothing reached consensus in round 1"
    run.open_round(second["id"])
    staying = [copy * 8 + p for copy in range(copies) for p in STAYING]
    for column, p in enumerate(staying):
        answers = []
        for s, sid in enumerate(ids):
            row = ROUND_2[s] if s < len(ROUND_2) else [5] * 6
            value = row[column % 6]
            answer: dict[str, Any] = {"statement_id": sid}
            answer |= {"abstain": True} if value is None else {"value": value}
            choice = STRENGTHS_2[s][column % 6] if s < len(STRENGTHS_2) else None
            if choice and second["asks_strength"]:
                answer["strength"] = choice
            answers.append(answer)
        run.call("PUT", "/api/v1/ballot", headers=run.as_panelist(p), json={"ratings": answers})
    run.close_round(second["id"])
    finished.rounds = [first, second]
    finished.results = [run.results(first["id"]), run.results(second["id"])]
    run.call("POST", f"/api/v1/studies/{finished.study_id}/finalize")
    return finished


@pytest.fixture(scope="session")
def voting_once(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Prebuilt[Finished]:
    folder = tmp_path_factory.mktemp("voting")
    return build_once(database_url, folder, voting_study)


@pytest.fixture
def voting(voting_once: Prebuilt[Finished], engine: Engine, client: TestClient) -> Finished:
    """The voting study, restored into this test's database."""
    return restored(voting_once, engine, client)


def p_value(p: float | None) -> str:
    return "–" if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def p_is(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def signed(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    text = f"{value:+.{digits}f}"
    return f"{0:.{digits}f}" if float(text) == 0 else text.replace("-", "−")


def kendall_sentence(result: dict[str, Any]) -> str:
    k = result["stability"]["kendall_w"]
    return (
        f"Kendall's W = {k['w']:.3f} (χ² = {k['chi2']:.2f}, df = {k['df']}, {p_is(k['p'])}): "
        f"{k['raters']} panelists ranking the {k['items']} statements that all of them rated, "
        "corrected for ties."
    )


def stability_row(change: dict[str, Any]) -> list[str]:
    stable = {True: "yes", False: "no", None: "too few to judge"}[change["stable"]]
    p_cell = p_value(change["wilcoxon_p"])
    if change["note"]:
        p_cell += " " + change["note"]
    return [
        change["key"],
        str(change["pairs"]),
        f"{change['changed']} ({f1(change['pct_changed'])} %)",
        f2(change["mean_abs_change"]),
        signed(change["cv_change"]),
        stable,
        p_cell,
    ]


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(p|li)>', html, re.S)
    assert found, element_id
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def test_the_study_exercises_every_case_the_report_must_show(voting: Finished) -> None:
    """The data behind the other tests: if the engine changes, these tests must be rethought."""
    second = voting.results[1]
    changes = {c["key"]: c for c in second["stability"]["statements"]}
    assert changes["S01"]["stable"] is False
    assert changes["S01"]["wilcoxon_p"] is not None
    assert changes["S02"]["wilcoxon_p"] is None
    assert changes["S02"]["stable"] is True
    assert changes["S03"]["note"]
    assert changes["S03"]["wilcoxon_p"] is not None
    assert changes["S04"]["stable"] is None
    assert changes["S01"]["zero_method"] == "zsplit"
    attrition = second["attrition"]
    assert attrition["left"] == 2
    assert attrition["by_group"]["nurses"]["left"] == 2
    assert {b["key"] for b in attrition["bias"] if b["flagged"]} == {"S01", "S03"}
    votes = {s["key"]: s["strength_votes"] for s in second["statements"]}
    assert strength.panel_choice(votes["S01"]) == "strong_for"
    assert strength.panel_choice(votes["S03"]) is None


def test_stability_kendall_and_attrition_in_the_html_equal_the_results_api(
    voting: Finished,
) -> None:
    html = voting.report().text
    tables = parse(html)
    second = voting.results[1]
    for number, result in enumerate(voting.results, start=1):
        assert text_of(html, f"kendall-r{number}") == kendall_sentence(result)
    assert "There is no earlier round to compare with" in html.split('id="stability-r1"')[1]
    for change in second["stability"]["statements"]:
        assert tables.rows[f"stab-r2-{change['statement_id']}"] == stability_row(change)
    attrition = second["attrition"]
    for index, (name, group) in enumerate(attrition["by_group"].items(), start=1):
        assert tables.rows[f"attrition-r2-g{index}"] == [
            name,
            str(group["before"]),
            str(group["left"]),
            str(group["now"]),
        ]
    assert tables.rows["attrition-r2-all"] == [
        "All panelists",
        str(attrition["responded_before"]),
        str(attrition["left"]),
        str(attrition["responded_now"]),
    ]
    for bias in attrition["bias"]:
        assert tables.rows[f"bias-r2-{bias['statement_id']}"] == [
            bias["key"],
            str(bias["left_n"]),
            str(bias["stayed_n"]),
            f"{f2(bias['left_median'])} / {f2(bias['stayed_median'])}",
            signed(bias["median_gap"], 2),
            f"{f1(bias['left_pct_agree'])} / {f1(bias['stayed_pct_agree'])}",
            signed(bias["pct_agree_gap"], 1),
            "flagged" if bias["flagged"] else "",
        ]
    assert 'id="attrition-r1' not in html
    assert 'id="bias-r1' not in html


def test_the_participant_flow_counts_those_who_left_apart_from_those_who_withdrew(
    voting: Finished,
) -> None:
    """One panelist was withdrawn and another stopped answering: withdrew 1, left 2."""
    tables = parse(voting.report().text)
    attrition = voting.results[1]["attrition"]
    assert tables.rows["participants-r2"][5:] == ["1", str(attrition["left"])]
    assert tables.rows["participants-r1"][5:] == ["0", "–"]
    for index, (name, group) in enumerate(attrition["by_group"].items(), start=1):
        row = tables.rows[f"participants-r2-g{index}"]
        assert row[1] == name
        assert row[6] == str(group["left"])
        assert row[3] == str(group["now"]), "responded: answered this round, as attrition counts"
        assert tables.rows[f"participants-r1-g{index}"][3] == str(group["before"])


def test_each_statement_block_gives_its_stability_line_and_the_settling_vote_in_words(
    voting: Finished,
) -> None:
    html = voting.report().text
    second = voting.results[1]
    votes = {s["statement_id"]: s["strength_votes"] for s in second["statements"]}
    for change in second["stability"]["statements"]:
        sid = change["statement_id"]
        line = text_of(html, f"stab-line-{sid}-r2")
        start = (
            f"Round 2 vs 1: {change['changed']} of {change['pairs']} changed "
            f"({f1(change['pct_changed'])} %)"
        )
        if change["wilcoxon_p"] is None:
            start += f"; {change['note']}"
        else:
            start += f", Wilcoxon {p_is(change['wilcoxon_p'])}"
        stable = {True: "stable", False: "not stable", None: "too few to judge stability"}
        assert line == f"{start}; {stable[change['stable']]}"
        vote = text_of(html, f"vote-{sid}-r2")
        assert vote.endswith(
            f"The vote of the round that settled the statement: "
            f"{strength.describe_vote(votes[sid])}."
        )
    assert "strong for (5 of 6 votes, 83 %)" in html
    assert "no strength chosen by 70 % of the 6 votes (strong for 3, conditional for 3)" in html
    assert not re.search(r'id="stab-line-\d+-r1"', html), "round 1 has nothing to compare with"


def test_the_methods_say_which_rules_produced_the_new_figures(
    voting: Finished, session: Session
) -> None:
    html = voting.report().text
    methods = " ".join(
        html_lib.unescape(html.split('id="methods"')[1].split("</section>")[0]).split()
    )
    study = session.get_one(Study, voting.study_id)
    assert stability.rule_in_words(study) in methods
    assert "zero-split method" in methods
    assert "two-sided Wilcoxon signed-rank test" in methods
    assert "Kendall's coefficient of concordance W, corrected for ties" in methods
    assert (
        f"at least {stability.LEAVERS_MIN} panelists left and their median differs by "
        f"{stability.MEDIAN_GAP:g} or more on the rating scale, or their percentage agreement by "
        f"{stability.PCT_GAP:g} percentage points or more"
    ) in methods
    assert "Consensus must also hold, the same way, within every stakeholder group." in methods
    assert "a group with fewer than 3 ratings of a statement was not shown apart" in methods
    assert "the smallest group shown was held back as well" in methods
    assert "not even by subtraction" in methods
    assert f"at least {strength.CHOICE_MIN_PCT} % of those who chose a strength" in methods
    assert "Jaeschke R, Guyatt GH" in methods
    assert "BMJ. 2008;337:a744" in methods


def test_a_study_without_these_options_says_its_stability_thresholds_only_report(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    from tests.reports.test_report import finished_study

    finished = finished_study(client, coordinator_token, statements=2, panelists=4)
    html = finished.report().text
    methods = html_lib.unescape(html.split('id="methods"')[1].split("</section>")[0])
    study = session.get_one(Study, finished.study_id)
    assert stability.rule_in_words(study) in methods
    assert "did not pre-register a stability rule" in methods
    assert "strength" not in methods.lower()
    assert "Jaeschke" not in methods
    assert "shown apart" not in methods


def test_the_pdf_shows_the_same_stability_and_attrition_as_the_api(voting: Finished) -> None:
    text = pdf_text(voting.report("pdf").content)
    second = voting.results[1]
    for result in voting.results:
        assert kendall_sentence(result) in text
    for change in second["stability"]["statements"]:
        cells = [*stability_row(change)[:6], p_value(change["wilcoxon_p"])]
        assert " ".join(cells) in text, cells
    attrition = second["attrition"]
    assert (
        f"All panelists {attrition['responded_before']} {attrition['left']} "
        f"{attrition['responded_now']}"
    ) in text
    assert f"{attrition['left']} left and {attrition['joined']} joined" in text
    flagged = [b for b in attrition["bias"] if b["flagged"]]
    for bias in flagged:
        assert (
            f"{bias['key']} {bias['left_n']} {bias['stayed_n']} "
            f"{f2(bias['left_median'])} / {f2(bias['stayed_median'])}"
        ) in text
    assert "strong for (5 of 6 votes, 83 %)" in text


def test_the_chinese_report_says_it_in_chinese(voting: Finished) -> None:
    html = voting.report(lang="zh_Hans").text
    assert "第 2 轮：稳定性与流失" in html
    assert "若在相邻两轮均对某条目评分的专家中，改变评分者少于 20%" in html
    assert "零差值拆分法" in html
    assert "Jaeschke 等" in html
    assert "所有专家的评分均未改变：未作检验" in html
    assert "强烈支持（6 票中的 5 票，83%）" in html
    assert "不稳定" in html
    assert "已标记" in html
    text = re.sub(r"<[^>]+>", " ", html.split("<body>")[1])
    for english in ("stability and attrition", "no test", "flagged", "votes,", "Left"):
        assert english not in text, english


@pytest.mark.parametrize(
    "rule",
    [
        None,
        STABILITY_RULE,
        {"max_pct_changed": 10, "min_pairs": 8},
        {"zero_method": "zsplit", "stop_carry_forward": True},
    ],
)
def test_the_stability_rule_in_english_is_the_engines_own_words(
    rule: dict[str, Any] | None,
) -> None:
    study = Study(stability_rule=rule)
    assert stability_rule_sentence(study, Words("en")) == stability.rule_in_words(study)
    chinese = stability_rule_sentence(study, Words("zh-Hans"))
    assert "稳定" in chinese
    assert "stable" not in chinese


@pytest.mark.parametrize(
    "counts",
    [
        {},
        {"strong_for": 12, "conditional_for": 3},
        {"strong_for": 6, "conditional_for": 5, "conditional_against": 5, "strong_against": 5},
        {"strong_against": 7, "conditional_against": 3},
        {"conditional_for": 2, "conditional_against": 1},
    ],
)
def test_the_strength_vote_in_english_is_the_engines_own_words(counts: dict[str, int]) -> None:
    assert vote_in_words(counts, Words("en")) == strength.describe_vote(counts)
    chinese = vote_in_words(counts, Words("zh-Hans"))
    assert not re.search(r"[a-z]{3}", chinese), chinese


@pytest.mark.parametrize(
    "differences",
    [{}, {0: 6}, {0: 5, 1: 1}, {0: 2, 1: 2, -1: 1}, {1: 8, 2: 4, -1: 3}],
)
def test_every_wilcoxon_note_reads_as_the_engine_wrote_it_and_has_a_chinese_version(
    differences: dict[int, int],
) -> None:
    change = method.paired_change(differences)
    assert wilcoxon_note(change.note, Words("en")) == (change.note or "")
    if change.note:
        chinese = wilcoxon_note(change.note, Words("zh-Hans"))
        assert chinese != change.note
        assert not re.search(r"[a-z]{4}", chinese), chinese


def _report_queries(
    client: TestClient, session: Session, queries: QueryCounter, *, copies: int, extra: int
) -> tuple[int, int]:
    finished = voting_study(client, session, copies=copies, extra=extra)
    queries.reset()
    finished.report()
    frozen = queries.count
    # If freezing the statistics after a close never ran, results count them from the ratings.
    session.query(Round).filter_by(study_id=finished.study_id).update({"statistics": None})
    session.commit()
    queries.reset()
    finished.report()
    return frozen, queries.count


def test_report_queries_with_stability_and_attrition_do_not_grow_with_the_study(
    client: TestClient, session: Session, queries: QueryCounter
) -> None:
    small = _report_queries(client, session, queries, copies=1, extra=0)
    large = _report_queries(client, session, queries, copies=3, extra=12)
    assert small == large, (small, large)


def test_a_panel_without_groups_and_a_single_statement_is_reported_plainly(
    client: TestClient, session: Session
) -> None:
    """No stakeholder groups: attrition rows name 'no group'; one statement: W is undefined."""
    _user, token = coordinator(session, email="plain@example.org")
    run = start_study(client, token, statements=1, panelists=5, max_rounds=2)
    (sid,) = (s["id"] for s in run.statements)
    finished = Finished(run)
    for number, raters in ((1, range(5)), (2, range(1, 5))):
        round_ = run.open_round(run.new_round(statement_ids=[sid])["id"])
        for p in raters:
            run.rate(p, {sid: 5 + (p + number) % 3})
        run.close_round(round_["id"])
        finished.results.append(run.results(round_["id"]))
    html = finished.report().text
    tables = parse(html)
    second = finished.results[1]
    assert second["stability"]["kendall_w"] is None
    assert text_of(html, "kendall-r2") == (
        "Kendall's W is not defined for this round: it needs at least two panelists, two "
        "statements that all of them rated, and ratings that are not all tied (4 panelists "
        "answered; statements rated by all of them: 1)."
    )
    assert list(second["attrition"]["by_group"]) == ["(no group)"]
    assert tables.rows["attrition-r2-g1"] == ["no group", "5", "1", "4"]
    assert tables.rows["participants-r2-g1"][1] == "no group"
    assert tables.rows["participants-r2-g1"][5:] == ["0", "1"], "left without withdrawing"
    assert 'id="bias-r2"' in html, "one left: shown, but not flagged below 2 leavers"
    assert "flagged</strong>" not in html
