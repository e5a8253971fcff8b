"""Knowing when to stop: stability between rounds, Kendall's W and attrition, from the ratings."""

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from app.consensus import agreement_bounds, compute_figures
from app.consensus import stability as method
from app.models import Panelist, Rating, ResultSnapshot, Round, RoundItem, RoundStatus, Study
from app.services import rules

# Attrition bias is flagged when those who left differ from those who stayed by at least this
# much on the previous round's ratings (and at least LEAVERS_MIN left): a difference a reader of
# the report would want explained, not a significance test.
MEDIAN_GAP = 1.0  # scale points
PCT_GAP = 20.0  # percentage points of agreement
LEAVERS_MIN = 2


def rule_of(study: Study) -> method.StabilityRule | None:
    return None if study.stability_rule is None else method.StabilityRule(**study.stability_rule)


def reporting_rule(study: Study) -> method.StabilityRule:
    """The study's rule, or the default thresholds used only to report (it then stops nothing)."""
    return rule_of(study) or method.StabilityRule(stop_carry_forward=False)


def rule_in_words(study: Study) -> str:
    """The stability rule for the console and the methods text; says when it only reports."""
    rule = rule_of(study)
    if rule is None:
        return (
            method.describe_stability_rule(reporting_rule(study))
            + " (The study did not pre-register a stability rule: these default thresholds are "
            "for reporting.)"
        )
    return method.describe_stability_rule(rule)


def previous_round(session: Session, *, round_: Round) -> Round | None:
    return session.scalar(
        select(Round).where(
            Round.study_id == round_.study_id,
            Round.number == round_.number - 1,
            Round.status == RoundStatus.closed,
        )
    )


def _responded(round_id: int) -> Any:
    """Panelists with at least one answer (a value or 'unable to rate') in a round."""
    return (
        select(Rating.panelist_id)
        .where(Rating.round_id == round_id, or_(Rating.value.is_not(None), Rating.abstain))
        .distinct()
    )


def changes(
    session: Session,
    *,
    study: Study,
    round_: Round,
    previous: Round,
    current_cv: dict[int, float | None],
) -> dict[int, dict[str, Any]]:
    """Per statement of this round also rated in the previous one: the paired change, stable?"""
    rule = reporting_rule(study)
    before = aliased(Rating)
    rows = session.execute(
        select(Rating.statement_id, Rating.value - before.value, func.count())
        .join(
            before,
            and_(
                before.round_id == previous.id,
                before.statement_id == Rating.statement_id,
                before.panelist_id == Rating.panelist_id,
            ),
        )
        .where(Rating.round_id == round_.id, Rating.value.is_not(None), before.value.is_not(None))
        .group_by(Rating.statement_id, Rating.value - before.value)
    ).all()
    differences: dict[int, dict[int, int]] = defaultdict(dict)
    for statement_id, difference, count in rows:
        differences[statement_id][int(difference or 0)] = count
    previous_cv = _snapshot_cv(session, round_=previous)
    out: dict[int, dict[str, Any]] = {}
    for statement_id, cv in current_cv.items():
        if statement_id not in previous_cv:
            continue  # new in this round: nothing to compare with
        change = method.paired_change(
            differences.get(statement_id, {}), zero_method=rule.zero_method
        )
        before_cv = previous_cv[statement_id]
        out[statement_id] = {
            **change.as_dict(),
            "stable": method.is_stable(change, rule),
            "previous_cv": before_cv,
            "cv": cv,
            "cv_change": None if cv is None or before_cv is None else round(cv - before_cv, 6),
        }
    return out


def _number(value: Any) -> float | None:
    """A JSON figure read back from a snapshot (a JSON null, a number, or a numeric string)."""
    return None if value is None else float(value)


def kendall(session: Session, *, round_: Round) -> dict[str, Any]:
    """Kendall's W over the statements every responding panelist rated, with and without ties.

    The database ranks each panelist's ratings (window functions) and returns one rank sum per
    statement, so a round of 2,000 panelists x 200 statements sends 200 rows, not 400,000.
    """
    raters = session.scalar(select(func.count()).select_from(_responded(round_.id).subquery()))
    rated = (
        select(Rating.statement_id)
        .where(Rating.round_id == round_.id, Rating.value.is_not(None))
        .group_by(Rating.statement_id)
        .having(func.count() == raters)
    )
    doubled = _doubled_rank_sums(session, round_id=round_.id, rated=rated)
    tie_sum = _tie_sum(session, round_id=round_.id, rated=rated)

    def w(correct: bool) -> dict[str, Any] | None:
        found = method.kendall_w_from_sums(
            doubled, raters=int(raters or 0), tie_sum=int(tie_sum or 0), tie_correction=correct
        )
        return found.as_dict() if found else None

    return {
        "raters": int(raters or 0),
        "items": len(doubled),
        "tie_corrected": w(True),
        "uncorrected": w(False),
    }


