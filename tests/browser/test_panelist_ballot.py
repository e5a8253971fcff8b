"""The ballot as a clinician meets it in a real browser: phone, keyboard, no JavaScript, Chinese."""

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext, Locator, Page, expect

from app.models import utcnow
from tests.browser.conftest import BrowserProblems
from tests.factories import StudyRun, start_study, study_body

CJK = re.compile(r"[\u3400-\u9fff]")


# --- arranging studies through the API -------------------------------------------------------


def open_first_round(run: StudyRun) -> dict[str, Any]:
    round1 = run.new_round()
    run.open_round(round1["id"], closes_at=utcnow() + timedelta(days=7))
    return round1


@pytest.fixture
def round1(client: TestClient, coordinator_token: str) -> StudyRun:
    """Round 1 open with three statements and three panelists."""
    run = start_study(client, coordinator_token, statements=3, panelists=3)
    open_first_round(run)
    return run


def bilingual_study(
    client: TestClient,
    token: str,
    *,
    statements: list[dict[str, Any]],
    panelists: list[dict[str, Any]],
) -> StudyRun:
    """A study in English and Chinese, with translated statements and panelists' languages."""
    run = StudyRun(client=client, token=token, study={})
    run.study = run.call(
        "POST", "/api/v1/studies", 201, json=study_body(languages=["en", "zh-Hans"])
    )
    sid = run.study["id"]
    run.statements = run.call("POST", f"/api/v1/studies/{sid}/statements", 201, json=statements)
    run.panelists = run.call("POST", f"/api/v1/studies/{sid}/panelists", 201, json=panelists)
    return run


def round_two_with_a_split_statement(run: StudyRun, comment: str) -> tuple[int, int]:
    """S01 reaches consensus in round 1; S02 (and any later one) splits the panel and is asked
    again in round 2, where panelist 0 rated it 2 and panelist 1 commented on S02."""
    s1, s2 = (s["id"] for s in run.statements[:2])
    later = [s["id"] for s in run.statements[2:]]
    round1 = open_first_round(run)
    for index, split in enumerate([2, 1, 9, 9, 5]):
        run.rate(index, {s1: 8, s2: split, **dict.fromkeys(later, split)}, submit=True)
    run.call(
        "PUT",
        "/api/v1/ballot",
        headers=run.as_panelist(1),
        json={"ratings": [{"statement_id": s2, "value": 1, "comment": comment}]},
    )
    run.close_round(round1["id"])
    run.open_round(run.new_round()["id"], closes_at=utcnow() + timedelta(days=7))
    return s1, s2


# --- what a panelist does --------------------------------------------------------------------


def sign_in(page: Page, run: StudyRun, index: int) -> None:
    page.goto(f"/p/{run.panelists[index]['token']}")
    expect(page).to_have_url(re.compile(r"/ballot$"))


def tile(page: Page, sid: int, value: int | str) -> Locator:
    """The big label a finger taps; the radio inside it is visually hidden."""
    return page.locator(f'label.point:has(input[name="rating-{sid}"][value="{value}"])')


def radio(page: Page, sid: int, value: int | str) -> Locator:
    return page.locator(f'input[name="rating-{sid}"][value="{value}"]')


def submit_button(page: Page) -> Locator:
    return page.locator('form.ballot button[name="action"][value="submit"]')


