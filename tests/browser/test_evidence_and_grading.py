"""A coordinator grades with GRADE and the panel's strength vote; a panelist votes on a phone."""

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


def test_evidence_grading_table_strength_vote_and_finalization(
    session: Session,
    new_context: Callable[..., BrowserContext],
    problems: BrowserProblems,
    shot: Callable[[Page, str], Path],
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
    desk.fill("#max_rounds", "1")
    desk.select_option("#evidence_scheme", "grade")
    desk.check("input[name=strength_vote]")
    desk.click("button:has-text('Create study')")
    expect(desk.locator("#rules")).to_contain_text("the final round asks each recommendation")

    desk.fill("#new-text", "Aerobic exercise is recommended for painful diabetic neuropathy")
    desk.click("button:has-text('Add statement')")
    desk.fill("#p-name", "Dr Wang")
    desk.click("button:has-text('Add panelist')")
    expect(desk.locator("h1")).to_contain_text("P01 added")  # the link, on its own page
    found = re.search(r"/p/dp_[\w-]+", desk.locator("code.token").inner_text())
    assert found is not None
    link = found.group(0)
    desk.click("text=Back to the study")

    # evidence: two good trials, then the grading table from the preset that uses the vote
    desk.click("text=Evidence and grades")
    for citation, pedro in (("Smith 2019", "7"), ("Li 2020", "8")):
        desk.fill("#citation", citation)
        desk.select_option("#design", "rct")
        desk.fill("#pedro", pedro)
        desk.locator("#sources input[type=checkbox]").first.check()
        desk.click("button:has-text('Add source')")
    expect(desk.locator("#levels")).to_contain_text("High")
    desk.click("text=Change the grading table")
    desk.click('button:has-text("the panel\'s strength vote")')
    expect(desk.locator("#in-words")).to_contain_text(
        "the panel's choice of strength (at least 70 % of its votes) is strong for"
    )
    desk.fill("input[name=row-0-min_pct_agree]", "150")
    desk.click("button:has-text('Save the grading table')")
    expect(desk.locator(".alert")).to_contain_text("Row 1 (at least % agree)")
    expect(desk.locator("input[name=row-0-min_pct_agree]")).to_have_value("150")
    shot(desk, "1-grading-error")
    desk.fill("input[name=row-0-min_pct_agree]", "")
    desk.click("button:has-text('Save the grading table')")
    expect(desk.locator(".flash")).to_contain_text("Grading table saved (4 rows)")
    shot(desk, "2-grading-table")

    desk.click("text=← Evidence and grades")
    desk.click("text=← Exercise for neuropathic pain")
    desk.click("button:has-text('Create round 1 as a draft')")
    expect(desk.locator("input[name=asks_strength]")).to_be_checked()
    desk.fill("#open-at", "2099-01-01T12:00")
    desk.click("button:has-text('Open round 1')")

    phone = new_context().new_page()
    phone.goto(link)
    expect(phone.locator(".notice")).to_contain_text("Besides your rating, choose how strong")
    statement = phone.locator("fieldset.statement").first
    statement.locator("label.point", has_text="8").click()
    statement.locator("label.choice", has_text="Strong recommendation for").click()
    shot(phone, "3-panelist-strength")
    phone.click("button:has-text('Submit')")
    expect(phone.locator(".flash")).to_be_visible()

    desk.click("text=Close round 1…")
    desk.click("button:has-text('Close round 1 now')")
    expect(desk.locator("table.data")).to_contain_text("strong for (1 of 1 votes, 100 %)")
    shot(desk, "4-results")
    desk.click("text=← Exercise for neuropathic pain")
    desk.click("text=Evidence and grades")
    expect(desk.locator("#grades")).to_contain_text("Strong recommendation for")
    shot(desk, "5-evidence")
    desk.check("input[name=confirm]")
    desk.click("button:has-text('Finalize the study')")
    expect(desk.locator("main")).to_contain_text("content hash")
    phone.goto("/ballot")
    expect(phone.locator(".outcomes")).to_contain_text("Strong recommendation for")
    shot(phone, "6-panelist-final")
    assert not problems.seen
