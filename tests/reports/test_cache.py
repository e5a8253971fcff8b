"""A copy of a report or workbook is kept exactly as long as nothing it shows has changed."""

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from app.models import (
    Base,
    EvidenceLink,
    EvidenceSource,
    FinalRecommendation,
    LevelOverride,
    Panelist,
    ResultSnapshot,
    Round,
    RoundItem,
    Statement,
    StatementVersion,
    Study,
    utcnow,
)
from app.reports import cache
from app.services import audit, ballots, panel
from tests.factories import StudyRun, start_study


@dataclass
class Open:
    """Round 1 closed with evidence for S01; round 2 open, panelist 0 has answered it."""

    run: StudyRun
    round_ids: list[int]

    @property
    def study_id(self) -> int:
        return int(self.run.study["id"])

    def take(self, path: str) -> bytes:
        response = self.run.client.get(
            f"/api/v1/studies/{self.study_id}/{path}", headers=self.run.auth
        )
        assert response.status_code == 200, response.text[:300]
        return response.content


@pytest.fixture
def in_second_round(client: TestClient, coordinator_token: str) -> Open:
    run = start_study(client, coordinator_token, statements=3, panelists=4, groups=["a", "b"])
    ids = [s["id"] for s in run.statements]
    run.call(
        "POST",
        f"/api/v1/studies/{run.study['id']}/sources",
        201,
        json={"citation": "Smith 2019", "design": "rct", "pedro": 7, "statement_ids": ids[:1]},
    )
    first = run.new_round()["id"]
    run.open_round(first)
    for panelist in range(4):
        run.rate(panelist, {sid: 2 + (panelist + k) % 7 for k, sid in enumerate(ids)})
    run.close_round(first)
    second = run.new_round()["id"]
    run.open_round(second)
    run.rate(0, {sid: 5 for sid in ids})
    return Open(run, [first, second])


def _renders(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "delphi.renders"]


def test_every_table_is_shown_in_a_copys_state_or_named_as_never_shown() -> None:
    """A table added later must be classified before any copy can be trusted to notice it."""
    shown, hidden = set(cache.SHOWN_TABLES), set(cache.NOT_SHOWN)
    assert not shown & hidden
    assert shown | hidden == set(Base.metadata.tables), set(Base.metadata.tables) - shown - hidden
    assert {case.table for case in CASES if case.kinds} == shown


@dataclass(frozen=True)
class Case:
    table: str
    kinds: frozenset[str]  # the copies whose state it changes
    change: Callable[[Session, Open], object]


Model = TypeVar("Model", bound=Base)
BOTH = frozenset(cache.KINDS)
WORKBOOK = frozenset({"export.xlsx"})


def _first(session: Session, model: type[Model], *where: ColumnElement[bool]) -> Model:
    return session.scalars(select(model).where(*where).limit(1)).one()


def _study(session: Session, s: Open) -> Study:
    return session.get_one(Study, s.study_id)


def _statement(session: Session, s: Open) -> Statement:
    return session.scalars(select(Statement).where(Statement.study_id == s.study_id)).first()  # type: ignore[return-value]


def _save_again(session: Session, s: Open) -> None:
    """Panelist 0 changes one answer of the open round, through the ballot service."""
    me = panel.panelist_for_token(session, token=s.run.panelists[0]["token"])
    entry = ballots.RatingInput(statement_id=s.run.statements[0]["id"], value=9)
    ballots.save_ballot(session, panelist=me, entries=[entry])


