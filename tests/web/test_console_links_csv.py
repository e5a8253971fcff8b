"""Personal links as a CSV for a mail merge: made from the page that shows them, checked against
the stored hashes, coordinators only, audited without a link, quoted against formulas."""

import codecs
import csv
import html
import io

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Role
from app.services import accounts, audit
from tests.matching import found
from tests.web.test_console import PASSWORD, csrf, new_study, post, signed_in

PANEL = (
    "name;email;group;language\n"
    "=Dr A;a@example.org;physiatrists;zh-Hans\n"
    "Dr B;b@example.org;physiatrists;en\n"
)


def _imported(web: TestClient, study_id: int) -> str:
    """The links page an import answers with."""
    url = f"/console/studies/{study_id}/import/panelists"
    token = csrf(web.get(f"/console/studies/{study_id}/import").text)
    file = ("panel.csv", PANEL.encode("utf-8-sig"), "text/csv")
    preview = web.post(url, data={"csrf_token": token}, files={"file": file})
    assert preview.status_code == 200, preview.text[-2000:]
    carried = found(r'name="content" value="([^"]+)"', preview.text).group(1)
    imported = web.post(
        url,
        data={"csrf_token": token, "action": "import", "filename": "panel.csv", "content": carried},
    )
    assert imported.status_code == 201
    return imported.text


def _links(page: str) -> str:
    return html.unescape(found(r'name="links" value="([^"]*)"', page).group(1))


def test_the_links_an_import_shows_download_as_a_csv_for_a_mail_merge(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web, groups="physiatrists", **{"lang_zh-Hans": "on"})
    page = _imported(web, study_id)
    links = _links(page)
    shown = found(r"/p/(dp_[\w-]+)", page).group(0)
    assert shown.rsplit("/", 1)[1] in links.split()
    assert page.count("/p/dp_") == 2  # each link shown once; the form carries the tokens
    response = web.post(
        f"/console/studies/{study_id}/links.csv", data={"csrf_token": csrf(page), "links": links}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("text/csv")
    assert "personal-links" in response.headers["content-disposition"]
    assert response.content.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["code", "name", "email", "language", "link"]
    assert [row[:4] for row in rows[1:]] == [
        ["P01", "'=Dr A", "a@example.org", "zh-Hans"],  # a formula is quoted, never run
        ["P02", "Dr B", "b@example.org", "en"],
    ]
    assert [row[4].rsplit("/", 1)[1] for row in rows[1:]] == links.split()
    assert all(row[4].startswith("http") for row in rows[1:])
    (entry,) = [
        e for e in audit.entries(session, study_id=study_id) if e.action == "panel.links_downloaded"
    ]
    assert entry.detail == {"count": 2, "codes": ["P01", "P02"]}
    token = shown.rsplit("/", 1)[1]
    assert all(token not in str(e.detail) for e in audit.entries(session, study_id=study_id))


def test_a_tampered_or_re_issued_link_is_refused(session: Session) -> None:
    web = signed_in(session)
    study_id = new_study(web, groups="physiatrists", **{"lang_zh-Hans": "on"})
    page = _imported(web, study_id)
    links = _links(page)
    url = f"/console/studies/{study_id}/links.csv"
    forged = web.post(
        url, data={"csrf_token": csrf(page), "links": links + " http://x/p/dp_" + "a" * 32}
    )
    assert forged.status_code == 422
    assert "no longer valid" in forged.text
    not_a_link = web.post(url, data={"csrf_token": csrf(page), "links": "=HYPERLINK(1)"})
    assert not_a_link.status_code == 422
    assert "not a personal link" in not_a_link.text
    nothing = web.post(url, data={"csrf_token": csrf(page), "links": ""})
    assert nothing.status_code == 422

    study_page = web.get(f"/console/studies/{study_id}").text
    panelist_id = found(r"/console/panelists/(\d+)/link", study_page).group(1)
    reissued = post(web, f"/console/panelists/{panelist_id}/link", f"/console/studies/{study_id}")
    assert reissued.status_code == 201
    assert len(_links(reissued.text).split()) == 1  # the re-issue page offers its one link
    stale = web.post(url, data={"csrf_token": csrf(page), "links": links})
    assert stale.status_code == 422  # one of them was replaced
    fresh = web.post(url, data={"csrf_token": csrf(page), "links": _links(reissued.text)})
    assert fresh.status_code == 200


def test_an_observer_cannot_download_links(session: Session) -> None:
    lead = signed_in(session)
    study_id = new_study(lead, groups="physiatrists", **{"lang_zh-Hans": "on"})
    links = _links(_imported(lead, study_id))
    accounts.create_user(
        session, email="watcher@example.org", password=PASSWORD, role=Role.observer
    )
    session.commit()
    study_url = f"/console/studies/{study_id}"
    post(lead, f"{study_url}/members", study_url, email="watcher@example.org")
    watcher = signed_in(session, email="watcher@example.org", role=Role.observer)
    token = csrf(watcher.get(study_url).text)
    response = watcher.post(f"{study_url}/links.csv", data={"csrf_token": token, "links": links})
    assert response.status_code == 403
    assert "dp_" not in response.text
