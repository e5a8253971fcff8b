"""Uploads have their own body limit: a realistic reference library is previewed and imported,
and every limit page is the app's styled page in the visitor's language."""

import asyncio
import base64
import html
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send

from app.middleware import BodyLimit
from app.services import import_limits
from app.settings import get_settings
from app.web.limits import limit_page
from tests.matching import found
from tests.web.test_console import csrf, new_study, signed_in

ABSTRACT = (
    "Background: neuropathic pain after spinal cord injury is common and hard to treat. "
    "Methods: adults were randomised to supervised exercise or usual care for twelve weeks; "
    "pain intensity, interference and quality of life were measured at baseline and after. "
) * 16


def library(references: int) -> bytes:
    """A RIS export of `references` journal articles, each with its abstract (~4 kB a piece)."""
    lines = []
    for number in range(1, references + 1):
        lines += [
            "TY  - JOUR",
            f"TI  - Exercise and neuropathic pain: trial {number}",
            f"AU  - Author{number}, Ann",
            "T2  - Spinal Cord",
            f"PY  - {2000 + number % 25}",
            f"DO  - 10.1038/sc.{number}",
            "KW  - design: rct",
            f"AB  - {ABSTRACT}",
            "ER  - ",
            "",
        ]
    return "\n".join(lines).encode()


def test_a_library_of_350_references_with_abstracts_is_previewed_and_imported(
    session: Session,
) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    content = library(350)
    assert 1_400_000 < len(content) < 1_700_000
    assert get_settings().max_body_bytes < len(content)
    url = f"/console/studies/{study_id}/import/evidence"
    token = csrf(web.get(f"/console/studies/{study_id}/import").text)
    preview = web.post(
        url,
        data={"csrf_token": token},
        files={"file": ("library.ris", content, "application/x-research-info-systems")},
    )
    assert preview.status_code == 200, preview.text[-3000:]
    carried = found(r'name="content" value="([^"]+)"', preview.text).group(1)
    assert base64.b64decode(carried) == content  # 2 MB carried back, within the upload limit
    imported = web.post(
        url,
        data={
            "csrf_token": token,
            "action": "import",
            "filename": "library.ris",
            "content": carried,
        },
    )
    assert imported.status_code == 303, imported.text[:500]
    assert "Imported 350 evidence" in web.get(imported.headers["location"]).text


def test_the_largest_file_an_import_reads_fits_the_upload_limit_once_carried_back() -> None:
    most = import_limits.max_file_bytes()
    assert most >= 10_000_000
    carried = len(base64.b64encode(b"x" * most))
    assert carried + import_limits.FORM_ROOM <= get_settings().max_upload_bytes


def test_an_upload_over_its_limit_gets_a_styled_page_in_chinese(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    response = web.post(
        f"/console/studies/{study_id}/import/evidence",
        content=b"x" * (get_settings().max_upload_bytes + 1),
        headers={"content-type": "multipart/form-data; boundary=x", "accept-language": "zh-CN"},
    )
    assert response.status_code == 413
    page = html.unescape(response.text)
    assert '<html lang="zh-Hans">' in page
    assert 'class="card message"' in page  # the app's page, with its stylesheet
    assert "/static/" in page
    assert "文件大于 20 MB" in page


def test_a_form_over_the_body_limit_gets_a_styled_page_in_english_and_in_chinese(
    client: TestClient,
) -> None:
    body = {"comment": "x" * (get_settings().max_body_bytes + 1)}
    english = client.post("/ballot", data=body)
    assert english.status_code == 413
    assert '<html lang="en">' in english.text
    assert "larger than 1 MB" in english.text
    assert "Go back" in english.text
    chinese = client.post("/ballot?lang=zh-Hans", data=body)
    assert '<html lang="zh-Hans">' in chinese.text
    assert "超过 1 MB" in html.unescape(chinese.text)
    api = client.put("/api/v1/ballot", content=b"x" * (get_settings().max_body_bytes + 1))
    assert api.json() == {
        "detail": "The request body is larger than 1 MB; send less in one request."
    }


def test_a_body_that_arrives_too_slowly_gets_a_styled_page_in_the_visitors_language() -> None:
    async def app(_scope: Scope, _receive: Receive, _send: Send) -> None:
        raise AssertionError("the app is never reached")

    async def slow() -> Message:
        await asyncio.sleep(1)
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: Message) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/ballot",
        "query_string": b"",
        "headers": [(b"accept-language", b"zh-CN,zh;q=0.9")],
    }
    limit = BodyLimit(app, max_bytes=1_000, read_timeout=0.01, page=limit_page)
    # A thread of its own: a browser test earlier in the run may leave this thread's loop running.
    with ThreadPoolExecutor(max_workers=1) as apart:
        apart.submit(asyncio.run, limit(scope, slow, send)).result(timeout=30)
    assert sent[0]["status"] == 408
    page = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    assert '<html lang="zh-Hans">' in page
    assert 'class="card message"' in page