def _doubled_rank_sums(session: Session, *, round_id: int, rated: Select[Any]) -> list[int]:
    """Per statement (in id order), twice the sum of its ranks within each panelist's ratings."""
    cells = (
        select(
            Rating.statement_id,
            Rating.panelist_id,
            Rating.value,
            func.rank()
            .over(partition_by=Rating.panelist_id, order_by=Rating.value)
            .label("low_rank"),
            func.count().over(partition_by=(Rating.panelist_id, Rating.value)).label("tied"),
        )
        .where(
            Rating.round_id == round_id,
            Rating.value.is_not(None),
            Rating.statement_id.in_(rated),
        )
        .subquery()
    )
    # Average rank of a tie = low + (t - 1) / 2, so twice it is an integer: 2 low + t - 1.
    sums = session.execute(
        select(cells.c.statement_id, func.sum(2 * cells.c.low_rank + cells.c.tied - 1))
        .group_by(cells.c.statement_id)
        .order_by(cells.c.statement_id)
    ).all()
    return [int(total) for _, total in sums]


def _tie_sum(session: Session, *, round_id: int, rated: Select[Any]) -> int | None:
    """Sum of t³ - t over every panelist's groups of t tied ratings (the ties correction)."""
    ties = (
        select(func.count().label("t"))
        .where(
            Rating.round_id == round_id,
            Rating.value.is_not(None),
            Rating.statement_id.in_(rated),
        )
        .group_by(Rating.panelist_id, Rating.value)
        .subquery()
    )
    return session.scalar(
        select(func.coalesce(func.sum(ties.c.t * ties.c.t * ties.c.t - ties.c.t), 0))
    )


def attrition(
    session: Session, *, study: Study, round_: Round, previous: Round | None
) -> dict[str, Any]:
    """Who answered the previous round but not this one, by group, and whether they differed."""
    if previous is None:
        return {"previous_round": None, "left": 0, "joined": 0, "by_group": {}, "bias": []}
    now = set(session.scalars(_responded(round_.id)))
    before = set(session.scalars(_responded(previous.id)))
    left, joined = before - now, now - before
    groups = dict(
        session.execute(
            select(Panelist.id, Panelist.group).where(Panelist.id.in_(before | now))
        ).all()
    )
    by_group: dict[str, dict[str, int]] = defaultdict(lambda: {"before": 0, "left": 0, "now": 0})
    for panelist_id in before:
        by_group[groups.get(panelist_id) or "(no group)"]["before"] += 1
    for panelist_id in left:
        by_group[groups.get(panelist_id) or "(no group)"]["left"] += 1
    for panelist_id in now:
        by_group[groups.get(panelist_id) or "(no group)"]["now"] += 1
    return {
        "previous_round": previous.number,
        "responded_before": len(before),
        "responded_now": len(now),
        "left": len(left),
        "joined": len(joined),
        "by_group": dict(sorted(by_group.items())),
        "bias": _bias(session, study=study, round_=round_, previous=previous) if left else [],
    }


