"""Pages of #15.6 in a real browser: failed messages sent again, personal links downloaded as a
CSV, the study page's sentence about a further round, and the styled limit page in Chinese."""

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy.orm import Session

from app.models import DeliveryAttempt, OutboxMessage, Role, utcnow
from app.services import accounts
from tests.browser.conftest import BrowserProblems

PASSWORD = "a long passphrase"
DESK = {"width": 1280, "height": 900}
PANEL = "name;email;group\nDr A;a@example.org;physiatrists\nDr B;b@example.org;physiatrists\n"


def test_links_csv_failed_mail_and_the_next_round_sentence(
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
    desk.fill("#groups", "physiatrists")
    desk.click("button:has-text('Create study')")
    study_url = desk.url
    desk.click("text=Import statements or panelists")
    panel = tmp_path / "panel.csv"
    panel.write_text(PANEL, encoding="utf-8")
    form = desk.locator("form[action$='/import/panelists']")
    form.locator("input[type=file]").set_input_files(str(panel))
    form.locator("button").click()
    desk.click("button:has-text('Import 2 row(s)')")
    expect(desk.locator("button:has-text('Download these links as CSV')")).to_be_visible()
    shot(desk, "1-links")
    with desk.expect_download() as caught:
        desk.click("button:has-text('Download these links as CSV')")
    sheet = caught.value.path().read_bytes().decode("utf-8-sig")
    assert sheet.startswith("code,name,email,language,link")
    assert sheet.count("/p/dp_") == 2

    # Two invitations that the SMTP server refused for good.
    desk.goto(study_url + "/outbox")
    desk.click("button:has-text('Invite panelists not yet invited')")
    for message in session.query(OutboxMessage).all():
        message.status = "failed"
        session.add(
            DeliveryAttempt(
                message_id=message.id,
                at=utcnow(),
                outcome="failed",
                detail="550 5.1.1 No such mailbox",
            )
        )
    session.commit()
    desk.reload()
    shot(desk, "2-outbox-failed")
    desk.click("button:has-text('Send failed messages again')")
    expect(desk.locator(".flash")).to_contain_text("2 failed message(s) queued again")
    shot(desk, "3-outbox-queued-again")

    desk.goto(study_url)
    desk.locator("section").filter(has_text="Statements").locator(
        "textarea, input[name=text]"
    ).first.fill("Walking helps")
    desk.click("button:has-text('Add statement')")
    desk.click("button:has-text('Create round 1 as a draft')")
    desk.fill("input[name=closes_at]", "2099-01-01T18:00")
    desk.click("button:has-text('Open round 1')")
    expect(desk.locator("#next-round")).to_contain_text("Round 1 is open.")
    shot(desk, "4-study-round-open")
    assert not problems.seen, problems.seen


def test_the_limit_page_is_styled_and_chinese(
    new_context: Callable[..., BrowserContext], shot: Callable[[Page, str], Path]
) -> None:
    page = new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"}).new_page()
    page.goto("/")
    page.set_content(
        '<form method="post" action="/ballot"><textarea name="comment"></textarea>'
        "<button>send</button></form>"
    )
    page.evaluate("document.querySelector('textarea').value = 'x'.repeat(1100000)")
    with page.expect_navigation():
        page.click("button")
    expect(page.locator("h1")).to_have_text("未发送")
    shot(page, "413-zh")
