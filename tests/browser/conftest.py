"""A real Chromium (Debian's, never a downloaded one) driving the app under a live uvicorn.

One browser per test session; a fresh context (cookie jar, viewport) per test. Every test can
save screenshots to test-output/browser/<test name>-<step>.png for a person to look at.
"""

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    sync_playwright,
)

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 360, "height": 740}
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        # CI installs Debian's chromium (.ci/run): there a missing browser is a failure.
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is not installed at {CHROMIUM}; .ci/run should install it")
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
    yield browser
    browser.close()


class BrowserProblems:
    """What a page got wrong while a test ran: script errors, console errors (a blocked script or
    style under the CSP is one) and stylesheets, scripts or images that failed to load.

    Pages themselves may answer 4xx on purpose (422 for a form with mistakes), and Chromium logs
    each such answer as "Failed to load resource"; those lines are left out here.
    """

    SUBRESOURCES = frozenset({"stylesheet", "script", "image", "font"})

    def __init__(self) -> None:
        self.seen: list[str] = []

    def watch(self, context: BrowserContext) -> None:
        context.on("weberror", lambda error: self.seen.append(f"page error: {error.error}"))
        context.on("console", self._console)
        context.on("response", self._response)

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.seen.append(f"console: {msg.text}")

    def _response(self, response: Response) -> None:
        if response.status >= 400 and response.request.resource_type in self.SUBRESOURCES:
            self.seen.append(f"{response.status} for {response.url}")


@pytest.fixture
def problems() -> BrowserProblems:
    return BrowserProblems()


@pytest.fixture
def new_context(
    browser: Browser, live_server: str, problems: BrowserProblems
) -> Iterator[Callable[..., BrowserContext]]:
    """Open browser contexts (phone-sized unless told) on the live server; all closed afterwards."""
    opened: list[BrowserContext] = []

    def make(**options: object) -> BrowserContext:
        options.setdefault("viewport", PHONE)
        options.setdefault("base_url", live_server)
        options.setdefault("locale", "en-GB")
        options.setdefault("timezone_id", "Europe/London")
        context = browser.new_context(**options)  # type: ignore[arg-type]
        context.set_default_timeout(5_000)
        problems.watch(context)
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


@pytest.fixture
def context(new_context: Callable[..., BrowserContext]) -> BrowserContext:
    return new_context()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """shot(page, "step") saves a full-page screenshot named after the test and the step."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def take(page: Page, step: str) -> Path:
        path = SHOTS / f"{name}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
