"""No secret or identity where it does not belong (issue #8, point 6).

A whole study is driven as its people would: panelists (with names and e-mail addresses) open
their links, rate, comment and switch language over two rounds; the coordinator closes, exports
and finalizes. Then every panelist-facing answer, every redirect, the default exports, the
report, the log records and the database itself are searched for names, e-mail addresses,
tokens, token hashes and passwords.
"""

import io
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from app.main import create_app
from app.models import OutboxMessage
from app.security import token_hash
from app.settings import get_settings
from tests.dbstate import dump
from tests.factories import StudyRun, coordinator, start_study
from tests.security.world import csrf_of

PANEL = [
    ("Ottoline Quarrington", "ottoline.q@hospital.example.org", "physiotherapists"),
    ("Benedikt Vasquez-Ilunga", "b.vasquez@clinic.example.org", "physiotherapists"),
    ("Saoirse Thackeray", "saoirse@uni.example.org", "physiotherapists"),
    ("Yuki Oyelaran", "yuki.oyelaran@example.org", "physiatrists"),
    ("Marguerite Abernathy-Sokolov", "marguerite@rehab.example.org", "physiatrists"),
    ("欧阳静怡", "ouyang@example.cn", "physiatrists"),
]
PASSWORD = "correct horse battery"  # tests.factories.coordinator's


@dataclass
class Seen:
    """Every answer a panelist's browser or script received, and every redirect anyone got."""

    panelist_facing: list[httpx.Response] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)


def recording(seen: Seen, *, panelist_facing: bool) -> TestClient:
    web = TestClient(create_app(), follow_redirects=False)

    def keep(response: httpx.Response) -> None:
        response.read()
        if panelist_facing:
            seen.panelist_facing.append(response)
        if "location" in response.headers:
            seen.redirects.append(response.headers["location"])

    web.event_hooks = {"request": [], "response": [keep]}
    return web


def text_of(response: httpx.Response) -> str:
    return response.content.decode("utf-8", "replace")


@dataclass
class Study:
    run: StudyRun
    coordinator_token: str
    seen: Seen
    exports: dict[str, bytes]
    logs: list[logging.LogRecord]

    def identities(self) -> list[str]:
        return [name for name, _, _ in PANEL] + [email for _, email, _ in PANEL]

    def secrets(self) -> list[str]:
        tokens = [p["token"] for p in self.run.panelists]
        return [
            *tokens,
            *[token_hash(t) for t in tokens],
            self.coordinator_token,
            token_hash(self.coordinator_token),
            PASSWORD,
            get_settings().secret_key,
        ]

    def forbidden(self) -> list[str]:
        return self.identities() + self.secrets()


def panelist_session(seen: Seen, run: StudyRun, index: int) -> tuple[TestClient, str]:
    web = recording(seen, panelist_facing=True)
    opened = web.get(f"/p/{run.panelists[index]['token']}")
    assert opened.status_code == 303
    return web, csrf_of(web.get("/ballot").text)


def web_rating(web: TestClient, csrf: str, run: StudyRun, round_id: int, value: int) -> None:
    form = {"csrf_token": csrf, "round_id": str(round_id), "action": "submit"}
    for statement in run.statements:
        form[f"rating-{statement['id']}"] = str(value)
        form[f"comment-{statement['id']}"] = "Supervised sessions helped my patients."
    saved = web.post("/ballot", data=form)
    assert saved.status_code == 303, saved.text
    web.get("/ballot")  # the page after the redirect, with its one-time message


