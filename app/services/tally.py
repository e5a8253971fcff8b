"""Counting a round: one GROUP BY builds every histogram; the consensus package does the rest."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from app.consensus import StatementOutcome, agreement_bounds, evaluate, strength
from app.models import Panelist, Rating, Round, RoundItem, Study
from app.services import rules


@dataclass(frozen=True, slots=True)
class StatementTally:
    statement_id: int
    version_id: int
    outcome: StatementOutcome
    strength_votes: dict[str, int] | None = None  # only in rounds that ask for strength

    def figures(self) -> dict[str, Any]:
        """What a snapshot stores and the results API shows for this statement."""
        figures = self.outcome.as_dict()
        if self.strength_votes is not None:
            figures["strength_votes"] = strength.votes(self.strength_votes)
            figures["panel_strength"] = strength.panel_choice(self.strength_votes)
        return figures


@dataclass(frozen=True, slots=True)
class Tally:
    rule: dict[str, Any]
    invited: int
    responded: int
    statements: list[StatementTally]


def rule_as_applied(study: Study) -> dict[str, Any]:
    """The frozen rule with everything needed to reproduce a classification from a histogram."""
    rule = rules.consensus_rule(study)
    agree_min, disagree_max = agreement_bounds(rule, study.scale_min, study.scale_max)
    return {
        **study.rule,
        "quantile_method": study.quantile_method,
        "scale": {"min": study.scale_min, "max": study.scale_max},
        "agree_min_applied": agree_min,
        "disagree_max_applied": disagree_max,
    }


def counted_at(round_: Round, now: datetime) -> datetime:
    """When a round's panel is counted: at its close (its deadline if it closed late), else now."""
    at = round_.closed_at if round_.closed_at is not None else now
    return min(at, round_.closes_at) if round_.closes_at is not None else at


def _in_panel(study_id: int, at: datetime) -> Any:
    return (
        (Panelist.study_id == study_id)
        & (Panelist.created_at <= at)
        & (or_(Panelist.withdrawn_at.is_(None), Panelist.withdrawn_at > at))
    )


def invited_count(session: Session, *, study_id: int, at: datetime) -> int:
    return session.scalar(select(func.count()).where(_in_panel(study_id, at))) or 0


def responded_count(session: Session, *, study_id: int, round_id: int) -> int:
    """Panelists with at least one rating or abstention (EXISTS: no sort of every rating)."""
    rated = (
        exists()
        .where(Rating.panelist_id == Panelist.id, Rating.round_id == round_id)
        .where(or_(Rating.value.is_not(None), Rating.abstain))
    )
    query = select(func.count()).select_from(Panelist).where(Panelist.study_id == study_id, rated)
    return session.scalar(query) or 0


def compute(session: Session, *, study: Study, round_: Round, at: datetime) -> Tally:
    """Figures and classification of every statement of the round, in a fixed number of queries."""
    items = session.execute(
        select(RoundItem.statement_id, RoundItem.version_id)
        .where(RoundItem.round_id == round_.id)
        .order_by(RoundItem.position)
    ).all()
    groups = sorted(
        g
        for g in session.scalars(
            select(Panelist.group)
            .where(_in_panel(study.id, at), Panelist.group.is_not(None))
            .distinct()
        )
        if g is not None
    )
    counts = _counts(session, round_id=round_.id)
    overall, abstained = counts.overall, counts.abstained
    by_group, group_abstained = counts.by_group, counts.group_abstained
    rule = rules.consensus_rule(study)
    votes = _strength_votes(session, round_=round_) if round_.asks_strength else None
    statements = []
    for statement_id, version_id in items:
        outcome = evaluate(
            rule,
            histogram=overall[statement_id],
            abstained=abstained[statement_id],
            group_histograms={
                g: (by_group[statement_id][g], group_abstained[statement_id][g]) for g in groups
            },
            scale_min=study.scale_min,
            scale_max=study.scale_max,
            method=study.quantile_method,  # type: ignore[arg-type]
        )
        assert version_id is not None, "an opened round has frozen every version"
        statements.append(
            StatementTally(
                statement_id,
                version_id,
                outcome,
                None if votes is None else votes.get(statement_id, {}),
            )
        )
    return Tally(
        rule=rule_as_applied(study),
        invited=invited_count(session, study_id=study.id, at=at),
        responded=responded_count(session, study_id=study.id, round_id=round_.id),
        statements=statements,
    )


@dataclass(slots=True)
class _Counts:
    """A round's ratings per statement: the panel's histogram and abstentions, and each group's."""

    overall: dict[int, dict[int, int]]
    abstained: dict[int, int]
    by_group: dict[int, dict[str, dict[int, int]]]
    group_abstained: dict[int, dict[str, int]]


def _counts(session: Session, *, round_id: int) -> _Counts:
    """The one aggregate of docs/method.md §1, read into histograms.

    A NULL value here is an abstention: the WHERE keeps only rated or abstained rows, and a CHECK
    forbids a value with an abstention.
    """
    counts = _Counts(
        overall=defaultdict(dict),
        abstained=defaultdict(int),
        by_group=defaultdict(lambda: defaultdict(dict)),
        group_abstained=defaultdict(lambda: defaultdict(int)),
    )
    rows = session.execute(
        select(Rating.statement_id, Panelist.group, Rating.value, func.count())
        .join(Panelist, Panelist.id == Rating.panelist_id)
        .where(Rating.round_id == round_id, or_(Rating.value.is_not(None), Rating.abstain))
        .group_by(Rating.statement_id, Panelist.group, Rating.value)
    ).all()
    for statement_id, group, value, count in rows:
        if value is None:
            counts.abstained[statement_id] += count
            if group is not None:
                counts.group_abstained[statement_id][group] += count
            continue
        overall = counts.overall[statement_id]
        overall[value] = overall.get(value, 0) + count
        if group is not None:
            counts.by_group[statement_id][group][value] = count
    return counts


def _strength_votes(session: Session, *, round_: Round) -> dict[int, dict[str, int]]:
    """The strength vote per statement: one more GROUP BY, only in rounds that ask for it."""
    votes: dict[int, dict[str, int]] = defaultdict(dict)
    rows = session.execute(
        select(Rating.statement_id, Rating.strength, func.count())
        .where(
            Rating.round_id == round_.id,
            Rating.strength.is_not(None),
            Rating.value.is_not(None),  # a strength counts only beside a rating
        )
        .group_by(Rating.statement_id, Rating.strength)
    ).all()
    for statement_id, choice, count in rows:
        votes[statement_id][str(choice)] = count
    return votes
