"""A round's results: the frozen snapshots of a closed round, or provisional figures while open."""

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.consensus.results import (
    Attrition,
    AttritionBias,
    GroupAttrition,
    RoundHeader,
    RoundResults,
    Stability,
    StatementChange,
    StatementResult,
    stored,
)
from app.consensus.stability import KendallW
from app.models import (
    Rating,
    ResultSnapshot,
    Round,
    RoundItem,
    RoundStatus,
    Statement,
    StatementVersion,
    Study,
    utcnow,
)
from app.services import stability, tally
from app.services.errors import Conflict


def round_results(
    session: Session, *, study: Study, round_: Round, tie_correction: bool = True
) -> RoundResults:
    """Figures per statement, plus stability and attrition (frozen at close, live while open)."""
    if round_.status == RoundStatus.draft:
        raise Conflict(f"Round {round_.number} has not opened yet, so it has no results.")
    keys = dict(  # every statement of the study: attrition looks back at the previous round's
        session.execute(
            select(Statement.id, Statement.key).where(Statement.study_id == study.id)
        ).all()
    )
    if round_.status == RoundStatus.closed:
        statements = _frozen(session, round_id=round_.id, keys=keys)
        invited, responded = round_.invited or 0, round_.responded or 0
        rule = round_.rule_snapshot or {}
        provisional = False
    else:
        live = tally.compute(session, study=study, round_=round_, at=utcnow())
        statements = tuple(
            StatementResult.from_snapshot(
                s.figures(),
                statement_id=s.statement_id,
                version_id=s.version_id,
                key=keys.get(s.statement_id),
            )
            for s in live.statements
        )
        invited, responded, rule, provisional = live.invited, live.responded, live.rule, True
    statistics = stability.statistics_of(  # frozen after close; counted live while open
        session,
        study=study,
        round_=round_,
        current_cv={s.statement_id: s.cv for s in statements},
    )
    return RoundResults(
        round=RoundHeader(id=round_.id, number=round_.number, status=round_.status.value),
        provisional=provisional,
        invited=invited,
        responded=responded,
        response_rate=round(responded / invited, 4) if invited else 0.0,
        rule=rule,
        statements=statements,
        stability=_stability(study, statistics, keys, tie_correction=tie_correction),
        attrition=_attrition(
            statistics["attrition"], keys, rated={s.statement_id for s in statements}
        ),
    )


def _frozen(
    session: Session, *, round_id: int, keys: dict[int, str]
) -> tuple[StatementResult, ...]:
    """A closed round's snapshots, in ballot order."""
    snapshots = session.execute(
        select(ResultSnapshot)
        .join(
            RoundItem,
            (RoundItem.round_id == ResultSnapshot.round_id)
            & (RoundItem.statement_id == ResultSnapshot.statement_id),
        )
        .where(ResultSnapshot.round_id == round_id)
        .order_by(RoundItem.position)
    ).scalars()
    return tuple(
        StatementResult.from_snapshot(
            s.figures,
            statement_id=s.statement_id,
            version_id=s.version_id,
            key=keys.get(s.statement_id),
        )
        for s in snapshots
    )


def _stability(
    study: Study, statistics: dict[str, Any], keys: dict[int, str], *, tie_correction: bool
) -> Stability:
    """Stability as `stability.round_statistics` counts (or froze) it, read into its type."""
    rule = stability.rule_of(study)
    kendall = statistics["kendall_w"]
    chosen = kendall["tie_corrected" if tie_correction else "uncorrected"]
    return Stability(
        previous_round=statistics["previous_round"],
        rule=rule.model_dump(mode="json") if rule else None,
        rule_in_words=stability.rule_in_words(study),
        kendall_w=None if chosen is None else KendallW(**stored(KendallW, chosen)),
        kendall_raters=kendall["raters"],
        kendall_items=kendall["items"],
        statements=tuple(
            StatementChange(
                statement_id=int(statement_id),
                key=keys.get(int(statement_id)),
                **stored(StatementChange, change),
            )
            for statement_id, change in statistics["statements"].items()
        ),
    )


def _attrition(attrition: dict[str, Any], keys: dict[int, str], *, rated: set[int]) -> Attrition:
    """Attrition as `stability.attrition` counts (or froze) it, read into its type.

    The bias check lists only statements `rated` in this round, the ones still undecided (rounds
    frozen before this rule may hold rows for statements decided earlier).
    """
    return Attrition(
        previous_round=attrition["previous_round"],
        responded_before=attrition.get("responded_before", 0),
        responded_now=attrition.get("responded_now", 0),
        left=attrition["left"],
        joined=attrition["joined"],
        by_group={
            name: GroupAttrition(**stored(GroupAttrition, group))
            for name, group in attrition["by_group"].items()
        },
        bias=tuple(
            AttritionBias(**stored(AttritionBias, row), key=keys.get(row["statement_id"]))
            for row in attrition["bias"]
            if row["statement_id"] in rated
        ),
    )


def statement_history(session: Session, *, statement_id: int) -> list[tuple[int, ResultSnapshot]]:
    """A statement's frozen results round after round (round number, snapshot), in order."""
    from app.models import Round

    rows = session.execute(
        select(Round.number, ResultSnapshot)
        .join(ResultSnapshot, ResultSnapshot.round_id == Round.id)
        .where(ResultSnapshot.statement_id == statement_id)
        .order_by(Round.number)
    ).all()
    return [(number, snapshot) for number, snapshot in rows]


def comments(session: Session, *, round_id: int) -> dict[int, list[str]]:
    """A round's comments per statement, without authors, sorted by text (not saving order,
    which could hint at who wrote what)."""
    out: dict[int, list[str]] = defaultdict(list)
    for statement_id, comment in session.execute(
        select(Rating.statement_id, Rating.comment).where(
            Rating.round_id == round_id, Rating.comment.is_not(None), Rating.comment != ""
        )
    ).all():
        out[statement_id].append(str(comment))
    for listed in out.values():
        listed.sort(key=str.casefold)
    return dict(out)


def statement_texts(session: Session, *, results: RoundResults) -> dict[int, str]:
    """The wording each result was rated on, by statement version id."""
    ids = [s.version_id for s in results.statements]
    rows = session.execute(
        select(StatementVersion.id, StatementVersion.text).where(StatementVersion.id.in_(ids))
    ).all()
    return {version_id: text for version_id, text in rows}
