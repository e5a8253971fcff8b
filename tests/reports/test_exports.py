"""Every number in the CSV, XLSX and JSON exports equals what the results API returns."""

import csv
import io
import json
import zipfile
from collections import Counter, defaultdict
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from app.models import Rating, Study
from app.reports import export_sheets, export_xlsx
from app.reports.exports import inert, reading
from tests.factories import coordinator, start_study
from tests.prebuilt import Prebuilt, build_once, restored
from tests.reports.study import FORMULA, HTML, Built, two_rounds_by_a_coordinator

FIGURE_HEADERS = {
    "Classification": "classification",
    "n (rated)": "n",
    "Abstained": "abstained",
    "Mean": "mean",
    "SD": "sd",
    "Median": "median",
    "Q1 (P25)": "q1",
    "Q3 (P75)": "q3",
    "IQR": "iqr",
    "P30": "p30",
    "P70": "p70",
    "% agree": "pct_agree",
    "% disagree": "pct_disagree",
    "CV": "cv",
}


@pytest.fixture(scope="session")
def built_once(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Prebuilt[Built]:
    folder = tmp_path_factory.mktemp("exports")
    return build_once(database_url, folder, two_rounds_by_a_coordinator)


@pytest.fixture
def built(built_once: Prebuilt[Built], engine: Engine, client: TestClient) -> Built:
    """The two-round study, restored into this test's database."""
    return restored(built_once, engine, client)


def download(built: Built, kind: str) -> bytes:
    response = built.run.client.get(
        f"/api/v1/studies/{built.study_id}/export.{kind}", headers=built.run.auth
    )
    assert response.status_code == 200, response.text
    return response.content


def api_results(built: Built) -> list[dict[str, Any]]:
    return [built.run.results(r["id"]) for r in built.rounds]


def csv_rows(built: Built) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(download(built, "csv").decode("utf-8"))))


