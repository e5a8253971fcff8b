"""The consensus report says what the results API says, in HTML and in the PDF, in both languages,
and shows what panelists typed as inert text."""

import io
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from pypdf.generic import DictionaryObject
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.factories import StudyRun, coordinator, start_study
from tests.prebuilt import Prebuilt, build_once, restored

SCRIPT = "<script>alert('x')</script>"
FORMULA = "=cmd|' /C calc'!A0"
ZH_TEXT = "对于神经病理性疼痛，推荐规律运动。"


@dataclass
class Finished:
    run: StudyRun
    rounds: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def study_id(self) -> int:
        return int(self.run.study["id"])

    def report(self, kind: str = "html", lang: str | None = None, expect: int = 200) -> Any:
        query = f"?lang={lang}" if lang else ""
        response = self.run.client.get(
            f"/api/v1/studies/{self.study_id}/report.{kind}{query}", headers=self.run.auth
        )
        assert response.status_code == expect, response.text[:500]
        return response


def value_for(panelist: int, statement: int) -> int:
    """Statement 0 gathers agreement; the others spread, so they go to round 2."""
    if statement == 0:
        return 8 + panelist % 2
    return 1 + (panelist * 3 + statement * 2) % 9


def finished_study(
    client: TestClient,
    token: str,
    *,
    statements: int = 3,
    panelists: int = 6,
    comments: dict[tuple[int, int], str] | None = None,
    finalize: bool = True,
) -> Finished:
    """Two closed rounds in two groups, an abstention, comments, a revision with its rationale,
    one evidence source, Chinese wording; finalized unless told otherwise."""
    comments = comments or {}
    run = start_study(
        client,
        token,
        statements=0,
        groups=None,
        languages=["en", "zh-Hans"],
    )
    sid = run.study["id"]
    run.statements = run.call(
        "POST",
        f"/api/v1/studies/{sid}/statements",
        201,
        json=[
            {
                "text": f"Statement number {i}",
                "key": f"K{i:02d}",
                "translations": {"zh-Hans": f"{ZH_TEXT}（{i}）"},
            }
            for i in range(1, statements + 1)
        ],
    )
    run.panelists = run.call(
        "POST",
        f"/api/v1/studies/{sid}/panelists",
        201,
        json=[
            {
                "name": f"Secret Name {i}",
                "email": f"secret{i}@example.org",
                "group": ("clinicians", "patients")[i % 2],
            }
            for i in range(panelists)
        ],
    )
    ids = [s["id"] for s in run.statements]
    run.call(
        "POST",
        f"/api/v1/studies/{sid}/sources",
        201,
        json={
            "citation": "Smith 2019, J Pain Res",
            "design": "rct",
            "pedro": 7,
            "statement_ids": ids[:1],
        },
    )
    finished = Finished(run)
    for number in (1, 2):
        round_ = run.open_round(run.new_round()["id"])  # with the wording it froze
        on_ballot = [s["id"] for s in round_["statements"]]
        for p in range(panelists):
            answers = []
            for sid_ in on_ballot:
                s = ids.index(sid_)
                answer: dict[str, Any] = {"statement_id": sid_}
                if p == 0 and s == 1 and number == 1:
                    answer["abstain"] = True
                else:
                    answer["value"] = value_for(p + number - 1, s)
                if (p, s) in comments and number == 1:
                    answer["comment"] = comments[(p, s)]
                answers.append(answer)
            run.call("PUT", "/api/v1/ballot", headers=run.as_panelist(p), json={"ratings": answers})
        run.close_round(round_["id"])
        finished.rounds.append(round_)
        finished.results.append(run.results(round_["id"]))
        if number == 1:
            pending = [
                s["statement_id"]
                for s in finished.results[0]["statements"]
                if s["classification"] == "no_consensus"
            ]
            run.call(
                "PUT",
                f"/api/v1/statements/{pending[0]}",
                json={"text": "Statement reworded", "rationale": "Clearer after round 1"},
            )
    if finalize:
        run.call("POST", f"/api/v1/studies/{sid}/finalize")
    return finished


class Tables(HTMLParser):
    """Cell texts of every table row with an id, and the text of every element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.ids: set[str] = set()
        self._row: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs).get("id")
        if found:
            self.ids.add(found)
        if tag == "tr" and found:
            self._row = found
            self.rows[found] = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self.rows[self._row].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Tables:
    tables = Tables()
    tables.feed(html)
    return tables


def f2(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def f1(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def expected_row(result: dict[str, Any], version: int) -> list[str]:
    """A results-table row as the report must print it: the API's figures, rounded for reading."""
    outcome = result["classification"].replace("_", " ")
    return [
        f"{result['key']} v{version}",
        str(result["n"]),
        str(result["abstained"]),
        f2(result["mean"]),
        f2(result["sd"]),
        f2(result["median"]),
        f2(result["q1"]),
        f2(result["q3"]),
        f2(result["iqr"]),
        f1(result["pct_agree"]),
        f1(result["pct_disagree"]),
        outcome,
    ]


