"""Round results say when to stop: stability, Kendall's W and attrition, frozen at close."""

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats as sps
from sqlalchemy.orm import Session

from tests.factories import start_study


def _w_reference(matrix: list[list[int]], tie_correction: bool = True) -> float:
    """Kendall's W from scratch with scipy's rankdata (raters in rows, statements in columns)."""
    ranks = np.array([sps.rankdata(row) for row in matrix])
    m, n = ranks.shape
    s = ((ranks.sum(axis=0) - m * (n + 1) / 2) ** 2).sum()
    ties = 0.0
    if tie_correction:
        for row in matrix:
            _, counts = np.unique(row, return_counts=True)
            ties += float((counts**3 - counts).sum())
    return 12 * s / (m**2 * (n**3 - n) - m * ties)


def test_stability_between_rounds_matches_scipy(client: TestClient, coordinator_token: str) -> None:
    run = start_study(client, coordinator_token, statements=3, panelists=6)
    s1, s2, s3 = (s["id"] for s in run.statements)
    first = run.new_round()
    run.open_round(first["id"])
    round1 = {s1: [2, 5, 5, 6, 8, 9], s2: [1, 2, 3, 7, 8, 9], s3: [8, 8, 9, 9, 8, 7]}
    for i in range(6):
        run.rate(i, {sid: values[i] for sid, values in round1.items()})
    run.close_round(first["id"])
    second = run.new_round()
    assert {s["id"] for s in second["statements"]} == {s1, s2}  # s3 reached consensus
    run.open_round(second["id"])
    round2 = {s1: [4, 5, 6, 6, 8, 8], s2: [1, 2, 3, 7, 8, 9]}
    for i in range(6):
        run.rate(i, {sid: values[i] for sid, values in round2.items()})
    run.close_round(second["id"])

    res = run.results(second["id"])
    stability = {row["statement_id"]: row for row in res["stability"]["statements"]}
    assert res["stability"]["previous_round"] == 1
    moved = stability[s1]
    differences = np.array(round2[s1]) - np.array(round1[s1])
    assert (moved["pairs"], moved["changed"]) == (6, 3)
    assert moved["pct_changed"] == 50.0
    assert moved["mean_abs_change"] == np.abs(differences).mean()
    # "wilcox" drops unchanged ratings before the test (Wilcoxon's original procedure).
    reference = sps.wilcoxon(differences[differences != 0])
    assert moved["wilcoxon_p"] == pytest.approx(reference.pvalue, abs=1e-12)
    assert moved["zero_method"] == "wilcox"
    figures = {row["statement_id"]: row for row in res["statements"]}
    first_figures = {row["statement_id"]: row for row in run.results(first["id"])["statements"]}
    assert moved["cv_change"] == round(figures[s1]["cv"] - first_figures[s1]["cv"], 6)
    still = stability[s2]
    assert still["changed"] == 0
    assert still["wilcoxon_p"] is None
    assert still["note"]
    assert still["stable"] is True  # reported against 15 % even without a pre-registered rule

    kendall = res["stability"]["kendall_w"]
    matrix = [[round2[s1][i], round2[s2][i]] for i in range(6)]
    assert kendall["tie_corrected"] is True
    assert abs(kendall["w"] - _w_reference(matrix)) < 1e-9
    assert kendall["df"] == 1
    assert kendall["raters"] == 6
    assert kendall["items"] == 2
    plain = run.call("GET", f"/api/v1/rounds/{second['id']}/results?tie_correction=false")
    assert abs(plain["stability"]["kendall_w"]["w"] - _w_reference(matrix, False)) < 1e-9
    assert plain["stability"]["kendall_w"]["tie_corrected"] is False


def test_a_preregistered_stability_rule_stops_stable_statements(
    client: TestClient, coordinator_token: str
) -> None:
    run = start_study(
        client,
        coordinator_token,
        statements=2,
        panelists=5,
        stability_rule={"max_pct_changed": 15, "min_pairs": 3},
    )
    assert run.study["stability_rule"] == {
        "max_pct_changed": 15,
        "min_pairs": 3,
        "zero_method": "wilcox",
        "stop_carry_forward": True,
    }
    s1, s2 = (s["id"] for s in run.statements)
    split = {s1: [1, 3, 5, 7, 9], s2: [1, 3, 5, 7, 9]}
    for number in (1, 2):
        round_ = run.new_round()
        run.open_round(round_["id"])
        for i in range(5):
            # s1 stays exactly as it was; s2 moves a little in round 2 (2 of 5 change)
            value = split[s2][i] + (1 if number == 2 and i in (0, 1) else 0)
            run.rate(i, {s1: split[s1][i], s2: value})
        run.close_round(round_["id"])
    third = run.new_round()
    assert [s["id"] for s in third["statements"]] == [s2], "s1 is stable without consensus"