class Collector(logging.Handler):
    """Keeps every record the root logger passes on, DEBUG included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def debug_logs() -> Iterator[Collector]:
    """The app configured to log at DEBUG (create_app sets the root level from the settings)."""
    before = os.environ.get("DELPHI_LOG_LEVEL")
    os.environ["DELPHI_LOG_LEVEL"] = "DEBUG"
    get_settings.cache_clear()
    collector = Collector()
    logging.getLogger().addHandler(collector)
    try:
        yield collector
    finally:
        logging.getLogger().removeHandler(collector)
        if before is None:
            os.environ.pop("DELPHI_LOG_LEVEL", None)
        else:
            os.environ["DELPHI_LOG_LEVEL"] = before
        get_settings.cache_clear()
        logging.getLogger().setLevel(logging.WARNING)


@pytest.fixture(scope="module")
def study(module_engine: Engine, debug_logs: Collector) -> Study:
    seen = Seen()
    with sessionmaker(module_engine)() as session:
        _, token = coordinator(session)
    lead = recording(seen, panelist_facing=False)
    run = start_study(
        lead,
        token,
        statements=0,
        feedback_by_group=True,
        languages=["en", "zh-Hans"],
    )
    run.panelists = run.call(
        "POST",
        f"/api/v1/studies/{run.study['id']}/panelists",
        201,
        json=[{"name": n, "email": e, "group": g} for n, e, g in PANEL],
    )
    run.statements = run.call(
        "POST",
        f"/api/v1/studies/{run.study['id']}/statements",
        201,
        json=[{"text": f"Exercise helps in condition {i}"} for i in (1, 2, 3)],
    )
    for round_number, values in ((1, (2, 9, 5, 8, 3, 7)), (2, (7, 8, 7, 8, 7, 9))):
        current = run.new_round()
        run.open_round(current["id"])
        for index, value in enumerate(values):
            if index % 2:  # half by the web form, half by the JSON API
                web, csrf = panelist_session(seen, run, index)
                if index == 5:
                    switched = web.post(
                        "/language", data={"csrf_token": csrf, "language": "zh-Hans"}
                    )
                    assert switched.status_code == 303
                    web.get("/ballot")
                web_rating(web, csrf, run, current["id"], value)
            else:
                api = recording(seen, panelist_facing=True)
                api.get("/api/v1/ballot", headers=run.as_panelist(index))
                ratings = [
                    {"statement_id": s["id"], "value": value, "comment": "Short programmes only."}
                    for s in run.statements
                ]
                saved = api.put(
                    "/api/v1/ballot",
                    headers=run.as_panelist(index),
                    json={"ratings": ratings, "submit": True},
                )
                assert saved.status_code == 200, saved.text
        run.close_round(current["id"])
        assert round_number in (1, 2)
    finalized = lead.post(f"/api/v1/studies/{run.study['id']}/finalize", headers=run.auth)
    assert finalized.status_code == 200, finalized.text
    for index in range(len(PANEL)):  # the final recommendations, as each panelist sees them
        panelist_session(seen, run, index)
    stranger = recording(seen, panelist_facing=True)
    for path in ("/p/dp_not-a-real-link", "/ballot", "/api/v1/ballot"):
        stranger.get(path)
    stranger.post("/ballot", data={"csrf_token": "forged"})
    exports = {}
    for kind in ("csv", "xlsx", "json"):
        response = lead.get(f"/api/v1/studies/{run.study['id']}/export.{kind}", headers=run.auth)
        assert response.status_code == 200
        exports[kind] = response.content
    console = recording(seen, panelist_facing=False)  # redirects after console forms
    login = console.get("/login")
    signed = console.post(
        "/login",
        data={
            "csrf_token": csrf_of(login.text),
            "email": "coord@example.org",
            "password": PASSWORD,
        },
    )
    assert signed.status_code == 303
    study_page = f"/console/studies/{run.study['id']}"
    csrf = csrf_of(console.get(study_page).text)
    for action in ("link", "withdraw"):
        answer = console.post(
            f"/console/panelists/{run.panelists[-1]['id']}/{action}", data={"csrf_token": csrf}
        )
        assert answer.status_code in (303, 409), answer.text
    console.post("/logout", data={"csrf_token": csrf})
    report = lead.get(f"/api/v1/studies/{run.study['id']}/report.html", headers=run.auth)
    assert report.status_code == 200
    exports["report.html"] = report.content
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG
    return Study(run, token, seen, exports, list(debug_logs.records))


def found_in(text: str, needles: list[str]) -> list[str]:
    return [needle for needle in needles if needle in text]


def test_panelist_facing_answers_hold_no_identity_or_secret(study: Study) -> None:
    pages = study.seen.panelist_facing
    assert len(pages) > 40
    kinds = {r.headers.get("content-type", "").split(";")[0] for r in pages}
    assert {"text/html", "application/json"} <= kinds
    assert any("Supervised sessions helped" in text_of(r) for r in pages), "comments are shown"
    assert any('<html lang="zh-Hans"' in text_of(r) for r in pages), "and pages in Chinese"
    for response in pages:
        leaked = found_in(text_of(response), study.forbidden())
        assert not leaked, f"{response.request.method} {response.request.url.path}: {leaked}"


def test_no_redirect_carries_a_token_or_identity(study: Study) -> None:
    assert len(study.seen.redirects) > 20
    assert {loc.split("?")[0] for loc in study.seen.redirects} >= {"/ballot", "/console", "/login"}
    for location in study.seen.redirects:
        assert not found_in(location, study.forbidden()), location
        assert "/p/" not in location
        assert "dp_" not in location
        assert "dc_" not in location


def test_csv_and_json_exports_name_panelists_by_code_only(study: Study) -> None:
    for kind in ("csv", "json"):
        text = study.exports[kind].decode("utf-8")
        assert "P01" in text
        assert not found_in(text, study.forbidden()), kind
    assert json.loads(study.exports["json"]), "a whole JSON document"


def test_every_cell_of_the_workbook_names_panelists_by_code_only(study: Study) -> None:
    workbook = load_workbook(io.BytesIO(study.exports["xlsx"]), read_only=True)
    cells: list[str] = []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows(values_only=True):
            cells += [str(value) for value in row if value is not None]
    assert len(cells) > 100
    assert "P01" in cells
    text = "\n".join(cells)
    assert not found_in(text, study.forbidden())


def test_the_consensus_report_names_no_panelist(study: Study) -> None:
    html = study.exports["report.html"].decode("utf-8")
    assert "Exercise helps in condition 1" in html
    assert not found_in(html, study.forbidden())


def _record_text(record: logging.LogRecord) -> str:
    """Everything a handler could write: the message, its arguments and any extra fields."""
    parts = [record.getMessage(), repr(record.args)]
    parts += [repr(v) for k, v in vars(record).items() if k not in ("msg", "args")]
    return "\n".join(parts)


# The test's own HTTP client logs each request it sends (its URL holds /p/<token>): that is this
# test's side of the wire, not the server's.
CLIENT_SIDE = ("httpx", "httpcore")


def test_log_records_hold_no_token_or_password(study: Study) -> None:
    server_side = [r for r in study.logs if not r.name.startswith(CLIENT_SIDE)]
    assert any(r.name == "delphi.access" for r in server_side), "requests are logged"
    assert any("/p/" in r.getMessage() for r in server_side), "link visits are logged"
    for record in server_side:
        leaked = found_in(_record_text(record), study.secrets())
        assert not leaked, f"{record.name}: {record.getMessage()}"


def _cells(table: list[tuple[Any, ...]]) -> str:
    return "\n".join(repr(row) for row in table)


def test_the_database_keeps_tokens_only_as_keyed_hashes(
    study: Study, module_engine: Engine
) -> None:
    """Held e-mails carry their link until sent (README); nothing else holds a raw token."""
    tables = dump(module_engine)
    assert tables["panelists"], "the study is there"
    outbox = tables.pop(OutboxMessage.__tablename__)
    tokens = [p["token"] for p in study.run.panelists] + [study.coordinator_token]
    for name, rows in tables.items():
        assert not found_in(_cells(rows), [*tokens, PASSWORD]), name
    assert not found_in(_cells(outbox), [study.coordinator_token, PASSWORD])
