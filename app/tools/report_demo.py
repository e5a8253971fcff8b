"""A finished demo study for the sample report and the render benchmark: the demo of `delphi demo`
carried through rounds 2 and 3 (a revision, a statement left out, a new one, a withdrawal) to
finalization, all through the same services the API uses."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.models import Panelist, Round, Study, User, utcnow
from app.services import ballots, finalization, panel, results, rounds, stability, statements
from app.tools.demo import DEMO_EMAIL, find_demo, seed_or_refresh

NEW_STATEMENT = (
    "SUPERVISION",
    "All conditions",
    "Exercise for neuropathic pain should start under the supervision of a physiotherapist, "
    "with a written home programme once it is tolerated.",
    "神经病理性疼痛的运动治疗应在物理治疗师监督下开始，耐受后给予书面家庭训练计划。",
)
# Later rounds' comments, each made once in the whole study (panelists read them all).
REMARKS = [
    "Having seen the group's ratings, I agree; the dose needs individual titration.",
    "Evidence is thin beyond eight weeks of follow-up; I rated it lower for that.",
    "Supervision matters more than the exercise type here.",
    "同意，但需要根据患者耐受情况调整强度。",
    "Reasonable, although access to programmes varies by region.",
    "The revised wording answers my concern from the last round.",
    "I moved up after reading the others' comments on safety.",
    "证据等级偏低，但临床经验支持这一推荐。",
    "Still unsure: the trials excluded patients with severe pain.",
    "Home programmes fail without a follow-up visit; add one.",
    "建议补充运动强度的具体范围。",
    "Fine for adults; we have no data for adolescents.",
    "I keep my rating; the benefit is small but the risk is smaller.",
    "应强调循序渐进，避免疼痛加重导致中断。",
]


def _vote(
    session: Session,
    *,
    round_: Round,
    members: list[Panelist],
    centre: dict[int, float],
    rng: random.Random,
    spread: float,
    unsaid: list[str],
) -> None:
    """Every tenth panelist stays silent; the others rate around the given centres, now and then
    with one of the remarks not yet made."""
    statement_ids = [item.statement_id for item in round_.items]  # saving expires the round
    for index, member in enumerate(members):
        if member.withdrawn_at is not None or index % 10 == 9:
            continue
        entries = [
            ballots.RatingInput(
                statement_id=statement_id,
                value=max(1, min(9, round(rng.gauss(centre[statement_id], spread)))),
                comment=unsaid.pop() if unsaid and rng.random() < 0.07 else None,
            )
            for statement_id in statement_ids
        ]
        ballots.save_ballot(session, panelist=member, entries=entries, submit=True)


def finish_demo(session: Session, *, seed: int = 2021) -> Study:
    """Seed the demo if needed, then run rounds 2 and 3 and finalize (idempotent: a finalized
    demo is returned as it is).

    Long because it is the demo's later rounds in order from one random stream, as _seed is.
    """
    rng = random.Random(seed)
    unsaid = rng.sample(REMARKS, len(REMARKS))
    seed_or_refresh(session, seed=seed)
    study = find_demo(session)
    assert study is not None
    if study.finalized_at is not None:
        return study
    user = session.scalar(select(User).where(User.email == DEMO_EMAIL))
    assert user is not None
    members = list(
        session.scalars(
            select(Panelist)
            .where(Panelist.study_id == study.id)
            .order_by(Panelist.id)
            .options(joinedload(Panelist.study))
            .execution_options(populate_existing=True)
        )
    )
    all_rounds = rounds.rounds_of(session, study=study)
    second = rounds.get_round(session, round_id=all_rounds[-1].id)
    first_results = results.round_results(session, study=study, round_=all_rounds[0])
    medians = {s.statement_id: s.median for s in first_results.statements}
    ranked = sorted(medians, key=lambda sid: -(medians[sid] or 0.0))  # every one was rated
    # After the feedback the panel converges: the best-rated third toward agreement, the
    # lowest-rated statement toward rejection, the rest part of the way.
    third_of = max(1, len(ranked) // 3)
    centre = {sid: 8.0 if i < third_of else 6.4 for i, sid in enumerate(ranked)}
    centre[ranked[-1]] = 2.6
    panel.withdraw(session, actor=user, study=study, panelist=members[4])
    _vote(
        session, round_=second, members=members, centre=centre, rng=rng, spread=1.0, unsaid=unsaid
    )
    rounds.close_round(session, round_id=second.id, actor=user)
    stability.freeze(session, round_id=second.id)  # as the API does once a close commits

    pending = [
        s.statement_id
        for s in results.round_results(session, study=study, round_=second).statements
        if s.classification == "no_consensus"
    ]
    revised = statements.get_statement(session, statement_id=pending[0])
    statements.revise_statement(
        session,
        actor=user,
        study=study,
        statement=revised,
        text=revised.current.text.rstrip(".") + ", with the dose set for each patient.",
        rationale="Panelists asked for individual dosing: the trials used very different doses.",
        translations={
            "zh-Hans": revised.current.text_in("zh-Hans").rstrip("。")
            + "，并为每位患者个体化设定剂量。"
        },
    )
    (added,) = statements.add_statements(
        session,
        actor=user,
        study=study,
        items=[
            statements.NewStatement(
                key=NEW_STATEMENT[0],
                topic=NEW_STATEMENT[1],
                text=NEW_STATEMENT[2],
                translations={"zh-Hans": NEW_STATEMENT[3]},
            )
        ],
    )
    kept = pending[:-1] if len(pending) > 2 else pending  # the coordinators leave one out
    third = rounds.create_round(session, actor=user, study=study, statement_ids=[*kept, added.id])
    rounds.open_round(
        session, actor=user, study=study, round_=third, closes_at=utcnow() + timedelta(days=7)
    )
    third = rounds.get_round(session, round_id=third.id)
    centre = {sid: 7.7 if c > 5 else 2.0 for sid, c in centre.items()} | {added.id: 7.8}
    centre[kept[1]] = 5.4  # one stays unresolved after the last round
    _vote(session, round_=third, members=members, centre=centre, rng=rng, spread=0.8, unsaid=unsaid)
    rounds.close_round(session, round_id=third.id, actor=user)
    stability.freeze(session, round_id=third.id)
    finalization.finalize(session, actor=user, study=study)
    return study


def build_database(path: Path) -> str:
    """A fresh SQLite file holding the finished demo; returns its URL."""
    from alembic import command
    from alembic.config import Config

    from app.db import make_engine, set_engine, transaction
    from app.settings import ROOT

    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")
    set_engine(make_engine(url))
    with transaction() as session:
        finish_demo(session)
    return url


# Pages shown as pictures beside the sample PDFs: the cover, and pages found by their heading.
SAMPLE_PAGES = {
    "en": (
        "",
        "3. Statements across rounds",
        "Round 2: stability and attrition",
        "6. Statements in detail",
    ),
    "zh-Hans": ("第 2 轮：稳定性与流失", "6. 条目详情"),
}


def _pages_with(pdf: Path, headings: tuple[str, ...]) -> list[int]:
    """The page where each heading stands on a line of its own ("": the cover).

    pdftotext separates pages with form feeds; the contents list has the same words followed
    by leader dots, so it does not count.
    """
    import subprocess

    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    lines = [{line.strip() for line in page.splitlines()} for page in text.split("\f")]
    return [
        1 if not heading else next(i for i, page in enumerate(lines, start=1) if heading in page)
        for heading in headings
    ]


def write_sample(directory: Path) -> list[Path]:
    """The finished demo's report in English and Chinese (PDF, HTML) with a few pages as PNG."""
    import shutil
    import subprocess
    import tempfile

    from app.db import transaction
    from app.reports import report

    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("demo-report-*-page-*.png"):  # pages move as the report grows
        stale.unlink()
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        build_database(Path(tmp) / "demo.sqlite3")
        for language, headings in SAMPLE_PAGES.items():
            with transaction(write=False) as session:
                study = find_demo(session)
                assert study is not None
                rendered = report.render_html(session, study=study, language=language)
            pdf = directory / f"demo-report-{language}.pdf"
            pdf.write_bytes(report.render_pdf(rendered))
            written.append(pdf)
            if language == "en":
                page = pdf.with_suffix(".html")
                page.write_text(rendered.html, encoding="utf-8")
                written.append(page)
            if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
                print("poppler-utils is missing (apt-get install poppler-utils): no PNG pages")
                continue
            for number in _pages_with(pdf, headings):
                target = directory / f"demo-report-{language}-page-{number}"
                pages = ["-f", str(number), "-l", str(number)]
                subprocess.run(
                    ["pdftoppm", "-png", "-r", "72", "-singlefile", *pages, str(pdf), str(target)],
                    check=True,
                )
                written.append(target.with_suffix(".png"))
    return written


if __name__ == "__main__":
    import sys

    for path in write_sample(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/sample-report")):
        print(f"{path} ({path.stat().st_size // 1024} KiB)")