def test_attrition_by_group_and_bias_of_those_who_left(
    client: TestClient, coordinator_token: str
) -> None:
    run = start_study(
        client, coordinator_token, statements=1, panelists=6, groups=["nurses", "physicians"]
    )
    (s1,) = (s["id"] for s in run.statements)
    first = run.new_round()
    run.open_round(first["id"])
    for i, value in enumerate([2, 9, 1, 8, 7, 9]):  # even index: nurses, odd: physicians
        run.rate(i, {s1: value})
    run.close_round(first["id"])
    second = run.new_round(statement_ids=[s1])
    run.open_round(second["id"])
    for i in (1, 3, 4, 5):  # panelists 0 and 2 (nurses who rated low) do not come back
        run.rate(i, {s1: 8})
    run.close_round(second["id"])
    attrition = run.results(second["id"])["attrition"]
    assert attrition["previous_round"] == 1
    assert (attrition["left"], attrition["joined"]) == (2, 0)
    assert attrition["by_group"]["nurses"] == {"before": 3, "left": 2, "now": 1}
    assert attrition["by_group"]["physicians"] == {"before": 3, "left": 0, "now": 3}
    (bias,) = attrition["bias"]
    assert (bias["left_n"], bias["stayed_n"]) == (2, 4)
    assert bias["left_median"] == 1.5
    assert bias["stayed_median"] == 8.5
    assert bias["median_gap"] == -7.0
    assert bias["flagged"] is True


def test_attrition_bias_lists_only_statements_still_undecided(
    client: TestClient, coordinator_token: str
) -> None:
    """s2 reached consensus in round 1 though those who later left disagreed: not listed."""
    run = start_study(client, coordinator_token, statements=2, panelists=8)
    s1, s2 = (s["id"] for s in run.statements)
    first = run.new_round()
    run.open_round(first["id"])
    round1 = {s1: [2, 9, 1, 8, 7, 9, 2, 8], s2: [1, 5, 8, 8, 9, 9, 9, 9]}
    for i in range(8):
        run.rate(i, {sid: values[i] for sid, values in round1.items()})
    run.close_round(first["id"])
    second = run.new_round()
    assert [s["id"] for s in second["statements"]] == [s1]  # s2 reached consensus
    run.open_round(second["id"])
    for i in range(2, 8):  # panelists 0 and 1 do not come back
        run.rate(i, {s1: 8})
    assert [b["statement_id"] for b in run.results(second["id"])["attrition"]["bias"]] == [s1]
    run.close_round(second["id"])
    results = run.results(second["id"])
    assert [b["statement_id"] for b in results["attrition"]["bias"]] == [s1]


def test_round_one_has_nothing_to_compare(client: TestClient, coordinator_token: str) -> None:
    run = start_study(client, coordinator_token, statements=2, panelists=3)
    round_ = run.new_round()
    run.open_round(round_["id"])
    run.rate(0, {run.statements[0]["id"]: 5})
    res = run.results(round_["id"])
    assert res["stability"]["previous_round"] is None
    assert res["stability"]["statements"] == []
    assert res["attrition"] == {
        "previous_round": None,
        "responded_before": 0,
        "responded_now": 0,
        "left": 0,
        "joined": 0,
        "by_group": {},
        "bias": [],
    }
    assert res["stability"]["kendall_w"] is None  # one rater cannot show concordance


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kendall_counted_in_the_database_equals_the_matrix_reference(
    client: TestClient, coordinator_token: str, seed: int
) -> None:
    import random

    rng = random.Random(seed)
    run = start_study(client, coordinator_token, statements=5, panelists=7)
    ids = [s["id"] for s in run.statements]
    round_ = run.new_round()
    run.open_round(round_["id"])
    answers: dict[int, dict[int, int | None]] = {}
    for i in range(7):
        answers[i] = {sid: rng.randint(1, 9) for sid in ids}
        skipped = rng.choice(ids[:2])  # the first two statements are not rated by everyone
        answers[i][skipped] = None
        run.rate(i, answers[i])
    res = run.results(round_["id"])
    complete = [sid for sid in ids if all(answers[i][sid] is not None for i in range(7))]
    matrix = [[v for sid in complete if (v := answers[i][sid]) is not None] for i in range(7)]
    kendall = res["stability"]["kendall_w"]
    assert kendall["items"] == len(complete)
    assert kendall["raters"] == 7
    assert abs(kendall["w"] - _w_reference(matrix)) < 1e-9
    reference_chi2 = sps.friedmanchisquare(*np.array(matrix).T).statistic
    assert abs(kendall["chi2"] - reference_chi2) < 1e-9


def test_closing_freezes_the_statistics_with_the_round(
    client: TestClient, coordinator_token: str, session: Session
) -> None:
    from sqlalchemy import select

    from app.models import Round

    run = start_study(client, coordinator_token, statements=2, panelists=3)
    round_ = run.new_round()
    run.open_round(round_["id"])
    for i in range(3):
        run.rate(i, {run.statements[0]["id"]: 3 + i, run.statements[1]["id"]: 7 - i})
    run.close_round(round_["id"])
    frozen = session.scalar(select(Round.statistics).where(Round.id == round_["id"]))
    assert frozen is not None, "kept just after the close, so results never drift"
    res = run.results(round_["id"])
    assert res["stability"]["kendall_w"] == frozen["kendall_w"]["tie_corrected"]
    assert res["attrition"]["previous_round"] is None