CASES = [
    Case("studies", BOTH, lambda db, s: setattr(_study(db, s), "instructions", "Read slowly.")),
    Case("statements", BOTH, lambda db, s: setattr(_statement(db, s), "topic", "sleep")),
    Case(
        "statement_versions",
        BOTH,
        lambda db, s: setattr(
            _first(db, StatementVersion, StatementVersion.statement_id == _statement(db, s).id),
            "translations",
            {"zh-Hans": "运动"},
        ),
    ),
    Case(
        "rounds",
        BOTH,
        lambda db, s: setattr(
            db.get_one(Round, s.round_ids[1]), "closes_at", utcnow() + timedelta(days=3)
        ),
    ),
    Case(
        "round_items",
        BOTH,
        lambda db, s: setattr(
            _first(db, RoundItem, RoundItem.round_id == s.round_ids[1]), "position", 99
        ),
    ),
    Case(
        "result_snapshots",
        BOTH,
        lambda db, s: setattr(
            _first(db, ResultSnapshot, ResultSnapshot.round_id == s.round_ids[0]),
            "classification",
            "consensus_against",
        ),
    ),
    Case(
        "panelists",
        BOTH,
        lambda db, s: setattr(_first(db, Panelist, Panelist.study_id == s.study_id), "group", "b"),
    ),
    Case(
        "evidence_sources",
        BOTH,
        lambda db, s: setattr(
            _first(db, EvidenceSource, EvidenceSource.study_id == s.study_id), "pedro", 4
        ),
    ),
    Case("evidence_links", BOTH, lambda db, _: db.execute(delete(EvidenceLink))),
    Case(
        "level_overrides",
        BOTH,
        lambda db, s: db.add(
            LevelOverride(statement_id=_statement(db, s).id, code="5", justification="Too few")
        ),
    ),
    Case(
        "final_recommendations",
        BOTH,
        lambda db, s: db.add(
            FinalRecommendation(
                study_id=s.study_id,
                statement_id=_statement(db, s).id,
                content={"grade": "A"},
                content_hash="0" * 64,
            )
        ),
    ),
    Case("ratings", WORKBOOK, _save_again),
    Case(
        "audit_log",
        WORKBOOK,
        lambda db, s: audit.record(db, actor=None, action="mail.reminders", study_id=s.study_id),
    ),
    # Taking a copy, and who a panelist is, are in no copy: neither retires one.
    Case(
        "audit_log",
        frozenset(),
        lambda db, s: audit.record(db, actor=None, action="export.report", study_id=s.study_id),
    ),
    Case(
        "panelists",
        frozenset(),
        lambda db, s: setattr(
            _first(db, Panelist, Panelist.study_id == s.study_id), "name", "Someone Else"
        ),
    ),
]


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c.table}-{'+'.join(sorted(c.kinds)) or 'none'}" for c in CASES]
)
def test_a_change_to_what_a_copy_shows_changes_its_state_and_nothing_else_does(
    case: Case, in_second_round: Open, session: Session
) -> None:
    def states() -> dict[str, str]:
        with Session(session.get_bind()) as reading:
            return {
                kind: cache.state_of(reading, study_id=in_second_round.study_id, kind=kind)
                for kind in cache.KINDS
            }

    before = states()
    assert states() == before, "the state is the same when nothing changed"
    case.change(session, in_second_round)
    session.commit()
    after = states()
    changed = {kind for kind in cache.KINDS if after[kind] != before[kind]}
    assert changed == case.kinds


def test_a_report_is_made_once_then_again_when_its_study_changes(
    in_second_round: Open, caplog: pytest.LogCaptureFixture
) -> None:
    """The second taker gets the same page from the copy; a new source makes a new one."""
    caplog.set_level(logging.INFO, logger="delphi.renders")
    first = in_second_round.take("report.html")
    assert in_second_round.take("report.html") == first
    assert len(_renders(caplog)) == 1

    in_second_round.run.call(
        "POST",
        f"/api/v1/studies/{in_second_round.study_id}/sources",
        201,
        json={"citation": "Jones 2021, Pain", "design": "cohort"},
    )
    again = in_second_round.take("report.html")
    assert b"Jones 2021, Pain" in again
    assert b"Jones 2021, Pain" not in first
    assert len(_renders(caplog)) == 2


def test_panelists_saving_in_an_open_round_keep_the_reports_copy_and_renew_the_workbook(
    in_second_round: Open, caplog: pytest.LogCaptureFixture
) -> None:
    """The report shows closed rounds only; the workbook lists the open round's ratings too."""
    caplog.set_level(logging.INFO, logger="delphi.renders")
    pdf = in_second_round.take("report.pdf")
    workbook = in_second_round.take("export.xlsx")
    assert in_second_round.take("export.xlsx") == workbook, "taking it is no change"
    assert len(_renders(caplog)) == 2

    statement = in_second_round.run.statements[0]["id"]
    in_second_round.run.rate(0, {statement: 9})

    assert in_second_round.take("report.pdf") == pdf
    renewed = openpyxl.load_workbook(io.BytesIO(in_second_round.take("export.xlsx")))
    sheet = renewed["Ratings R2"]
    header = [cell.value for cell in sheet[1]]
    rows = [dict(zip(header, (c.value for c in row), strict=True)) for row in sheet.iter_rows(2)]
    mine = [r for r in rows if r["panelist"] == "P01" and r["statement_id"] == statement]
    assert [r["value"] for r in mine] == [9]
    assert [m.split(" of ")[0] for m in _renders(caplog)] == [
        "made report.pdf",
        "made export.xlsx",
        "made export.xlsx",
    ]
