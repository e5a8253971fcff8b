"""A panelist's ballot: what they rate this round, the group's feedback, and saving answers.

Cut at its seams: reading.py builds the ballot a panelist sees, with the previous round's (and
each group's) feedback; saving.py checks a save, merges it with what was saved and refuses what
cannot be submitted, under the study's ratings lock; upserts.py writes the ratings and the ballot
row in one statement each, PostgreSQL's way (unnest) or SQLite's (a multi-row VALUES).
"""

from app.services.ballots.reading import (
    UNSET,
    Answer,
    BallotItem,
    BallotView,
    PanelStatus,
    get_ballot,
    status_for,
    view_for_round,
)
from app.services.ballots.saving import RatingInput, save_ballot

__all__ = [
    "UNSET",
    "Answer",
    "BallotItem",
    "BallotView",
    "PanelStatus",
    "RatingInput",
    "get_ballot",
    "save_ballot",
    "status_for",
    "view_for_round",
]
