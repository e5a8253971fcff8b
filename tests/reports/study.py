"""A two-round study with groups, abstentions, a revision, a withdrawal, evidence and comments
that a spreadsheet would run as formulas: what every export test reads back."""

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Panelist, Study, User
from app.services import panel
from tests.factories import StudyRun, coordinator, start_study

FORMULA = "=cmd|' /C calc'!A0"
HTML = "<script>alert('x')</script> <b>bold</b>"
COMMENTS = {  # (panelist index, statement index) -> comment, round 1
    (1, 1): FORMULA,
    (2, 1): HTML,
    (3, 2): "+SUM(1;2)",
    (4, 2): "@import",
    (5, 1): "-1+2",
}
ROUND_1: list[list[int | None]] = [  # per statement, per panelist; None = "unable to rate"
    [None, 8, 8, 9, 7, 8, 9, 8],
    [2, 5, 7, 8, 3, 9, 5, 6],
    [5, 5, 6, 4, 7, 8, 2, 9],
]
ROUND_2: list[list[int | None]] = [
    [6, 7, 8, 8, 5, 9, 7],
    [None, 6, 6, 4, 7, 8, 3],
]  # statements 2 and 3; P08 withdrew


@dataclass
class Built:
    run: StudyRun
    rounds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def study_id(self) -> int:
        return int(self.run.study["id"])


def _answer(run: StudyRun, index: int, answers: list[dict[str, Any]]) -> None:
    run.call("PUT", "/api/v1/ballot", headers=run.as_panelist(index), json={"ratings": answers})


def _rate(
    run: StudyRun,
    panelists: list[int],
    statements: list[int],
    table: list[list[int | None]],
    comments: dict[tuple[int, int], str],
) -> None:
    """Each panelist answers each statement: table[statement][panelist]; None abstains."""
    for column, p in enumerate(panelists):
        answers = []
        for s, (row, sid) in enumerate(zip(table, statements, strict=True)):
            answer: dict[str, Any] = {"statement_id": sid}
            answer |= {"abstain": True} if row[column] is None else {"value": row[column]}
            if (p, s) in comments:
                answer["comment"] = comments[(p, s)]
            answers.append(answer)
        _answer(run, p, answers)


def two_rounds(
    client: TestClient, token: str, session: Session, actor: User, *, extra: int = 0
) -> Built:
    """Round 1 (3 statements, 8 + extra panelists in 2 groups), a revision, P08 withdraws,
    round 2 (the 2 statements without consensus). Extra panelists rate 8 on S01, else 6."""
    run = start_study(
        client, token, statements=3, panelists=8 + extra, groups=["clinicians", "patients"]
    )
    built = Built(run)
    ids = [s["id"] for s in run.statements]
    source = {"citation": "Smith 2019, J Pain Res", "design": "rct", "pedro": 7}
    run.call(
        "POST",
        f"/api/v1/studies/{built.study_id}/sources",
        201,
        json={**source, "statement_ids": ids[:1]},
    )
    first = run.new_round()
    run.open_round(first["id"])
    table = [row + [8 if s == 0 else 6] * extra for s, row in enumerate(ROUND_1)]
    _rate(run, [*range(8 + extra)], ids, table, COMMENTS)
    _answer(run, 7, [{"statement_id": ids[2], "comment": "Only a comment"}])  # no value
    run.close_round(first["id"])
    run.call(
        "PUT",
        f"/api/v1/statements/{ids[1]}",
        json={"text": "Statement number 2, reworded", "rationale": "Clearer wording"},
    )
    gone = session.query(Panelist).filter_by(study_id=built.study_id, code="P08").one()
    study = session.get_one(Study, built.study_id)
    panel.withdraw(session, actor=actor, study=study, panelist=gone)
    session.commit()
    second = run.new_round()
    run.open_round(second["id"])
    raters = [*range(7), *range(8, 8 + extra)]
    table = [row + [6] * extra for row in ROUND_2]
    _rate(run, raters, ids[1:], table, {(2, 0): "Still unsure"})
    run.close_round(second["id"])
    built.rounds = [first, second]
    return built


def two_rounds_by_a_coordinator(client: TestClient, session: Session) -> Built:
    """The export tests' study, built by coord@example.org: what `build_once` keeps."""
    user, token = coordinator(session)
    return two_rounds(client, token, session, user)
