"""Hypothesis against the import files: every column of a statements, panelists or evidence CSV,
and the scores a RIS reference carries, filled with what is no plain number (“²”, “٣”, “５”, “Ⅻ”,
signs, 5,000 digits) or a valid value. The preview and the import never answer 5xx, and a refusal
says why and leaves every row of the database as it was.
"""

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests.fuzz.forms import csrf, number_text, post_file
from tests.fuzz.seed import Seeded
from tests.fuzz.test_forms import BOUNDED

# A valid row of each kind's file, by column.
ROWS = {
    "statements": {"text": "Aerobic exercise reduces pain.", "key": "S09", "topic": "exercise"},
    "panelists": {
        "name": "Dr Li Wei",
        "email": "li.wei@example.org",
        "group": "",
        "language": "en",
        "timezone": "Asia/Shanghai",
    },
    "evidence": {
        "citation": "Smith J. Exercise after stroke. Lancet 2019.",
        "design": "rct",
        "doi": "10.1000/xyz123",
        "pmid": "31234567",
        "pedro": "7",
        "amstar2": "",
        "amstar_score": "",
        "pooled_levels": "",
        "statements": "S01",
        "illustrative": "no",
    },
}


def rows_of(valid: dict[str, str]) -> st.SearchStrategy[list[dict[str, str]]]:
    """One to three valid rows, then up to three of their cells made number-like text."""
    columns = sorted(valid)
    changes = st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(columns), number_text), max_size=3
    )

    def build(count: int, changed: list[tuple[int, str, str]]) -> list[dict[str, str]]:
        rows = [{**valid, "key": f"K{i}", "email": f"p{i}@example.org"} for i in range(count)]
        rows = [{k: v for k, v in row.items() if k in valid} for row in rows]  # kind's own columns
        for row, column, text in changed:
            rows[row % count][column] = text
        return rows

    return st.builds(build, st.integers(1, 3), changes)


def as_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=";")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def upload_then_import(
    web: TestClient, engine: Engine, url: str, token: str, name: str, content: bytes
) -> None:
    """The preview, and the import it offers when every row is right."""
    preview = post_file(web, engine, url, {"csrf_token": token}, name, content)
    carried = re.search(r'name="content" value="([^"]+)"', preview.text)
    if carried:
        fields = {"csrf_token": token, "action": "import", "filename": name}
        post_file(web, engine, url, {**fields, "content": carried.group(1)}, "", b"")


@pytest.mark.parametrize("kind", sorted(ROWS))
def test_every_import_column_with_numbers_that_are_not_plain(
    kind: str, console: TestClient, seeded: Seeded, engine: Engine
) -> None:
    study_url = f"/console/studies/{seeded.setup.study['id']}"
    token = csrf(console.get(f"{study_url}/import").text)

    @BOUNDED
    @given(rows=rows_of(ROWS[kind]))
    def property_(rows: list[dict[str, str]]) -> None:
        url = f"{study_url}/import/{kind}"
        upload_then_import(console, engine, url, token, f"{kind}.csv", as_csv(rows))

    property_()


def test_evidence_scores_with_numbers_that_are_not_plain(
    console: TestClient, seeded: Seeded, engine: Engine
) -> None:
    """The number columns, in every row: a PEDro score for a trial, an AMSTAR score for a review."""
    study_url = f"/console/studies/{seeded.setup.study['id']}"
    token = csrf(console.get(f"{study_url}/import").text)
    score = st.one_of(st.sampled_from(["0", "7", "11", ""]), number_text)
    row = st.one_of(
        st.builds(lambda p: {**ROWS["evidence"], "pedro": p}, score),
        st.builds(
            lambda a: {**ROWS["evidence"], "design": "systematic_review", "pedro": "", **a},
            st.fixed_dictionaries({"amstar_score": score, "amstar2": st.just("high")}),
        ),
    )

    @BOUNDED
    @given(rows=st.lists(row, min_size=1, max_size=3))
    def property_(rows: list[dict[str, str]]) -> None:
        rows = [{**r, "citation": f"Source {i}"} for i, r in enumerate(rows)]
        url = f"{study_url}/import/evidence"
        upload_then_import(console, engine, url, token, "evidence.csv", as_csv(rows))

    property_()


def test_ris_scores_and_years_with_numbers_that_are_not_plain(
    console: TestClient, seeded: Seeded, engine: Engine
) -> None:
    study_url = f"/console/studies/{seeded.setup.study['id']}"
    token = csrf(console.get(f"{study_url}/import").text)
    value = st.one_of(st.sampled_from(["7", "7/10", "9", ""]), number_text)

    @BOUNDED
    @given(pedro=value, amstar=value, year=value, statements=value)
    def property_(pedro: str, amstar: str, year: str, statements: str) -> None:
        design = "systematic review" if amstar else "randomized controlled trial"
        reference = (
            f"TY  - JOUR\nAU  - Ota, B\nPY  - {year}\nTI  - Cycling: a {design}\n"
            f"N1  - PEDro: {pedro}\nN1  - AMSTAR: {amstar}\nKW  - statement: {statements}\n"
            "ER  - \n"
        )
        url = f"{study_url}/import/evidence"
        upload_then_import(console, engine, url, token, "library.ris", reference.encode())

    property_()