def versions_of(finished: Finished) -> dict[int, int]:
    return {s["version_id"]: s["version"] for r in finished.rounds for s in r["statements"]}


def _commented_study(client: TestClient, session: Session) -> Finished:
    _, token = coordinator(session)
    return finished_study(client, token, comments={(1, 0): SCRIPT, (2, 1): FORMULA, (3, 0): "Fine"})


@pytest.fixture(scope="session")
def finished_once(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Prebuilt[Finished]:
    folder = tmp_path_factory.mktemp("report")
    return build_once(database_url, folder, _commented_study)


@pytest.fixture
def finished(finished_once: Prebuilt[Finished], engine: Engine, client: TestClient) -> Finished:
    """The finalized two-round study with comments, restored into this test's database."""
    return restored(finished_once, engine, client)


def test_every_number_in_the_html_report_equals_the_results_api(finished: Finished) -> None:
    tables = parse(finished.report().text)
    versions = versions_of(finished)
    for number, result in enumerate(finished.results, start=1):
        for row in result["statements"]:
            shown = tables.rows[f"r{number}-{row['statement_id']}"]
            assert shown == expected_row(row, versions[row["version_id"]])
        total = tables.rows[f"participants-r{number}"]
        assert total[2:4] == [str(result["invited"]), str(result["responded"])]
        assert total[4] == f1(100 * result["response_rate"])
        classes = [s["classification"] for s in result["statements"]]
        flow = tables.rows[f"flow-r{number}"]
        assert flow[1:5] == [
            str(len(classes)),
            str(classes.count("consensus_for")),
            str(classes.count("consensus_against")),
            str(classes.count("no_consensus")),
        ]
    first, second = (
        {row["statement_id"]: row for row in r["statements"]} for r in finished.results
    )
    pending = {sid for sid, row in first.items() if row["classification"] == "no_consensus"}
    revised = {
        sid
        for sid in pending & second.keys()
        if second[sid]["version_id"] != first[sid]["version_id"]
    }
    assert tables.rows["flow-r1"][5:9] == [
        str(len(pending & second.keys())),
        str(len(revised)),
        str(len(pending - second.keys())),
        "0",
    ]
    assert len(revised) == 1, "the study revised one statement between the rounds"


FIGURES: list[tuple[str, str, Callable[[Any], str]]] = [
    ("n", "n", str),
    ("Abstained", "abstained", str),
    ("Mean", "mean", f2),
    ("SD", "sd", f2),
    ("Median", "median", f2),
    ("Q1 (P25)", "q1", f2),
    ("Q3 (P75)", "q3", f2),
    ("IQR", "iqr", f2),
    ("P30", "p30", f2),
    ("P70", "p70", f2),
    ("Agree %", "pct_agree", f1),
    ("Disagree %", "pct_disagree", f1),
    ("CV", "cv", f2),
]


def test_the_cover_summarises_how_the_statements_ended_as_the_api_says(finished: Finished) -> None:
    html = finished.report().text
    last: dict[int, str] = {}
    for result in finished.results:
        last |= {row["statement_id"]: row["classification"] for row in result["statements"]}
    ended = list(last.values())
    found = re.search(r'id="summary">([^<]*)<', html)
    assert found is not None
    summary = found.group(1)
    assert summary == (
        f"Panel of 6; 2 closed rounds. Final outcome of {len(ended)} statements: consensus for "
        f"{ended.count('consensus_for')}, consensus against {ended.count('consensus_against')}, "
        f"no consensus {ended.count('no_consensus')}, not rated 0."
    )


def test_statement_blocks_show_every_figure_of_every_round_as_the_api_does(
    finished: Finished,
) -> None:
    html = finished.report().text
    per_statement: dict[int, list[dict[str, Any]]] = {}
    for result in finished.results:
        for row in result["statements"]:
            per_statement.setdefault(row["statement_id"], []).append(row)
    for statement_id, rows in per_statement.items():
        table = html.split(f'id="figures-{statement_id}"', 1)[1].split("</table>", 1)[0]
        for name, key, shown_as in FIGURES:
            cells = re.search(rf"<tr><th>{re.escape(name)}</th>(.*?)</tr>", table, re.S)
            assert cells, (statement_id, name)
            shown = re.findall(r'<td class="n">([^<]*)</td>', cells.group(1))
            assert shown == [shown_as(row[key]) for row in rows], (statement_id, name)
    tables = parse(html)
    last_rated = {
        row["statement_id"]: row for result in finished.results for row in result["statements"]
    }
    for statement_id, row in last_rated.items():
        assert tables.rows[f"final-{statement_id}"][3] == f1(row["pct_agree"])


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def test_every_number_in_the_pdf_report_equals_the_results_api(finished: Finished) -> None:
    response = finished.report("pdf")
    assert response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content)
    versions = versions_of(finished)
    for number, result in enumerate(finished.results, start=1):
        header = (
            f"Round {number}: {result['responded']} of {result['invited']} panelists responded "
            f"({f1(100 * result['response_rate'])} %)"
        )
        assert header in text
        section = text.split(header, 1)[1].split("Round", 1)[0]
        for row in result["statements"]:
            assert " ".join(expected_row(row, versions[row["version_id"]])) in section