def sheet_rows(workbook: Any, title: str) -> list[dict[str, Any]]:
    rows = list(workbook[title].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def figures_of(row: dict[str, Any], scale: range) -> dict[str, Any]:
    figures = {key: row[header] for header, key in FIGURE_HEADERS.items()}
    figures["histogram"] = {str(point): row[f"Rated {point}"] for point in scale}
    return figures


def api_figures(result: dict[str, Any]) -> dict[str, Any]:
    """The API's figures; floats to 16 significant digits, as openpyxl writes them ("%.16g")."""
    figures = {key: result[key] for key in [*FIGURE_HEADERS.values(), "histogram"]}
    return {
        k: pytest.approx(v, rel=1e-15, abs=0) if isinstance(v, float) else v
        for k, v in figures.items()
    }


def test_csv_holds_every_rating_and_its_counts_equal_the_results_api(built: Built) -> None:
    rows = csv_rows(built)
    assert list(rows[0]) == [
        "round",
        "round_status",
        "statement_key",
        "statement_id",
        "version",
        "panelist",
        "group",
        "value",
        "abstained",
        "strength",
        "comment",
        "created_at",
        "updated_at",
    ]
    assert len(rows) == 8 * 3 + 7 * 2  # round 1: 8 × 3 (P08 only commented S03); round 2: 7 × 2
    values: dict[tuple[int, int], list[int]] = defaultdict(list)
    groups: dict[tuple[int, int, str], Counter[str]] = defaultdict(Counter)
    abstained: Counter[tuple[int, int]] = Counter()
    for row in rows:
        cell = (int(row["round"]), int(row["statement_id"]))
        if row["abstained"] == "TRUE":
            abstained[cell] += 1
        elif row["value"]:
            values[cell].append(int(row["value"]))
            groups[(*cell, row["group"])][row["value"]] += 1
        assert row["created_at"].endswith("+00:00")
        assert row["panelist"].startswith("P")
    for number, results in enumerate(api_results(built), 1):
        for s in results["statements"]:
            cell = (number, s["statement_id"])
            assert len(values[cell]) == s["n"]
            assert abstained[cell] == s["abstained"]
            assert {k: v for k, v in Counter(map(str, values[cell])).items()} == {
                k: v for k, v in s["histogram"].items() if v
            }
            assert sum(values[cell]) / s["n"] == pytest.approx(s["mean"], abs=1e-12)
            for group, figures in s["groups"].items():
                counted = groups[(*cell, group)]
                assert dict(counted) == {k: v for k, v in figures["histogram"].items() if v}
    revised = {r["version"] for r in rows if r["round"] == "2" and r["statement_key"] == "S02"}
    assert revised == {"2"}  # round 2 rated the reworded version


def test_xlsx_results_hold_every_figure_the_results_api_returns(built: Built) -> None:
    workbook = load_workbook(io.BytesIO(download(built, "xlsx")))
    scale = range(1, 10)
    overall = {(r["Round"], r["Statement id"]): r for r in sheet_rows(workbook, "Results")}
    by_group = {
        (r["Round"], r["Statement id"], r["Stakeholder group"]): r
        for r in sheet_rows(workbook, "Results by group")
    }
    flow = {(r["Round"], r["Stakeholder group"]): r for r in sheet_rows(workbook, "Panel flow")}
    checked = 0
    for number, results in enumerate(api_results(built), 1):
        assert flow[(number, "All groups")]["Invited"] == results["invited"]
        assert flow[(number, "All groups")]["Responded"] == results["responded"]
        rounds = {r["Round"]: r for r in sheet_rows(workbook, "Rounds")}
        assert rounds[number]["Response rate"] == results["response_rate"]
        for s in results["statements"]:
            row = overall[(number, s["statement_id"])]
            assert figures_of(row, scale) == api_figures(s)
            assert row["Statement"] == s["key"]
            for group, figures in s["groups"].items():
                assert figures_of(by_group[(number, s["statement_id"], group)], scale) == (
                    api_figures(figures)
                )
                checked += 1
    assert checked == 2 * (3 + 2)  # two groups × (3 statements in round 1, 2 in round 2)
    assert flow[(2, "patients")]["Withdrew"] == 1
    assert flow[(2, "All groups")]["Invited"] == 7


def test_json_document_has_a_schema_version_and_the_results_api_figures(built: Built) -> None:
    document = json.loads(download(built, "json"))
    assert document["schema_version"] == "1.0"
    assert [r["number"] for r in document["rounds"]] == [1, 2]

    def contains(api: Any, exported: Any) -> None:
        if isinstance(api, dict):
            for key, value in api.items():
                contains(value, exported[key])
        elif isinstance(api, list):
            assert len(api) == len(exported)
            for a, e in zip(api, exported, strict=True):
                contains(a, e)
        else:
            assert api == exported

    for api, exported in zip(api_results(built), document["rounds"], strict=True):
        contains(api, exported["results"])
    assert len(document["ratings"]) == len(csv_rows(built))
    lineage = next(s for s in document["statements"] if s["key"] == "S02")["versions"]
    assert [(v["version"], v["rationale"]) for v in lineage] == [(1, None), (2, "Clearer wording")]
    assert document["evidence"]["sources"][0]["citation"] == "Smith 2019, J Pain Res"


def test_formula_and_html_comments_come_out_as_inert_text(built: Built) -> None:
    comments = {r["comment"] for r in csv_rows(built) if r["comment"]}
    assert "'" + FORMULA in comments
    assert HTML in comments
    assert {"'+SUM(1;2)", "'@import", "'-1+2"} <= comments
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in comments)

    content = download(built, "xlsx")
    workbook = load_workbook(io.BytesIO(content))
    cells = [c for ws in workbook.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    sheet = [r["Comment"] for r in sheet_rows(workbook, "Comments")]
    assert "'" + FORMULA in sheet
    assert HTML in sheet
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name)
                assert b"<f " not in archive.read(name)

    document = json.loads(download(built, "json"))
    assert {FORMULA, HTML} <= {r["comment"] for r in document["ratings"]}  # JSON: as written


def test_default_exports_never_name_or_address_a_panelist(built: Built) -> None:
    workbook = load_workbook(io.BytesIO(download(built, "xlsx")))
    texts = [
        download(built, "csv").decode(),
        download(built, "json").decode(),
        " ".join(
            str(v) for ws in workbook.worksheets for r in ws.iter_rows(values_only=True) for v in r
        ),
    ]
    for text in texts:
        assert "Expert " not in text
        assert "expert1@example.org" not in text
        assert "P01" in text


def test_xlsx_sheets_have_frozen_headers_widths_and_number_formats(built: Built) -> None:
    workbook = load_workbook(io.BytesIO(download(built, "xlsx")))
    assert workbook.sheetnames == [
        "Study",
        "Rounds",
        "Panel flow",
        "Results",
        "Results by group",
        "Recommendations",
        "Statements",
        "Evidence",
        "Evidence levels",
        "Comments",
        "Ratings R1",
        "Ratings R2",
        "Audit log",
    ]
    for ws in workbook.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert ws["A1"].font.b, ws.title
        assert ws.column_dimensions["A"].width > 5, ws.title
    results = workbook["Results"]
    header = [c.value for c in results[1]]
    assert results.cell(2, header.index("% agree") + 1).number_format == "0.0"
    assert results.cell(2, header.index("Mean") + 1).number_format == "0.00"
    ratings = workbook["Ratings R1"]
    assert ratings["L2"].is_date  # created_at: an Excel date, not text
    study = {r["Item"]: r["Value"] for r in sheet_rows(workbook, "Study")}
    assert study["Export schema version"] == "1.0"
    assert "70 %" in study["Consensus definition"] or "70%" in study["Consensus definition"]


