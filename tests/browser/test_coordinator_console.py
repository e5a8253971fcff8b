"""A coordinator runs two rounds from the console while a panelist votes in another browser."""

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy.orm import Session

from app.models import Role
from app.services import accounts
from tests.browser.conftest import BrowserProblems

PASSWORD = "a long passphrase"
DESK = {"width": 1280, "height": 900}


def test_coordinator_imports_runs_and_revises_while_a_panelist_votes(
    session: Session,
    new_context: Callable[..., BrowserContext],
    problems: BrowserProblems,
    shot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    accounts.create_user(session, email="lead@example.org", password=PASSWORD, role=Role.admin)
    session.commit()
    desk = new_context(viewport=DESK).new_page()
    desk.goto("/console")
    desk.fill("#email", "lead@example.org")
    desk.fill("#password", PASSWORD)
    desk.click("button:has-text('Sign in')")
    desk.click("text=New study")
    desk.fill("#title", "Exercise for neuropathic pain")
    desk.fill("#groups", "physiatrists, physiotherapists")
    desk.click("button:has-text('Create study')")
    expect(desk.locator(".rule")).to_contain_text("at least 70 % rate it 7–9")
    shot(desk, "1-study")

    # statements, then a panel file with a mistake in row 3, then the fixed file
    desk.click("text=Import statements or panelists")
    statements = tmp_path / "statements.csv"
    statements.write_text(
        "key;text\nS01;Strength training helps\nS02;Aquatic exercise helps\n", encoding="utf-8-sig"
    )
    desk.set_input_files("#file-statements", str(statements))
    desk.locator("form:has(#file-statements) button").click()
    desk.click("button:has-text('Import 2 row(s)')")
    desk.click("text=Import statements or panelists")
    panel = tmp_path / "panel.csv"
    panel.write_text(
        "name,email,group\nDr A,a@example.org,physiatrists\nDr B,b@example.org,nurses\n",
        encoding="utf-8-sig",
    )
    desk.set_input_files("#file-panelists", str(panel))
    desk.locator("form:has(#file-panelists) button").click()
    expect(desk.locator("table.data")).to_contain_text("nurses")
    shot(desk, "2-import-error")
    panel.write_text(
        panel.read_text(encoding="utf-8-sig").replace("nurses", "physiotherapists"),
        encoding="utf-8-sig",
    )
    desk.click("text=← Import")
    desk.set_input_files("#file-panelists", str(panel))
    desk.locator("form:has(#file-panelists) button").click()
    desk.click("button:has-text('Import 2 row(s)')")
    links = re.findall(r"http://\S+/p/dp_[\w-]+", desk.locator("table.data").inner_text())
    assert len(links) == 2
    shot(desk, "3-links")

    desk.click("text=Back to the study")
    desk.click("button:has-text('Create round 1 as a draft')")
    desk.fill("#open-at", "2099-01-01T12:00")
    desk.click("button:has-text('Open round 1')")
    expect(desk.locator("#dashboard")).to_contain_text("0 of 2 panelists have answered")

    # the panelist votes on a phone; the coordinator's dashboard moves
    phone = new_context().new_page()
    phone.goto("/p/" + links[0].rsplit("/p/", 1)[1])  # the live server, not DELPHI_BASE_URL
    phone.locator("fieldset.statement").nth(0).locator("label.point", has_text="8").click()
    phone.locator("fieldset.statement").nth(1).locator("label.point", has_text="5").click()
    phone.click("button:has-text('Submit')")
    expect(phone.locator(".flash")).to_be_visible()
    desk.reload()
    expect(desk.locator("#dashboard")).to_contain_text("1 of 2 panelists have answered")
    shot(desk, "4-dashboard")

    desk.click("text=Close round 1…")
    expect(desk.locator("main")).to_contain_text("cannot be undone")
    desk.click("button:has-text('Close round 1 now')")
    expect(desk.locator("h1")).to_contain_text("Round 1 results")
    shot(desk, "5-results")

    desk.click("text=← Exercise for neuropathic pain")
    revise = desk.locator("#statements details").nth(1)  # S02 had no consensus
    revise.locator("summary").click()
    revise.locator("textarea[name=text]").fill("Warm-water aquatic exercise helps")
    revise.locator("input[name=rationale]").fill("Panelists asked about water temperature")
    revise.locator("button").click()
    expect(desk.locator(".flash")).to_contain_text("revised (version 2)")
    desk.click("button:has-text('Create round 2 as a draft')")
    desk.fill("#open-at", "2099-02-01T12:00")
    desk.click("button:has-text('Open round 2')")
    expect(desk.locator("#dashboard")).to_contain_text("Round 2 is open")
    shot(desk, "6-round-2")
    phone.goto("/ballot")
    shot(phone, "7-panelist-round-2")
    expect(phone.locator("main")).to_contain_text("The wording has changed since round 1")
    shot(phone, "7-panelist-round-2")
    assert not problems.seen
