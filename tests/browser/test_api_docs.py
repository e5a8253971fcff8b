"""Swagger UI renders the API with every request to another host refused, as on a ward network
that blocks CDNs."""

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, Route

from tests.browser.conftest import BrowserProblems


def test_api_docs_render_with_the_internet_blocked(
    page: Page,
    live_server: str,
    problems: BrowserProblems,
    shot: Callable[[Page, str], Path],
) -> None:
    outside: list[str] = []

    def only_this_server(route: Route) -> None:
        if route.request.url.startswith(live_server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/docs")
    page.locator(".opblock").first.wait_for(timeout=15_000)
    assert page.locator(".opblock").count() > 20  # the endpoints are listed
    assert page.get_by_text("Delphi consensus platform").first.is_visible()
    shot(page, "docs")
    assert outside == []
    assert problems.seen == []