def test_a_full_ratings_sheet_continues_on_the_next(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_xlsx, "MAX_ROWS", 10)  # Excel's is 1,048,576
    made = io.BytesIO()
    with reading() as session:  # here: the server makes its workbooks in a render process
        export_xlsx.write(session, study=session.get_one(Study, built.study_id), out=made)
    workbook = load_workbook(io.BytesIO(made.getvalue()))
    parts = [n for n in workbook.sheetnames if n.startswith("Ratings R1")]
    assert parts == ["Ratings R1", "Ratings R1 (2)", "Ratings R1 (3)"]
    rows = sum(len(sheet_rows(workbook, name)) for name in parts)
    assert rows == 24
    assert workbook["Ratings R1 (2)"]["A1"].value == "round"


def test_an_open_round_exports_its_provisional_figures_as_the_api_shows_them(built: Built) -> None:
    run = built.run
    third = run.new_round()
    run.open_round(third["id"])
    s3 = run.statements[2]["id"]
    run.rate(0, {s3: 9})
    run.rate(1, {s3: 8})
    api = run.results(third["id"])
    assert api["provisional"] is True
    workbook = load_workbook(io.BytesIO(download(built, "xlsx")))
    row = next(r for r in sheet_rows(workbook, "Results") if r["Round"] == 3)
    assert row["Round status"] == "provisional"
    assert figures_of(row, range(1, 10)) == api_figures(api["statements"][0])
    rows = [r for r in csv_rows(built) if r["round"] == "3"]
    assert {r["round_status"] for r in rows} == {"open"}
    assert len(rows) == 2


def test_a_finalized_study_exports_its_frozen_recommendations_and_hashes(built: Built) -> None:
    run = built.run
    final = run.call("POST", f"/api/v1/studies/{built.study_id}/finalize")
    workbook = load_workbook(io.BytesIO(download(built, "xlsx")))
    rows = sheet_rows(workbook, "Recommendations")
    assert {r["Status"] for r in rows} == {"finalized"}
    hashes = {r["key"]: r["content_hash"] for r in final["recommendations"]}
    assert {r["Statement"]: r["Content hash (SHA-256)"] for r in rows} == hashes
    study = {r["Item"]: r["Value"] for r in sheet_rows(workbook, "Study")}
    assert study["Study content hash (SHA-256)"] == final["content_hash"]
    document = json.loads(download(built, "json"))
    assert document["recommendations"]["content_hash"] == final["content_hash"]
    assert [r["grade"] for r in document["recommendations"]["items"]] == [
        r["grade"] for r in final["recommendations"]
    ]


def test_every_formula_trigger_is_quoted_and_plain_text_is_left_alone() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "=cmd|' /C calc'!A0"):
        assert inert(text) == "'" + text
    for text in ("1-2", "a=b", "", "'quoted", " =1", "P01"):
        assert inert(text) == text


def test_control_characters_and_overlong_text_still_open_in_excel(
    built: Built, session: Session
) -> None:
    run = built.run
    s3 = run.statements[2]["id"]
    long = "x" * 40_000  # longer than a cell holds (e.g. kept from a larger comment limit)
    comment = "=bell\x07 and tab\x0b" + long
    session.execute(
        update(Rating)
        .where(Rating.statement_id == s3, Rating.panelist_id == run.panelists[0]["id"])
        .values(comment=comment)
    )
    session.commit()
    workbook = load_workbook(io.BytesIO(download(built, "xlsx")))
    rows = sheet_rows(workbook, "Ratings R1")
    cell = next(r["comment"] for r in rows if r["statement_id"] == s3 and r["panelist"] == "P01")
    assert cell.startswith("'=bell and tab")
    assert len(cell) == export_sheets.MAX_CHARS
    assert cell.endswith(export_sheets.CUT)
    document = json.loads(download(built, "json"))
    assert comment in {r["comment"] for r in document["ratings"]}  # whole, as stored


def test_a_study_without_rounds_exports_its_method_and_nothing_else(
    client: TestClient, session: Session
) -> None:
    token = coordinator(session)[1]
    run = start_study(client, token, statements=2, panelists=2)
    built = Built(run)
    assert download(built, "csv").decode().strip().count("\n") == 0  # the header only
    workbook = load_workbook(io.BytesIO(download(built, "xlsx")))
    assert not [n for n in workbook.sheetnames if n.startswith("Ratings")]
    assert len(sheet_rows(workbook, "Statements")) == 2
    document = json.loads(download(built, "json"))
    assert document["rounds"] == []
    assert document["ratings"] == []
