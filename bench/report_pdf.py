"""The PDF of the finished demo study must render in under 10 s on this machine (issue 6)."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from time import perf_counter

from app.db import transaction
from app.reports import report
from app.tools.demo import find_demo
from app.tools.report_demo import build_database

TARGET_S = 10.0
RUNS = 3


def _render(language: str) -> tuple[float, int, int]:
    """Seconds for the whole report (load, template, PDF), the PDF's size and page count."""
    from io import BytesIO

    from pypdf import PdfReader

    started = perf_counter()
    with transaction(write=False) as session:
        study = find_demo(session)
        assert study is not None
        rendered = report.render_html(session, study=study, language=language)
    pdf = report.render_pdf(rendered)
    seconds = perf_counter() - started
    return seconds, len(pdf), len(PdfReader(BytesIO(pdf)).pages)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        build_database(Path(tmp) / "demo.sqlite3")
        _render("en")  # warm-up: fonts, templates and catalogues load once per process
        for language in ("en", "zh-Hans"):
            runs = [_render(language) for _ in range(RUNS)]
            median = statistics.median(seconds for seconds, _, _ in runs)
            _, size, pages = runs[0]
            verdict = "met" if median < TARGET_S else "MISSED"
            each = ", ".join(f"{seconds:.2f}" for seconds, _, _ in runs)
            print(
                f"report PDF, finished demo study ({language}): {pages} pages, {size // 1024} KiB, "
                f"median of {RUNS} {median:.2f} s (runs {each}); "
                f"target < {TARGET_S:.0f} s {verdict}"
            )


if __name__ == "__main__":
    main()