def _bias(
    session: Session, *, study: Study, round_: Round, previous: Round
) -> list[dict[str, Any]]:
    """Per statement still undecided (rated again in this round): leavers' and stayers' figures
    in the previous round, and the gap; one that reached consensus earlier is not rated now."""
    rule = rules.consensus_rule(study)
    agree_min, disagree_max = agreement_bounds(rule, study.scale_min, study.scale_max)
    histograms = _split_histograms(session, round_=round_, previous=previous)

    def figures(histogram: dict[int, int]) -> Any:
        return compute_figures(
            histogram,
            scale_min=study.scale_min,
            scale_max=study.scale_max,
            method=study.quantile_method,  # type: ignore[arg-type]
            agree_min=agree_min,
            disagree_max=disagree_max,
        )

    out = []
    for statement_id, sides in sorted(histograms.items()):
        leavers, stayers = figures(sides[True]), figures(sides[False])
        if leavers.n == 0 or stayers.n == 0:
            continue
        median_gap = _gap(leavers.median, stayers.median)
        pct_gap = _gap(leavers.pct_agree, stayers.pct_agree)
        out.append(
            {
                "statement_id": statement_id,
                "left_n": leavers.n,
                "stayed_n": stayers.n,
                "left_median": leavers.median,
                "stayed_median": stayers.median,
                "median_gap": median_gap,
                "left_pct_agree": leavers.pct_agree,
                "stayed_pct_agree": stayers.pct_agree,
                "pct_agree_gap": pct_gap,
                "flagged": leavers.n >= LEAVERS_MIN
                and (
                    (median_gap is not None and abs(median_gap) >= MEDIAN_GAP)
                    or (pct_gap is not None and abs(pct_gap) >= PCT_GAP)
                ),
            }
        )
    return out


def _split_histograms(
    session: Session, *, round_: Round, previous: Round
) -> dict[int, dict[bool, dict[int, int]]]:
    """The previous round's histograms of the statements rated again now, per statement, split
    into those who left (True) and those who stayed (False): one grouped query."""
    now = aliased(Rating)
    stayed = (
        select(now.id)
        .where(
            now.round_id == round_.id,
            now.panelist_id == Rating.panelist_id,
            or_(now.value.is_not(None), now.abstain),
        )
        .exists()
    )
    histograms: dict[int, dict[bool, dict[int, int]]] = defaultdict(lambda: {True: {}, False: {}})
    for statement_id, value, kept, count in session.execute(
        select(Rating.statement_id, Rating.value, stayed, func.count())
        .where(
            Rating.round_id == previous.id,
            Rating.value.is_not(None),
            Rating.statement_id.in_(
                select(RoundItem.statement_id).where(RoundItem.round_id == round_.id)
            ),
        )
        .group_by(Rating.statement_id, Rating.value, stayed)
    ).all():
        histograms[statement_id][not kept][int(value or 0)] = count
    return histograms


def _gap(left: float | None, stayed: float | None) -> float | None:
    return None if left is None or stayed is None else round(left - stayed, 6)


def round_statistics(
    session: Session, *, study: Study, round_: Round, current_cv: dict[int, float | None]
) -> dict[str, Any]:
    """What a round's results add to its snapshots; frozen on the round when it closes."""
    previous = previous_round(session, round_=round_)
    stable = (
        changes(session, study=study, round_=round_, previous=previous, current_cv=current_cv)
        if previous
        else {}
    )
    return {
        "previous_round": previous.number if previous else None,
        "kendall_w": kendall(session, round_=round_),
        "attrition": attrition(session, study=study, round_=round_, previous=previous),
        "statements": {str(statement_id): change for statement_id, change in stable.items()},
    }


def _snapshot_cv(session: Session, *, round_: Round) -> dict[int, float | None]:
    return {
        statement_id: _number(cv)
        for statement_id, cv in session.execute(
            select(ResultSnapshot.statement_id, ResultSnapshot.figures["cv"]).where(
                ResultSnapshot.round_id == round_.id
            )
        ).all()
    }


def statistics_of(
    session: Session,
    *,
    study: Study,
    round_: Round,
    current_cv: dict[int, float | None] | None = None,
) -> dict[str, Any]:
    """A round's stability and attrition: frozen once closed, else counted now from the ratings."""
    if round_.statistics is not None:
        return round_.statistics
    if current_cv is None:
        current_cv = _snapshot_cv(session, round_=round_)
    return round_statistics(session, study=study, round_=round_, current_cv=current_cv)


def freeze(session: Session, *, round_id: int) -> bool:
    """Keep a closed round's statistics with it (once; a closed round's ratings never change)."""
    round_ = session.get(Round, round_id)
    if round_ is None or round_.status != RoundStatus.closed or round_.statistics is not None:
        return False
    study = session.get_one(Study, round_.study_id)
    statistics = statistics_of(session, study=study, round_=round_)
    won = session.execute(
        update(Round)
        .where(Round.id == round_id, Round.statistics.is_(None))
        .values(statistics=statistics)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return bool(won)
