"""The console's e-mail page: failed messages are sent again, one or all of a kind, and every
try stays in the delivery history."""

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.delivery import deliver_due
from tests.mailing import Recorder, messages, outcomes, reload
from tests.web.test_console import new_study, post, signed_in


def _study_with_failed_invitations(session: Session, smtp: Recorder) -> tuple[TestClient, str]:
    web = signed_in(session)
    study_url = f"/console/studies/{new_study(web)}"
    post(web, f"{study_url}/statements", study_url, text="Walking helps")
    for name, email in (("Dr A", "a@example.org"), ("Dr B", "b@example.org")):
        post(
            web,
            f"{study_url}/panelists",
            study_url,
            name=name,
            email=email,
            group="physiatrists",
            language="en",
        )
    smtp.unknown.update({"a@example.org", "b@example.org"})
    assert post(web, f"{study_url}/outbox/invite", f"{study_url}/outbox").status_code == 303
    assert deliver_due().failed == 2
    smtp.unknown.clear()
    return web, f"{study_url}/outbox"


def test_all_failed_messages_of_a_kind_are_sent_again(session: Session, smtp: Recorder) -> None:
    web, outbox_url = _study_with_failed_invitations(session, smtp)
    page = web.get(outbox_url).text
    assert "Send failed messages again" in page
    assert '<option value="invitation">invitation (2)</option>' in page
    held_again = post(web, f"{outbox_url}/requeue", outbox_url)
    assert held_again.status_code == 303  # "held again" leaves failed messages alone
    reload(session)
    assert {m.status for m in messages(session)} == {"failed"}

    response = post(web, f"{outbox_url}/retry-failed", outbox_url, kind="invitation")
    assert response.status_code == 303
    assert "2 failed message(s) queued again" in web.get(outbox_url).text
    assert deliver_due().sent == 2
    reload(session)
    for message in messages(session):
        assert [o for o, _ in outcomes(session, message)] == ["failed", "sent"]
    assert "Send failed messages again" not in web.get(outbox_url).text


def test_one_failed_message_is_sent_again(session: Session, smtp: Recorder) -> None:
    web, outbox_url = _study_with_failed_invitations(session, smtp)
    first, second = messages(session)
    url = f"{outbox_url}/{first.id}/requeue"
    assert post(web, url, outbox_url).status_code == 303
    assert deliver_due().sent == 1
    reload(session)
    assert [o for o, _ in outcomes(session, first)] == ["failed", "sent"]
    assert [o for o, _ in outcomes(session, second)] == ["failed"]
    again = post(web, url, outbox_url)
    assert again.status_code == 409  # a sent message is not sent twice
    assert "only held or failed" in again.text


def test_an_unknown_kind_is_refused_in_words(session: Session, smtp: Recorder) -> None:
    web, outbox_url = _study_with_failed_invitations(session, smtp)
    response = post(web, f"{outbox_url}/retry-failed", outbox_url, kind="spam")
    assert response.status_code == 422
    assert "Kind of message: must be" in response.text
    reload(session)
    assert {m.status for m in messages(session)} == {"failed"}
