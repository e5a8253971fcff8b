"""Heavy work (the consensus report, the XLSX workbook) takes turns in a few slots of its own.

Sixteen PDF requests once took every request slot of a process, and a panelist's ballot waited
behind them. Now there are two limits, both `heavy_slots` wide:

- In each process a heavy request passes gates of its own (`app.middleware.Admission`), never
  the general one, so ballots always find their slots: one to look for its copy (served at once
  if it is there), then, only if it must be made, one to make it. So a copy that is ready never
  waits behind renders. The rest wait in line there, holding neither a thread nor a database
  connection, until `heavy_wait_seconds` after they arrived; then 429.
- Across the processes serving one database on this machine, a render holds one of `heavy_slots`
  lock files (`Slots`), and requests for the same copy take turns, so the second one finds the
  copy the first has just made (`app.reports.cache`).

Why lock files (flock) and not a lease row or PostgreSQL advisory locks: the kernel drops a
lock the moment its process dies, so a killed worker leaves no stale lease to expire; taking a
slot writes nothing to the database, where on SQLite a lease row would queue for the one write
lock behind the very ballots it is meant to protect; it works the same on both engines (advisory
locks exist only on PostgreSQL and would hold a connection for the whole render). The limit is
per machine, which is what a render uses up (CPU and memory); another machine has its own.

A render runs in a process of its own (`run_apart`), never in the serving process: a PDF or a
workbook is minutes of pure Python for a large study, and in a serving thread it would hold the
interpreter lock the ballots' threads and the event loop need. The serving thread only waits.
A render process ends with its server, however the server ends (a SIGKILL included), and holds
a database connection only while it renders (app.reports.cache.make_copy).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from babel.support import NullTranslations, Translations
from starlette.responses import HTMLResponse, JSONResponse, Response

from app.settings import ROOT, get_settings

# The report (HTML and PDF) and the workbook, from the API and from the console.
HEAVY_PATH = re.compile(
    r"^/(?:api/v1|console)/studies/[^/]+/(?:report\.(?:html|pdf)|export\.xlsx)$"
)
RETRY_AFTER_SECONDS = 15  # about one report's render on a busy machine
RETRY_AFTER_STOPPED_SECONDS = 60  # after a render ran past its time: give the machine a minute
POLL_SECONDS = 0.05
RENDER_NICENESS = 10  # when the CPUs are busy, the requests come first
ORPHAN_CHECK_SECONDS = 0.5  # how soon a render process notices its server is gone
TURNS = 64  # lock files for "the same copy": keys share one when their hashes meet


def N_(message: str) -> str:
    """Marks a sentence for the catalogue; it is translated where it is shown."""
    return message


BUSY_TITLE = N_("Busy preparing reports")
BUSY_TEXT = N_(
    "Reports and spreadsheets are being prepared for others right now. Nothing was lost: try "
    "again in about %(seconds)d seconds."
)
BUSY_DETAIL = (
    "Reports and workbooks are made a few at a time and every slot is taken; nothing was "
    "recorded. Try again in %(seconds)d seconds (Retry-After)."
)
STOPPED_TITLE = N_("This report took too long")
STOPPED_TEXT = N_(
    "Making this report or spreadsheet took too long, so it was stopped. Nothing was recorded. "
    "Try again in a few minutes; if it happens again, tell your administrator."
)
STOPPED_DETAIL = (
    "Making this report or workbook took longer than %(limit)g seconds, so it was stopped; "
    "nothing was recorded. Try again in a few minutes (Retry-After); if it happens again, tell "
    "your administrator."
)
log = logging.getLogger("delphi.renders")


def is_heavy(path: str) -> bool:
    return HEAVY_PATH.match(path) is not None


class Busy(Exception):
    """Every heavy slot stayed taken until the request's time in line ran out."""

    def __init__(self, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(f"every heavy slot is taken; retry after {retry_after} s")
        self.retry_after = retry_after


class NotMade(Exception):
    """The copy is not there and this pass may only look: the gate lets it in again to make it."""


class Stopped(Exception):
    """A render ran past `heavy_render_timeout_seconds` and was killed; the answer is a 503."""

    def __init__(self, limit: float) -> None:
        super().__init__(f"a render ran past its {limit:g} s and was stopped")
        self.limit = limit


def deadline_of(state: Any) -> float:
    """When a request stops waiting for a slot: set by the gate when it arrived."""
    deadline = getattr(state, "heavy_deadline", None)
    if isinstance(deadline, float):
        return deadline
    return time.monotonic() + get_settings().heavy_wait_seconds


def may_make(state: Any) -> bool:
    """False on a heavy request's first pass through its gates, which only serves a ready copy."""
    return getattr(state, "heavy_may_make", True) is not False


def directory() -> Path:
    """Copies and lock files of the database in use: its own folder, shared by its processes.

    Beside a SQLite file (`renders/` next to it), else in var/renders; DELPHI_RENDERS_DIR moves
    it. A folder per database, so two databases on one machine never share a copy.
    """
    from app.db import get_engine

    url = get_engine().url
    base = get_settings().renders_dir
    if base is None:
        on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
        base = Path(str(url.database)).parent / "renders" if on_disk else ROOT / "var" / "renders"
    name = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return Path(base) / name


class Slots:
    """`count` lock files: a render holds one; `turn` lets one request at a time make a copy."""

    def __init__(self, folder: Path, count: int) -> None:
        self.folder = folder
        self.count = count

    @classmethod
    def here(cls) -> Slots:
        return cls(directory() / "slots", get_settings().heavy_slots)

    def slot_files(self) -> list[Path]:
        return [self.folder / f"slot-{n}.lock" for n in range(self.count)]

    @contextmanager
    def render(self, *, deadline: float) -> Iterator[None]:
        """One of the slots, waited for until `deadline`; Busy after that."""
        with _held(self.slot_files(), deadline):
            yield

    @contextmanager
    def turn(self, key: str, *, deadline: float) -> Iterator[None]:
        """One request at a time per copy, so the next one serves the copy just made."""
        bucket = int(hashlib.sha256(key.encode()).hexdigest(), 16) % TURNS
        with _held([self.folder / f"turn-{bucket}.lock"], deadline):
            yield


@contextmanager
def _held(files: list[Path], deadline: float) -> Iterator[None]:
    """The first of `files` free to lock (flock, so a dead process frees its lock at once)."""
    files[0].parent.mkdir(parents=True, exist_ok=True)
    while True:
        for path in files:
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                continue
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                os.close(handle)
            return
        if time.monotonic() >= deadline:
            raise Busy()
        time.sleep(POLL_SECONDS)


T = TypeVar("T")
_apart: ProcessPoolExecutor | None = None
_apart_size = 0
_apart_lock = threading.Lock()


def run_apart(work: Callable[..., T], /, *args: Any) -> T:
    """`work(*args)` in one of this process's render processes (`heavy_slots` of them).

    They start on first use (spawned: a fresh interpreter, never a fork of a threaded server).
    If one dies under a render (killed for its memory, say), the processes start afresh and the
    render is tried once more. A render still running after `heavy_render_timeout_seconds` is
    stopped with its processes, which start afresh for the next one (Stopped): a hung render
    must not hold its turn and slot forever.
    """
    global _apart
    limit = get_settings().heavy_render_timeout_seconds
    ends = time.monotonic() + limit
    for attempt in (1, 2):
        pool = _render_processes()
        try:
            return pool.submit(work, *args).result(timeout=max(0.0, ends - time.monotonic()))
        except BrokenProcessPool:
            with _apart_lock:
                if _apart is pool:
                    _apart = None
            if attempt == 2:
                raise
        except TimeoutError:
            log.warning("a render ran past %g s and was stopped with its processes", limit)
            with _apart_lock:
                if _apart is pool:
                    _apart = None
            _kill(pool)
            raise Stopped(limit) from None
    raise AssertionError("unreachable")


def _render_processes() -> ProcessPoolExecutor:
    global _apart, _apart_size
    size = get_settings().heavy_slots
    with _apart_lock:
        if _apart is None or _apart_size != size:
            if _apart is not None:
                _apart.shutdown(wait=False)
            _apart = ProcessPoolExecutor(
                max_workers=size,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_render_process_starts,
                initargs=(os.getpid(),),
            )
            _apart_size = size
        return _apart


def stop_render_processes() -> None:
    """At the server's shutdown: its render processes end now, a render under way included."""
    global _apart
    with _apart_lock:
        pool, _apart = _apart, None
    if pool is not None:
        _kill(pool)


def _kill(pool: ProcessPoolExecutor) -> None:
    processes = list((pool._processes or {}).values())  # Python 3.14: pool.kill_workers()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()


def _render_process_starts(server: int) -> None:
    """Renders yield the CPU to the server's requests; Ctrl+C is for the server, not for them."""
    from app.logs import configure_logging

    os.nice(RENDER_NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a render process ends when its server does
    configure_logging(get_settings().log_level)
    threading.Thread(target=_end_with, args=(server,), name="end-with-server", daemon=True).start()


def _end_with(server: int) -> None:
    """Exit once the server is gone, killed or not, rather than live on holding its connection.

    Not prctl(PR_SET_PDEATHSIG): that fires when the *thread* that started this process ends,
    and the server's threadpool threads come and go.
    """
    while os.getppid() == server:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os._exit(1)


@lru_cache
def _catalogue(language: str) -> NullTranslations:
    from app.templating import TRANSLATIONS

    return Translations.load(str(TRANSLATIONS), [language])


def busy_response(path: str, retry_after: int = RETRY_AFTER_SECONDS) -> Response:
    """429 with Retry-After: a page in English and Chinese for the console, JSON for the API."""
    said = {"seconds": retry_after}
    return _refusal(path, 429, retry_after, BUSY_DETAIL % said, BUSY_TITLE, BUSY_TEXT, said)


def stopped_response(path: str, stopped: Stopped) -> Response:
    """503 with Retry-After for a render stopped at its time limit, worded like busy_response."""
    detail = STOPPED_DETAIL % {"limit": stopped.limit}
    wait = RETRY_AFTER_STOPPED_SECONDS
    return _refusal(path, 503, wait, detail, STOPPED_TITLE, STOPPED_TEXT, {})


def _refusal(
    path: str,
    status: int,
    retry_after: int,
    detail: str,
    title: str,
    text: str,
    values: dict[str, int],
) -> Response:
    headers = {"Retry-After": str(retry_after), "Cache-Control": "no-store"}
    if not path.startswith("/console"):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    from app.templating import render

    said = [
        (tag, _catalogue(catalogue).gettext(title), _catalogue(catalogue).gettext(text))
        for tag, catalogue in (("en", "en"), ("zh-Hans", "zh_Hans"))
    ]
    context = {
        "said": [(tag, title, text % values if values else text) for tag, title, text in said],
        "me": None,
    }
    response: HTMLResponse = render("console/busy.html", context, language="en", status_code=status)
    response.headers.update(headers)
    return response
