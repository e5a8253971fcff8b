"""Ballots while reports and workbooks are asked for: heavy work must not starve the panel.

A real server holds a study with a closed round (what the report shows) and an open one. Panelists
fetch their ballot and save it, CONCURRENCY at a time, twice per pair of bursts: once alone (the
baseline) and once while HEAVY clients keep asking for report.pdf (English and Chinese) and
export.xlsx. The panel's saves change the open round, so the workbook is made again and again;
the report is made once per language and then served from its copy. The headline is the ballot
p95 under heavy load, target under 1 s, and its ratio to the p95 alone, measured in the same run
(the median over RUNS pairs, which alternate which burst goes first). SQLite runs one worker
(`delphi serve`), PostgreSQL two (the production image's default), when it is reachable.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app import db
from app.services import accounts, ballots, panel, rounds, statements, studies
from bench.close_round import migrate
from bench.load import Run, postgres_url, start_server

PANELISTS = int(os.environ.get("BENCH_HEAVY_PANELISTS", "150"))  # per burst
STATEMENTS = 40
CONCURRENCY = 10  # panelists in flight at once
HEAVY = 16  # clients asking for reports and workbooks at once
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
TARGET_P95_MS = 1000.0
PG_DATABASE = "delphi_bench_heavy"


@dataclass
class Seeded:
    study_id: int
    coordinator: str
    tokens: list[str]  # panelists of the open round, PANELISTS per burst
    statement_ids: list[int]


def seed(url: str, bursts: int) -> Seeded:
    """A study whose first round (200 panelists) is closed and whose second round is open."""
    engine = db.make_engine(url)
    db.set_engine(engine)
    with db.transaction() as session:
        actor = accounts.create_user(session, email="heavy@example.org", password="heavy-password")
        token = accounts.create_api_token(session, user=actor, label="bench")
        study = studies.create_study(
            session,
            actor=actor,
            title="Heavy-work benchmark",
            scale_min=1,
            scale_max=9,
            rule={"rule": "comet_70_15"},
            groups=["Clinicians", "Patients"],
        )
        statements.add_statements(
            session,
            actor=actor,
            study=study,
            items=[
                statements.NewStatement(text=f"Statement {i} about exercise for pain")
                for i in range(STATEMENTS)
            ],
        )
        invitations = panel.add_panelists(
            session,
            actor=actor,
            study=study,
            items=[
                panel.NewPanelist(name=f"Panelist {i}", group=("Clinicians", "Patients")[i % 2])
                for i in range(200 + PANELISTS * bursts)
            ],
        )
        first = rounds.create_round(session, actor=actor, study=study)
        rounds.open_round(session, actor=actor, study=study, round_=first)
        statement_ids = [item.statement_id for item in first.items]
        for number, invitation in enumerate(invitations[:200]):
            member = panel.panelist_for_token(session, token=invitation.token)
            entries = [
                ballots.RatingInput(statement_id=sid, value=1 + (number * 7 + k * 3) % 9)
                for k, sid in enumerate(statement_ids)
            ]
            ballots.save_ballot(session, panelist=member, entries=entries, submit=True)
        rounds.close_round(session, round_id=first.id, actor=actor)
        second = rounds.create_round(session, actor=actor, study=study)
        rounds.open_round(session, actor=actor, study=study, round_=second)
        study_id = study.id
    engine.dispose()
    return Seeded(study_id, token, [i.token for i in invitations[200:]], statement_ids)


@dataclass
class Heavy:
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)


async def ballots_burst(base: str, tokens: list[str], statement_ids: list[int], label: str) -> Run:
    """Each panelist GETs the ballot and PUTs every statement; CONCURRENCY at a time."""
    run = Run(label)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(client: httpx.AsyncClient, index: int, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        body = {
            "ratings": [
                {"statement_id": sid, "value": 1 + (index + j) % 9}
                for j, sid in enumerate(statement_ids)
            ]
        }
        async with gate:
            for method, sent in (("GET", None), ("PUT", body)):
                started = time.perf_counter()
                try:
                    response = await client.request(
                        method, "/api/v1/ballot", headers=headers, json=sent
                    )
                    if response.status_code != 200:
                        run.errors.append(f"{method} {response.status_code} {response.text[:120]}")
                except httpx.HTTPError as exc:
                    run.errors.append(f"{method} {type(exc).__name__}: {exc}")
                run.latencies_ms.append((time.perf_counter() - started) * 1000)

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(one(client, i, t) for i, t in enumerate(tokens)))
        run.seconds = time.perf_counter() - started
    return run


async def heavy_load(base: str, seeded: Seeded, stop: asyncio.Event, heavy: Heavy) -> None:
    """HEAVY clients, each asking in turn for a PDF (en, zh_Hans) and the workbook until `stop`."""
    paths = [
        f"/api/v1/studies/{seeded.study_id}/report.pdf?lang=en",
        f"/api/v1/studies/{seeded.study_id}/export.xlsx",
        f"/api/v1/studies/{seeded.study_id}/report.pdf?lang=zh_Hans",
    ]
    headers = {"Authorization": f"Bearer {seeded.coordinator}"}

    async def client_loop(client: httpx.AsyncClient, number: int) -> None:
        turn = number
        while not stop.is_set():
            started = time.perf_counter()
            try:
                response = await client.get(paths[turn % len(paths)], headers=headers)
                heavy.statuses[response.status_code] += 1
                if response.status_code == 429:
                    await asyncio.sleep(min(5, int(response.headers.get("Retry-After", "5"))))
            except httpx.HTTPError:
                heavy.statuses[0] += 1
            heavy.seconds.append(time.perf_counter() - started)
            turn += 1

    limits = httpx.Limits(max_connections=HEAVY, max_keepalive_connections=HEAVY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=300) as client:
        await asyncio.gather(*(client_loop(client, n) for n in range(HEAVY)))


async def with_heavy(base: str, seeded: Seeded, tokens: list[str]) -> tuple[Run, Heavy]:
    heavy, stop = Heavy(), asyncio.Event()
    load = asyncio.create_task(heavy_load(base, seeded, stop, heavy))
    await asyncio.sleep(1.0)  # the heavy requests are in flight before the panel starts
    run = await ballots_burst(base, tokens, seeded.statement_ids, "ballots + heavy")
    stop.set()
    await load
    return run, heavy


def measure(engine: str, url: str, workers: int) -> None:
    migrate(url)
    seeded = seed(url, bursts=2 * RUNS)
    with tempfile.TemporaryDirectory(prefix="delphi-heavy-renders-") as renders:
        os.environ["DELPHI_RENDERS_DIR"] = renders
        os.environ.setdefault("DELPHI_LOG_LEVEL", "WARNING")  # not a line per PDF page
        server = start_server(url, workers, factory="app.main:create_app")
        try:
            pairs: list[tuple[Run, Run, Heavy]] = []
            for number in range(RUNS):
                alone_tokens, busy_tokens = (
                    seeded.tokens[(2 * number + k) * PANELISTS : (2 * number + k + 1) * PANELISTS]
                    for k in (0, 1)
                )
                order = (False, True) if number % 2 == 0 else (True, False)
                runs: dict[bool, tuple[Run, Heavy | None]] = {}
                for loaded in order:
                    if loaded:
                        runs[True] = asyncio.run(with_heavy(server.url, seeded, busy_tokens))
                    else:
                        alone = ballots_burst(
                            server.url, alone_tokens, seeded.statement_ids, "ballots alone"
                        )
                        runs[False] = (asyncio.run(alone), None)
                busy_run, heavy = runs[True]
                assert heavy is not None
                pairs.append((runs[False][0], busy_run, heavy))
        finally:
            server.stop()
            os.environ.pop("DELPHI_RENDERS_DIR", None)
    report(engine, workers, pairs)


def report(engine: str, workers: int, pairs: list[tuple[Run, Run, Heavy]]) -> None:
    print(f"\n== {engine} ({workers} worker{'s' if workers > 1 else ''}) ==")
    ratios = []
    for number, (alone, busy, heavy) in enumerate(pairs, 1):
        for run in (alone, busy):
            print(
                f"  {number}. {run.label:<16} {run.requests:>5} requests in {run.seconds:5.1f} s  "
                f"p50 {run.percentile(0.50):6.1f} ms  p95 {run.percentile(0.95):6.1f} ms  "
                f"p99 {run.percentile(0.99):6.1f} ms  errors {len(run.errors)}"
            )
        done = sorted(heavy.seconds)
        answers = ", ".join(
            f"{code or 'no answer'}: {n}" for code, n in sorted(heavy.statuses.items())
        )
        median = statistics.median(done) if done else 0.0
        print(
            f"     heavy requests: {sum(heavy.statuses.values())} ({answers}), "
            f"median {median:.1f} s"
        )
        ratio = busy.percentile(0.95) / alone.percentile(0.95) if alone.percentile(0.95) else 0.0
        ratios.append(ratio)
        print(f"     ballot p95 with heavy load ÷ alone: {ratio:.2f}")
    errors = [e for alone, busy, _ in pairs for e in alone.errors + busy.errors]
    for error in errors[:5]:
        print(f"    e.g. {error}")
    p95 = statistics.median(busy.percentile(0.95) for _, busy, _ in pairs)
    ok = p95 < TARGET_P95_MS and not errors
    print(
        f"  ballot p95 under heavy load, median of {len(pairs)}: {p95:.0f} ms "
        f"(ratio to alone {statistics.median(ratios):.2f}, "
        f"runs {min(ratios):.2f}–{max(ratios):.2f}); "
        f"target < {TARGET_P95_MS:.0f} ms, no errors: {'PASS' if ok else 'MISS'}"
    )


def main() -> None:
    print(
        f"Heavy work: {PANELISTS} panelists × (GET ballot + PUT {STATEMENTS} ratings), "
        f"{CONCURRENCY} at a time, alone and beside {HEAVY} clients asking for report.pdf "
        "and export.xlsx"
    )
    with tempfile.TemporaryDirectory(prefix="delphi-heavy-") as directory:
        measure("SQLite", f"sqlite:///{Path(directory) / 'heavy.sqlite3'}", workers=1)
    url = postgres_url_for_heavy()
    if url is not None:
        measure("PostgreSQL", url, workers=2)


def postgres_url_for_heavy() -> str | None:
    """bench.load's PostgreSQL set-up, on a database of this benchmark's own."""
    import bench.load

    bench.load.PG_DATABASE = PG_DATABASE
    return postgres_url()


if __name__ == "__main__":
    main()