def test_the_report_names_no_panelist(finished: Finished) -> None:
    html = finished.report().text
    text = pdf_text(finished.report("pdf").content)
    for document in (html, text):
        assert "Delphi consensus report" in document
        assert "Secret Name" not in document
        assert "secret0@example.org" not in document
        assert "@example.org" not in document


def test_comments_with_markup_or_spreadsheet_formulas_come_out_as_inert_text(
    finished: Finished,
) -> None:
    html = finished.report().text
    assert "<script" not in html.lower(), "no script element, whatever a panelist typed"
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "=cmd|&#39; /C calc&#39;!A0" in html
    text = pdf_text(finished.report("pdf").content)
    assert "<script>alert('x')</script>" in text, "shown as the characters typed"
    assert "=cmd|' /C calc'!A0" in text


def cjk_font_installed() -> bool:
    if not shutil.which("fc-list"):
        return False
    fonts = subprocess.run(["fc-list"], capture_output=True, text=True, check=False).stdout
    return "Noto Sans CJK" in fonts


def test_the_chinese_report_is_in_chinese_with_the_chinese_wording(finished: Finished) -> None:
    html = finished.report(lang="zh_Hans").text
    assert '<html lang="zh-Hans">' in html
    assert "德尔菲共识报告" in html
    assert "各轮结果" in html
    assert f"{ZH_TEXT}（1）" in html, "statements in their Chinese wording"
    assert "Statement number 1" not in html
    tables = parse(html)
    result = finished.results[0]["statements"][0]
    assert tables.rows[f"r1-{result['statement_id']}"][-1] == "支持共识"


@pytest.mark.skipif(not cjk_font_installed(), reason="needs fonts-noto-cjk (.ci/run installs it)")
def test_the_chinese_pdf_embeds_a_chinese_font_and_its_text_reads_back(finished: Finished) -> None:
    content = finished.report("pdf", lang="zh_Hans").content
    reader = PdfReader(io.BytesIO(content))
    fonts = set()
    for page in reader.pages:
        resources = cast(DictionaryObject, page["/Resources"])
        for font in cast(DictionaryObject, resources.get("/Font") or {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert any("Noto-Sans-CJK-SC" in name for name in fonts), fonts
    text = pdf_text(content)
    assert "德尔菲共识报告" in text
    assert f"{ZH_TEXT}（1）".replace(" ", "") in text.replace(" ", "")


def test_a_study_that_is_not_finalized_says_its_grades_are_provisional(
    client: TestClient, coordinator_token: str
) -> None:
    finished = finished_study(client, coordinator_token, finalize=False)
    html = finished.report().text
    assert "levels and grades below are a preview" in html
    assert 'id="content-hash"' not in html
    tables = parse(html)
    assert tables.rows[f"r2-{finished.results[1]['statements'][0]['statement_id']}"]


def test_an_open_round_is_named_but_its_provisional_figures_are_not_reported(
    client: TestClient, coordinator_token: str
) -> None:
    finished = finished_study(client, coordinator_token, finalize=False)
    third = finished.run.new_round()
    finished.run.open_round(third["id"])
    tables = parse(html := finished.report().text)
    assert "still open: not reported" in html
    assert not [row for row in tables.rows if row.startswith("r3-")]
    assert [row for row in tables.rows if row.startswith("r2-")]


def test_the_report_of_a_study_without_rounds_says_so(
    client: TestClient, coordinator_token: str
) -> None:
    run = start_study(client, coordinator_token, statements=2, panelists=2)
    response = client.get(f"/api/v1/studies/{run.study['id']}/report.html", headers=run.auth)
    assert response.status_code == 200
    assert "No round has closed yet." in response.text


def test_every_accord_item_points_at_a_part_of_the_report_that_exists(finished: Finished) -> None:
    from app.reports.report_methods import accord_items

    tables = parse(finished.report().text)
    wanted = {item.where for item in accord_items() if item.where}
    assert wanted <= tables.ids
    assert "content-hash" in tables.ids
