"""The personal links a coordinator was just shown, as rows for a mail merge.

Links exist in the clear only on the page that issues them (an import, a re-issue): the server
keeps keyed hashes alone (DESIGN 2.6), so a sheet of links can only be made from what that page
holds. The page posts its links back; each is checked against the stored hashes and must be a
live link of a current panelist of the study, and the code, name, e-mail and language come from
the database, not from the form. Nothing of a link is stored or written to the audit log: the
entry names the panelists' codes and how many links were handed out.
"""

from __future__ import annotations

import re

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from app.models import Panelist, PanelistLink, Study, User
from app.security import PANELIST_PREFIX, token_hash
from app.services import audit
from app.services.errors import Invalid
from app.services.panel import Invitation

MAX_LINKS = 5_000  # one import's worth of panelists (app.services.imports.MAX_ROWS)
# A personal link, or the token alone (what the page posts back, so it holds each link once).
TOKEN = re.compile(rf"(?:^|/p/)({PANELIST_PREFIX}[A-Za-z0-9_\-]{{16,64}})$")


def links_sheet(
    session: Session, *, actor: User, study: Study, links: list[str]
) -> list[Invitation]:
    """The panelists behind `links` (personal links of this study), in the order posted."""
    if not links:
        raise Invalid("No personal links were sent; download them from the page that shows them.")
    if len(links) > MAX_LINKS:
        raise Invalid(f"At most {MAX_LINKS:,} links can be downloaded at once.")
    tokens = []
    for link in links:
        found = TOKEN.search(link.strip())
        if found is None:
            raise Invalid(
                "One of the links is not a personal link; download them again from the page "
                "that shows them."
            )
        tokens.append(found.group(1))
    owners = _owners(session, study=study, hashes={token_hash(t) for t in tokens})
    invitations = []
    for token in tokens:
        panelist = owners.get(token_hash(token))
        if panelist is None:
            raise Invalid(
                "One of the links is no longer valid (re-issued since, or the panelist withdrew); "
                "the sheet would send it to no one. Issue the links again."
            )
        invitations.append(Invitation(panelist=panelist, token=token))
    audit.record(
        session,
        actor=actor,
        action="panel.links_downloaded",
        study_id=study.id,
        count=len(invitations),
        codes=[i.panelist.code for i in invitations],
    )
    return invitations


def _owners(session: Session, *, study: Study, hashes: set[str]) -> dict[str, Panelist]:
    """Each hash's current panelist of the study (first link, or a later one not revoked)."""
    found = union_all(
        select(Panelist.token_hash.label("hashed"), Panelist.id.label("panelist_id")).where(
            Panelist.token_hash.in_(hashes)
        ),
        select(PanelistLink.token_hash, PanelistLink.panelist_id).where(
            PanelistLink.token_hash.in_(hashes), PanelistLink.revoked_at.is_(None)
        ),
    ).subquery()
    rows = session.execute(
        select(found.c.hashed, Panelist)
        .join(Panelist, Panelist.id == found.c.panelist_id)
        .where(Panelist.study_id == study.id, Panelist.withdrawn_at.is_(None))
    ).all()
    return {hashed: panelist for hashed, panelist in rows}
