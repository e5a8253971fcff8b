"""Colours meet WCAG AA contrast, and cookies turn secure behind HTTPS."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.matching import found

CSS = (Path(__file__).resolve().parents[2] / "app" / "web" / "static" / "app.css").read_text()


def _var(name: str) -> str:
    colour = found(rf"--{name}:\s*(#[0-9a-fA-F]{{3,6}})\b", CSS).group(1)
    return colour if len(colour) == 7 else "#" + "".join(c * 2 for c in colour[1:])


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


FEEDBACK_BG = "#f0f4f8"


@pytest.mark.parametrize(
    ("what", "foreground", "background"),
    [
        ("body text", _var("ink"), _var("bg")),
        ("muted text on cards", _var("muted"), _var("card")),
        ("muted text on the page", _var("muted"), _var("bg")),
        ("selected rating tile", _var("accent-ink"), _var("accent")),
        ("secondary button", _var("accent"), "#ffffff"),
        ("own previous rating", _var("mine"), FEEDBACK_BG),
        ("error messages", _var("bad"), _var("card")),
        ("header", "#ffffff", "#12324f"),
        ("chart bars against the panel", "#5b7a99", FEEDBACK_BG),
    ],
)
def test_text_meets_wcag_aa_contrast(what: str, foreground: str, background: str) -> None:
    needed = 3.0 if what.startswith("chart") else 4.5  # non-text graphics need 3:1
    assert contrast(foreground, background) >= needed, (what, contrast(foreground, background))


def test_session_cookie_is_secure_when_served_over_https(
    client: TestClient, coordinator_token: str
) -> None:
    from app.settings import get_settings
    from tests.factories import start_study

    run = start_study(client, coordinator_token, statements=1, panelists=1)
    settings = get_settings()
    before, settings.base_url = settings.base_url, "https://delphi.example.org"
    try:
        response = client.get(f"/p/{run.panelists[0]['token']}", follow_redirects=False)
    finally:
        settings.base_url = before
    assert "secure" in response.headers["set-cookie"].lower()