def focused(page: Page) -> dict[str, Any]:
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            return {tag: el.tagName.toLowerCase(), id: el.id, name: el.getAttribute("name"),
                    value: el.value, checked: !!el.checked};
        }"""
    )


def assert_no_horizontal_scroll(page: Page, width: int = 360) -> None:
    scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
    wide = page.evaluate(
        """(width) => [...document.querySelectorAll("body *")]
            .filter(el => el.getBoundingClientRect().right > width + 0.5)
            .slice(0, 5).map(el => el.tagName.toLowerCase() + "." + el.className)""",
        width,
    )
    assert scroll_width <= width, (scroll_width, wide)


# --- the tests -------------------------------------------------------------------------------


def test_phone_rate_submit_fix_the_missing_one_and_reopen(
    round1: StudyRun, page: Page, shot: Callable[[Page, str], Path], problems: BrowserProblems
) -> None:
    s1, s2, s3 = (s["id"] for s in round1.statements)
    sign_in(page, round1, 0)
    expect(page.locator("h1")).to_have_text("Round 1")
    expect(page.locator("fieldset.statement")).to_have_count(3)
    expect(page.locator(".progress-text")).to_contain_text("0 of 3 rated")
    expect(page.locator(".deadline time")).not_to_be_empty()
    shot(page, "1-opened")

    tile(page, s1, 8).click()
    tile(page, s2, 3).click()
    expect(page.locator(".progress-text")).to_contain_text("2 of 3 rated")
    expect(page.locator("#progress")).to_have_js_property("value", 2)
    page.fill(f"#comment-{s2}", "Only for patients who can still walk unaided.")
    # A full-page shot resizes the window; Chromium then scrolls a focused textarea back into
    # view a moment later, moving the page under the next click: leave the textarea first.
    page.locator(f"#comment-{s2}").blur()
    shot(page, "2-two-rated")

    submit_button(page).click()
    error = page.locator(f"#err-{s3}")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(page.locator(f"#s-{s3}")).to_have_class(re.compile(r"\bhas-error\b"))
    expect(page.locator(f"#err-{s1}")).to_have_count(0)
    expect(page.locator(f"#err-{s2}")).to_have_count(0)
    expect(page.locator(".alert[role=alert]")).to_be_visible()
    expect(radio(page, s1, 8)).to_be_checked()
    expect(radio(page, s2, 3)).to_be_checked()
    expect(page.locator(f"#comment-{s2}")).to_have_value(
        "Only for patients who can still walk unaided."
    )
    expect(page.locator(".flash")).to_have_count(0)
    shot(page, "3-validation-error")

    tile(page, s3, 5).click()
    expect(page.locator(".progress-text")).to_contain_text("3 of 3 rated")
    submit_button(page).click()
    expect(page.locator(".flash")).to_contain_text("Thank you: your ballot is submitted")
    expect(page.locator(".progress-text")).to_contain_text("3 of 3 rated")
    expect(page.locator(".progress-text")).to_contain_text(re.compile("submitted", re.I))
    shot(page, "4-submitted")

    again = page.context.new_page()
    again.goto("/ballot")
    expect(radio(again, s1, 8)).to_be_checked()
    expect(radio(again, s2, 3)).to_be_checked()
    expect(radio(again, s3, 5)).to_be_checked()
    expect(again.locator(f"#comment-{s2}")).to_have_value(
        "Only for patients who can still walk unaided."
    )
    expect(again.locator(".flash")).to_have_count(0)  # the thank-you is shown once
    shot(again, "5-reopened")
    assert not problems.seen


def test_progress_after_a_refused_submit_counts_the_answers_on_the_page(
    round1: StudyRun, page: Page, shot: Callable[[Page, str], Path]
) -> None:
    s1, s2, s3 = (s["id"] for s in round1.statements)
    sign_in(page, round1, 0)
    tile(page, s1, 8).click()
    tile(page, s2, 3).click()
    submit_button(page).click()
    expect(page.locator(f"#err-{s3}")).to_be_visible()
    shot(page, "refused")
    # the page kept two answers; the count beside them says so (not the saved count, 0)
    expect(page.locator(".progress-text")).to_contain_text("2 of 3 rated")
    expect(page.locator("#progress")).to_have_js_property("value", 2)


def test_round_two_shows_the_chart_my_last_rating_and_comments_as_plain_text(
    client: TestClient,
    coordinator_token: str,
    page: Page,
    shot: Callable[[Page, str], Path],
    problems: BrowserProblems,
) -> None:
    run = start_study(client, coordinator_token, statements=2, panelists=5)
    _, s2 = round_two_with_a_split_statement(run, "<b>bold?</b> Depends on the stage.")
    sign_in(page, run, 0)
    expect(page.locator("h1")).to_have_text("Round 2")
    expect(page.locator("fieldset.statement")).to_have_count(1)  # S01 reached consensus

    statement = page.locator(f"#s-{s2}")
    expect(statement.locator("svg.chart")).to_be_visible()
    expect(statement.locator("svg.chart rect.bar.mine")).to_have_count(1)
    expect(statement.locator("svg.chart text.tick.mine")).to_have_text("2")
    expect(statement.get_by_text("Your rating last round: 2")).to_be_visible()

    comments = statement.locator("details.comments")
    comment = comments.locator("li", has_text="Depends on the stage")
    expect(comment).to_be_hidden()
    comments.locator("summary").click()
    expect(comment).to_be_visible()
    expect(comment).to_have_text("<b>bold?</b> Depends on the stage.")
    expect(comments.locator("b")).to_have_count(0)
    expect(statement).not_to_contain_text("Expert")  # anonymised
    assert_no_horizontal_scroll(page)
    shot(page, "comments-open")
    assert not problems.seen


def test_chinese_panelist_sees_chinese_and_can_switch_to_english(
    client: TestClient,
    coordinator_token: str,
    page: Page,
    shot: Callable[[Page, str], Path],
    problems: BrowserProblems,
) -> None:
    chinese = "有监督的运动训练可以减轻糖尿病周围神经病理性疼痛。"
    run = bilingual_study(
        client,
        coordinator_token,
        statements=[
            {
                "text": "Supervised exercise reduces painful diabetic neuropathy.",
                "translations": {"zh-Hans": chinese},
            },
            {"text": "Only in English."},
        ],
        panelists=[{"name": "王医生", "language": "zh-Hans"}, {"name": "Dr Smith"}],
    )
    open_first_round(run)
    s1 = run.statements[0]["id"]
    sign_in(page, run, 0)

    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator(f"#s-{s1} legend")).to_contain_text(chinese)
    submit_label = submit_button(page).inner_text()
    shot(page, "zh-Hans")
    assert submit_label.strip() != "Submit"
    assert CJK.search(submit_label), (
        f"the Submit button reads {submit_label!r}; is messages.mo compiled for zh_Hans?"
    )
    assert_no_horizontal_scroll(page)

    page.locator(".lang select[name=language]").select_option("en")
    page.locator(".lang button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(submit_button(page)).to_have_text("Submit")
    expect(page.locator(".lang select[name=language]")).to_have_value("en")
    shot(page, "en")
    assert not problems.seen


def test_keyboard_only_panelist_moves_in_reading_order_and_chooses_with_keys(
    round1: StudyRun, page: Page, shot: Callable[[Page, str], Path], problems: BrowserProblems
) -> None:
    s1, s2, _ = (s["id"] for s in round1.statements)
    sign_in(page, round1, 0)

    page.keyboard.press("Tab")
    assert focused(page)["tag"] == "a"  # the skip link comes first
    expect(page.locator("a.skip")).to_be_in_viewport()

    radio(page, s1, 1).focus()
    page.keyboard.press("Space")
    assert focused(page) | {"tag": "input"} == {
        "tag": "input",
        "id": "",
        "name": f"rating-{s1}",
        "value": "1",
        "checked": True,
    }
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert (focused(page)["name"], focused(page)["value"]) == (f"rating-{s1}", "3")
    expect(radio(page, s1, 3)).to_be_checked()
    expect(radio(page, s1, 1)).not_to_be_checked()
    expect(page.locator(".progress-text")).to_contain_text("1 of 3 rated")
    shot(page, "1-radio-focused")

    page.keyboard.press("Tab")
    assert focused(page)["id"] == f"comment-{s1}"
    page.keyboard.type("Typed without a mouse.")
    expect(page.locator(f"#comment-{s1}")).to_have_value("Typed without a mouse.")

    page.keyboard.press("Tab")  # the next statement's evidence, read before rating it
    assert focused(page)["tag"] == "summary"
    page.keyboard.press("Tab")
    now = focused(page)
    assert (now["name"], now["value"], now["checked"]) == (f"rating-{s2}", "1", False)
    page.keyboard.press("ArrowLeft")  # wraps round to "unable to rate"
    assert (focused(page)["name"], focused(page)["value"]) == (f"rating-{s2}", "abstain")
    expect(radio(page, s2, "abstain")).to_be_checked()
    shot(page, "2-next-statement")

    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert focused(page)["id"] == f"comment-{s1}"
    assert not problems.seen


def test_ballot_works_without_javascript(
    new_context: Callable[..., BrowserContext],
    round1: StudyRun,
    shot: Callable[[Page, str], Path],
    problems: BrowserProblems,
) -> None:
    s1, s2, _ = (s["id"] for s in round1.statements)
    page = new_context(java_script_enabled=False).new_page()
    sign_in(page, round1, 1)
    expect(page.locator(".progress-text")).to_contain_text("0 of 3 rated")

    tile(page, s1, 6).click()
    tile(page, s2, "abstain").click()
    expect(radio(page, s1, 6)).to_be_checked()
    page.fill(f"#comment-{s1}", "Saved without scripts.")
    shot(page, "1-rated")
    page.get_by_role("button", name="Save and continue later").click()

    expect(page.locator(".flash")).to_contain_text("Your answers are saved")
    expect(radio(page, s1, 6)).to_be_checked()
    expect(radio(page, s2, "abstain")).to_be_checked()
    expect(page.locator(f"#comment-{s1}")).to_have_value("Saved without scripts.")
    expect(page.locator(".progress-text")).to_contain_text("2 of 3 rated")
    shot(page, "2-saved")
    assert not problems.seen


def test_no_horizontal_scrolling_at_360_px(
    client: TestClient,
    coordinator_token: str,
    page: Page,
    shot: Callable[[Page, str], Path],
    problems: BrowserProblems,
) -> None:
    long_url = "https://example.org/guidelines/" + "neuropathic-pain-exercise-" * 6 + "2024.pdf"
    run = start_study(client, coordinator_token, statements=3, panelists=5)
    _, s2 = round_two_with_a_split_statement(run, f"See {long_url}")
    sign_in(page, run, 0)
    page.locator(f"#s-{s2} details.comments summary").click()
    expect(page.locator(f"#s-{s2} details.comments li").first).to_be_visible()
    shot(page, "1-round-two")
    assert_no_horizontal_scroll(page)

    submit_button(page).click()  # nothing rated: every statement gets its message
    expect(page.locator("p.error").first).to_be_visible()
    shot(page, "2-errors")
    assert_no_horizontal_scroll(page)
    assert not problems.seen


def _evidence_study(client: TestClient, token: str) -> StudyRun:
    """Two statements in both languages; the first with three sources and a summary."""
    run = bilingual_study(
        client,
        token,
        statements=[
            {
                "text": "Supervised aerobic exercise reduces painful diabetic neuropathy.",
                "translations": {"zh-Hans": "有监督的有氧运动可以减轻痛性糖尿病周围神经病变。"},
            },
            {
                "text": "Balance training reduces falls in chemotherapy-induced neuropathy.",
                "translations": {"zh-Hans": "平衡训练可以减少化疗引起的周围神经病变患者跌倒。"},
            },
        ],
        panelists=[{"name": "Dr Smith"}, {"name": "王医生", "language": "zh-Hans"}],
    )
    s1 = run.statements[0]["id"]
    for source in (
        {
            "citation": "Kluding PM et al. 2012, J Diabetes Complications 26(5):424-9",
            "design": "rct",
            "pedro": 7,
            "doi": "10.1016/j.jdiacomp.2012.05.007",
        },
        {
            "citation": "Gu Y et al. 2019, Diabetes Metab Syndr",
            "design": "systematic_review",
            "amstar2": "moderate",
            "pooled_levels": ["1b"],
            "pmid": "30641710",
        },
        {"citation": "Exercise guideline group 2018", "design": "expert_opinion"},
    ):
        run.call(
            "POST",
            f"/api/v1/studies/{run.study['id']}/sources",
            201,
            json={**source, "statement_ids": [s1]},
        )
    run.call(
        "PUT",
        f"/api/v1/statements/{s1}/evidence-summary",
        json={
            "summary": {
                "en": "One good-quality trial and one review found less pain after 10-16 weeks "
                "of supervised aerobic exercise; the effect was moderate.",
                "zh-Hans": "一项高质量试验和一篇系统综述发现，有监督的有氧运动10-16周后疼痛减轻，"
                "效果中等。",
            }
        },
    )
    open_first_round(run)
    return run


@pytest.mark.parametrize(("width", "index"), [(390, 0), (390, 1), (1280, 0), (1280, 1)])
def test_evidence_panel_is_collapsed_opens_and_links_to_the_sources(
    client: TestClient,
    coordinator_token: str,
    new_context: Callable[..., BrowserContext],
    shot: Callable[[Page, str], Path],
    problems: BrowserProblems,
    width: int,
    index: int,
) -> None:
    run = _evidence_study(client, coordinator_token)
    s1 = run.statements[0]["id"]
    page = new_context(viewport={"width": width, "height": 844}).new_page()
    sign_in(page, run, index)
    panel = page.locator(f"#ev-{s1}")
    expect(panel).not_to_have_attribute("open", "")
    expect(panel.locator("a").first).to_be_hidden()
    # Closed, it is one line: the statement's rating points stay on the same screen.
    page.locator(f"#s-{s1} legend").scroll_into_view_if_needed()
    legend = page.locator(f"#s-{s1} legend").bounding_box()
    scale = page.locator(f"#s-{s1} .scale").bounding_box()
    assert legend is not None
    assert scale is not None
    assert scale["y"] + scale["height"] - legend["y"] < 844, (legend, scale)
    shot(page, "1-closed")
    if width == 390:
        assert_no_horizontal_scroll(page, width)

    panel.locator("summary").first.click()
    expect(panel).to_have_attribute("open", "")
    links = panel.locator("ul.ev-sources a")
    expect(links).to_have_count(2)
    expect(links.nth(0)).to_have_attribute("href", "https://doi.org/10.1016/j.jdiacomp.2012.05.007")
    expect(links.nth(1)).to_have_attribute("href", "https://pubmed.ncbi.nlm.nih.gov/30641710/")
    expect(panel.locator(".ev-summary")).to_be_visible()
    if index == 1:
        expect(panel.locator(".ev-summary")).to_have_attribute("lang", "zh-Hans")
    panel.scroll_into_view_if_needed()
    shot(page, "2-open")
    if width == 390:
        assert_no_horizontal_scroll(page, width)
    assert not problems.seen


def test_changing_language_keeps_the_rating_just_chosen(
    client: TestClient,
    coordinator_token: str,
    page: Page,
    shot: Callable[[Page, str], Path],
    problems: BrowserProblems,
) -> None:
    run = _evidence_study(client, coordinator_token)
    s1 = run.statements[0]["id"]
    sign_in(page, run, 0)
    tile(page, s1, 8).click()
    page.locator(".lang select[name=language]").select_option("zh-Hans")
    page.locator(".lang button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(radio(page, s1, 8)).to_be_checked()
    expect(page.locator("p.flash")).to_be_visible()
    shot(page, "switched")
    assert not problems.seen
