"""Personal links: one per e-mail may be live at once; re-issuing revokes them all."""

import pytest
from sqlalchemy.orm import Session

from app.services import panel
from app.services.errors import Unauthorized
from tests.services.builders import build_study


def test_every_issued_link_opens_the_same_panelist_until_reissued(session: Session) -> None:
    b = build_study(session, statements=1, panelists=2)
    member = b.panelists[0]
    first = panel.issue_link(session, panelist=member)
    second = panel.issue_link(session, panelist=member)
    for token in (first, second):
        assert panel.panelist_for_token(session, token=token).id == member.id
    fresh = panel.reissue_link(session, actor=b.user, study=b.study, panelist=member)
    for token in (first, second):
        with pytest.raises(Unauthorized):
            panel.panelist_for_token(session, token=token)
    assert panel.panelist_for_token(session, token=fresh.token).id == member.id
    assert (
        panel.panelist_for_token(
            session, token=panel.issue_link(session, panelist=b.panelists[1])
        ).id
        == b.panelists[1].id
    )
