"""A panelist's group feedback: no rating can be worked out by subtracting the charts shown."""

import json
from collections import Counter
from itertools import combinations, count
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from app.consensus.disclosure import GROUP_FEEDBACK_MIN
from app.models import User
from app.services import accounts, ballots, panel, rounds, studies
from tests.services.builders import statements_service_add

GROUPS = ("patient representatives", "physiotherapists", "researchers")
STATEMENTS = 3
# Per panelist and statement: not rated (None), "unable to rate", or a rating 1..9.
ANSWERS = st.sampled_from([None, "abstain", *range(1, 10)])
studies_made = count(1)


@pytest.fixture
def lead(session: Session) -> User:
    return accounts.create_user(session, email="lead@example.org", password="long enough")


@st.composite
def panels(draw: st.DrawFn) -> tuple[list[str | None], list[list[Any]]]:
    """Members' groups (None: no group), then each statement's answers in panel order."""
    members: list[str | None] = [g for g in GROUPS for _ in range(draw(st.integers(0, 8)))]
    members += [None] * draw(st.integers(0, 8))
    if not members:
        members = [None]
    column = st.lists(ANSWERS, min_size=len(members), max_size=len(members))
    return members, [draw(column) for _ in range(STATEMENTS)]


def _feedback_seen(
    session: Session, lead: User, members: list[str | None], answers: list[list[Any]]
) -> list[dict[str, Any]]:
    """Round 1 rated and closed, round 2 open: the feedback the first panelist's ballot carries."""
    study = studies.create_study(
        session,
        actor=lead,
        title=f"Study {next(studies_made)}",
        scale_min=1,
        scale_max=9,
        scale_labels={},
        rule={"rule": "comet_70_15"},
        groups=list(GROUPS),
        feedback_by_group=True,
    )
    made = statements_service_add(session, lead, study, STATEMENTS)
    invited = panel.add_panelists(
        session,
        actor=lead,
        study=study,
        items=[panel.NewPanelist(name=f"P{i}", group=g) for i, g in enumerate(members)],
    )
    first = rounds.create_round(session, actor=lead, study=study)
    rounds.open_round(session, actor=lead, study=study, round_=first)
    for index, invitation in enumerate(invited):
        entries = [
            ballots.RatingInput(statement_id=s.id, abstain=True)
            if column[index] == "abstain"
            else ballots.RatingInput(statement_id=s.id, value=column[index])
            for s, column in zip(made, answers, strict=True)
            if column[index] is not None
        ]
        if entries:
            ballots.save_ballot(session, panelist=invitation.panelist, entries=entries)
    rounds.close_round(session, round_id=first.id, actor=lead)
    statements_service_add(session, lead, study, 1)  # round 2 opens even if all reached consensus
    second = rounds.create_round(session, actor=lead, study=study)
    rounds.open_round(session, actor=lead, study=study, round_=second)
    view = ballots.get_ballot(session, panelist=invited[0].panelist)
    return [item.feedback for item in view.items if item.feedback]


def _ratings_left_by_subtraction(feedback: dict[str, Any]) -> list[int]:
    """How many ratings each 'whole panel minus some groups shown' histogram holds."""
    overall = Counter(feedback["histogram"])
    shown = list(feedback["groups"].values())
    left = []
    for size in range(1, len(shown) + 1):
        for subset in combinations(shown, size):
            rest = overall.copy()
            for group in subset:
                rest.subtract(group["histogram"])
            assert min(rest.values()) >= 0
            left.append(sum(rest.values()))
    return left


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(panel_and_answers=panels())
@example(  # issue #13: 3 physiotherapists, 3 researchers and 1 patient representative
    panel_and_answers=(
        ["physiotherapists"] * 3 + ["researchers"] * 3 + ["patient representatives"],
        [[7, 8, 5, 6, 6, 8, 9], [2, 3, 4, 5, 6, 7, 8], [9, 1, 9, 1, 9, 1, 5]],
    )
)
def test_no_rating_can_be_worked_out_from_the_group_charts_a_panelist_sees(
    session: Session, lead: User, panel_and_answers: tuple[list[str | None], list[list[Any]]]
) -> None:
    members, answers = panel_and_answers
    for feedback in _feedback_seen(session, lead, members, answers):
        shown = feedback["groups"]
        assert all(g["n"] >= GROUP_FEEDBACK_MIN for g in shown.values())
        assert all(sum(g["histogram"].values()) == g["n"] for g in shown.values())
        too_few = [n for n in _ratings_left_by_subtraction(feedback) if 0 < n < GROUP_FEEDBACK_MIN]
        assert not too_few, (shown.keys(), feedback["histogram"])
        on_the_panel = {g for g in members if g is not None}
        assert feedback["groups_withheld"] == (set(shown) != on_the_panel)
        said = json.dumps(feedback, ensure_ascii=False)
        assert not [name for name in GROUPS if name not in shown and name in said]
